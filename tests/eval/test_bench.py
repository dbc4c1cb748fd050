"""``policyqa bench`` on a real seed-only index."""

from __future__ import annotations

import json

import pytest

from policyqa.cli import main
from policyqa.eval.bench import BenchConfig, bench_table, run_bench
from policyqa.eval.queries import SEED_QUESTIONS


def test_bench_existing_index_without_http(seed_index, tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(SEED_QUESTIONS.read_text(encoding="utf-8").splitlines()[:3]), encoding="utf-8"
    )
    result = run_bench(
        BenchConfig(paths=(), index_dir=seed_index, queries=queries, modes=("bm25",), http=False)
    )
    assert result["index"]["clauses"] == 19
    assert 0 < result["index"]["size_mib"] < 50
    assert result["cold_load"]["load_s"] > 0
    assert result["cold_load"]["peak_rss_mib"] > 100  # a fresh process holding the model
    assert set(result["cold_load"]["first_query_ms"]) == {"bm25", "dense", "hybrid"}
    latency = result["query"]["bm25"]
    assert latency["queries"] == 3
    assert 0 < latency["latency_ms_p50"] <= latency["latency_ms_p95"] <= latency["latency_ms_p99"]
    assert "build" not in result and "http" not in result
    ranker = result["learned_ranker"]  # the default stage, with the shipped ranker of the default model
    assert ranker["queries"] == 3 and ranker["trees"] > 0
    assert 0 < ranker["added_ms_p50"] <= ranker["added_ms_p95"]
    table = bench_table(result)
    assert "| bm25 | 3 |" in table
    assert "cold load" in table and "Learned ranker (" in table


def test_building_requires_an_explicit_index_dir(seed_document, capsys):
    assert main(["bench", str(seed_document), "--no-http"]) == 1
    assert "explicit --index-dir" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_command_builds_and_drives_a_real_server(seed_document, policyqa_home, tmp_path, capsys):
    """Builds a seed index with an empty embedding cache, then loads /search and /ask of `policyqa serve`."""
    code = main(
        [
            "bench",
            str(seed_document),
            "--index-dir",
            str(tmp_path / "index"),
            "--fresh-cache",
            "--duration",
            "2",
            "--concurrency",
            "4",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["build"]["clauses"] == 19
    assert result["build"]["fresh_cache"] is True
    assert result["build"]["clauses_per_s"] > 0
    for endpoint in ("/search", "/ask"):
        assert result["http"][endpoint]["requests"] > 0
        assert result["http"][endpoint]["errors"] == 0


def test_bench_times_the_milvus_store_next_to_the_folder(seed_index, tmp_path, capsys):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "\n".join(SEED_QUESTIONS.read_text(encoding="utf-8").splitlines()[:3]), encoding="utf-8"
    )
    database = tmp_path / "bench.db"
    arguments = ["bench", "--index-dir", str(seed_index), "--queries", str(queries), "--no-http"]
    milvus = ["--store", "milvus", "--milvus-uri", str(database), "--mode", "hybrid"]
    assert main([*arguments, *milvus, "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    result = full["milvus"]
    assert result["passages"] == 19 and result["passages_per_s"] > 0 and result["load_s"] > 0
    assert result["uri"] == str(database) and result["collection"] == "policyqa"
    latency = result["query"]["hybrid"]
    assert latency["queries"] == 3 and 0 < latency["latency_ms_p50"] <= latency["latency_ms_p95"]
    table = bench_table(full)
    assert "| hybrid | " in table and "passages copied from the folder" in table
