"""``policyqa bench --peer txtai``: txtai indexes the bench's documents with the same passages, model and
prompts, and its figures are printed beside policyqa's."""

from __future__ import annotations

import json

import numpy as np
from txtai import Embeddings

from policyqa.cli import main
from policyqa.eval.bench import bench_table
from policyqa.eval.peer import COMPARED, _export_child, txtai_config
from policyqa.eval.queries import SEED_QUESTIONS


def test_bench_peer_txtai_on_the_demo_corpus(seed_document, policyqa_home, tmp_path, capsys):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(SEED_QUESTIONS.read_text(encoding="utf-8").splitlines()[:3]), encoding="utf-8"
    )
    command = ["bench", str(seed_document), "--index-dir", str(tmp_path / "index"), "--queries", str(queries)]
    code = main([*command, "--mode", "hybrid", "--no-http", "--peer", "txtai", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["build"]["fresh_cache"] is True  # --peer implies --fresh-cache: txtai has no cache
    peer = result["peer"]
    assert peer["name"] == "txtai" and peer["version"].startswith("9.")
    assert peer["faiss"] == "IDMap,Flat"  # policyqa's default exact index
    assert set(peer["modes"]) == {"hybrid"}
    hybrid = peer["modes"]["hybrid"]
    assert hybrid["build"]["passages"] == result["build"]["passages"] == 19
    assert hybrid["build"]["build_s"] > hybrid["build"]["index_s"] > 0
    assert hybrid["build"]["passages_per_s"] > 0
    assert hybrid["build"]["peak_rss_mib"] > 100  # a fresh process holding the model
    assert hybrid["load"]["load_s"] > 0 and hybrid["load"]["peak_rss_mib"] > 100
    assert hybrid["query"]["queries"] == hybrid["query"]["questions_with_hits"] == 3
    assert 0 < hybrid["query"]["latency_ms_p50"] <= hybrid["query"]["latency_ms_p95"]
    assert set(hybrid["compared"]) == {key for key, *_ in COMPARED}
    for row in hybrid["compared"].values():
        assert row["policyqa"] > 0 and row["txtai"] > 0
        assert row["ratio"] == row["txtai"] / row["policyqa"]
    assert hybrid["compared"]["latency_ms_p50"]["policyqa"] == result["query"]["hybrid"]["latency_ms_p50"]
    table = bench_table(result)
    assert "Peer: txtai 9." in table
    assert "| build s | hybrid |" in table and "| query p95 ms | hybrid |" in table


def test_txtai_embeds_with_policyqa_model_and_prompts(policyqa_home, embedder, tmp_path):
    """The exported model, with the prompts as txtai instructions, gives policyqa's query and passage
    vectors."""
    model = _export_child(tmp_path / "model")
    assert model["model_id"] == embedder.model_id
    assert (model["query_prompt"], model["passage_prompt"]) == (
        embedder.query_prompt,
        embedder.passage_prompt,
    )
    texts = ["《苏州高新区促进科技创新若干政策》\n（十二）发展创新型孵化器。", "创业孵化机构能拿到哪些扶持？"]
    embeddings = Embeddings(txtai_config("dense", model, "flat"))
    queries = embeddings.batchtransform([(None, text, None) for text in texts], category="query")
    passages = embeddings.batchtransform([(None, text, None) for text in texts], category="data")
    ours = embedder.embed_queries(texts)
    assert np.all(np.sum(queries * ours, axis=1) > 0.9999)
    ours = np.stack([embedder.embed_passages([text])[0] for text in texts])
    assert np.all(np.sum(passages * ours, axis=1) > 0.9999)
    assert np.all(np.sum(queries * passages, axis=1) < 0.99)  # the prompts differ, and both are applied


def test_peer_needs_paths(policyqa_home, tmp_path, capsys):
    assert main(["bench", "--index-dir", str(tmp_path), "--no-http", "--peer", "txtai"]) == 1
    assert "--peer txtai needs PATHS" in capsys.readouterr().err
