"""Inference backends: the ONNX exports agree with torch within their bounds, are made once and remade when
damaged, run without torch once made, the setting switches them, an index records its backend, and queries
are cached."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from policyqa.indexer import PolicyIndex, build_index, onnx_encoder, onnx_serving, openvino_session
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.embedding_cache import EmbeddingCache
from policyqa.indexer.encoders import TorchEncoder, count_model_tokens
from policyqa.indexer.errors import ConfigurationError, IndexMismatchError, ModelLoadError
from policyqa.indexer.learned_ranker import RANKER_DIR, load_ranker
from policyqa.indexer.onnx_encoder import CHECK_TEXTS, OnnxEncoder
from policyqa.indexer.onnx_serving import (
    FP32_FILE,
    INT8_FILE,
    MARKER_NAME,
    MIN_COSINE,
    SERVING_KEY,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    ServingEncoder,
    export_folder,
    load_serving_encoder,
)
from policyqa.indexer.relevance import load_relevance_model, model_file
from policyqa.indexer.settings import IndexSettings, load_settings

# Sentences the export was not checked on: a question, a clause, traditional characters, a 文号.
OTHER_TEXTS = [
    "query: 小微企业贷款贴息的申请条件是什么",
    "passage: 第十二条　对新认定的省级以上众创空间，给予一次性奖励五十万元。",
    "query: 個人所得稅專項附加扣除包括哪些項目？",
    "passage: 根据《国务院关于印发“十四五”数字经济发展规划的通知》（国发〔2021〕29号）精神，制定本方案。",
]


@pytest.fixture(scope="module")
def onnx_embedder(index_settings: IndexSettings, embedder: Embedder) -> Embedder:
    """The default model on ONNX Runtime, fp32 (exported into the session home on first use; run without
    torch once exported)."""
    return Embedder.from_settings(index_settings.model_copy(update={"backend": "onnx"}), progress=False)


@pytest.fixture(scope="module")
def int8_embedder(index_settings: IndexSettings, onnx_embedder: Embedder) -> Embedder:
    """The default model on ONNX Runtime with int8 weights (the same export)."""
    return Embedder.from_settings(index_settings.model_copy(update={"backend": "onnx-int8"}), progress=False)


@pytest.fixture(scope="module")
def openvino_embedder(index_settings: IndexSettings, onnx_embedder: Embedder) -> Embedder:
    """The default model's fp32 export compiled by OpenVINO (bf16 where this CPU computes it)."""
    return Embedder.from_settings(index_settings.model_copy(update={"backend": "openvino"}), progress=False)


def _cosines_to_torch(
    fast: Embedder, torch_embedder: Embedder, texts: list[str], prompt: str = ""
) -> np.ndarray:
    found = fast.encoder.encode(texts, prompt)
    expected = TorchEncoder(torch_embedder.model).encode(texts, prompt)
    return np.sum(found * expected, axis=1)


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8", "openvino"])
def test_each_backend_agrees_with_torch_within_its_bound(
    backend: str,
    embedder: Embedder,
    onnx_embedder: Embedder,
    int8_embedder: Embedder,
    openvino_embedder: Embedder,
) -> None:
    fast = {"onnx": onnx_embedder, "onnx-int8": int8_embedder, "openvino": openvino_embedder}[backend]
    cosines = _cosines_to_torch(fast, embedder, [*CHECK_TEXTS, *OTHER_TEXTS])
    assert cosines.min() >= MIN_COSINE[backend], cosines
    assert fast.encoder.backend == backend


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8", "openvino"])
def test_an_export_runs_without_torch_as_sentence_transformers_runs_it(
    backend: str, index_settings: IndexSettings, embedder: Embedder, openvino_embedder: Embedder
) -> None:
    """Tokens, prompts, pooling and vectors of the torch-free encoder are those of the model it was made
    from, on texts the export was not checked on (long ones truncated at the model's limit)."""
    encoder = load_serving_encoder(index_settings.model_cache_dir, embedder.model_id, backend)
    assert isinstance(encoder, ServingEncoder)
    long_text = "第一百二十三条　违反本法规定的，责令改正。" * 120  # ~1,800 tokens: three times the limit
    texts = [*OTHER_TEXTS, long_text]
    expected = TorchEncoder(embedder.model).encode(texts, embedder.query_prompt)
    cosines = np.sum(encoder.encode(texts, embedder.query_prompt) * expected, axis=1)
    assert cosines.min() >= MIN_COSINE[backend], cosines
    assert encoder.count_tokens(texts) == count_model_tokens(embedder.model, texts)
    features = embedder.model.preprocess(texts, prompt=embedder.query_prompt)
    wanted = [
        ids[mask.bool()].tolist()
        for ids, mask in zip(features["input_ids"], features["attention_mask"], strict=True)
    ]
    assert encoder.token_ids(texts, embedder.query_prompt) == wanted
    assert (encoder.dimension, encoder.max_tokens) == (embedder.dimension, embedder.max_tokens)


def _linked_export(
    index_settings: IndexSettings, model_id: str, home: Path, *, leave_out: str
) -> tuple[Path, Path]:
    """The session's export of ``model_id`` linked file by file into ``home``'s model cache, but the file
    ``leave_out`` (for the test to write its own); the source and copy folders."""
    source = export_folder(index_settings.model_cache_dir, model_id)
    copy = export_folder(home, model_id)
    copy.mkdir(parents=True)
    for path in source.iterdir():
        if path.name != leave_out:
            (copy / path.name).symlink_to(path)
    return source, copy


def _run_fresh_python(script: str, home: Path, *, backend: str) -> str:
    """The standard output of ``script`` run by a fresh interpreter (nothing imported yet) with
    POLICYQA_HOME=``home`` and POLICYQA_BACKEND=``backend``; fails the test when it fails."""
    env = {"POLICYQA_HOME": str(home), "POLICYQA_BACKEND": backend, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_a_server_loading_an_exported_model_imports_no_torch(
    backend: str, index_settings: IndexSettings, embedder: Embedder, openvino_embedder: Embedder
) -> None:
    """What a fresh process on the onnx backend loads: the export alone (the cold start's ~10 s of torch,
    transformers and sentence-transformers imports and model building are gone), with the same identity
    and prompts as the model."""
    script = (
        "import json, sys\n"
        "from policyqa.indexer.embedder import Embedder\n"
        "from policyqa.indexer.settings import load_settings\n"
        "e = Embedder.from_settings(load_settings(), progress=False)\n"
        "v = e.embed_query('小微企业贷款贴息的申请条件是什么')\n"
        "print(json.dumps({'encoder': type(e.encoder).__name__, 'model_id': e.model_id,\n"
        "    'prompts': [e.query_prompt, e.passage_prompt], 'vector': v.tolist(),\n"
        "    'imported': [m for m in ('torch', 'sentence_transformers', 'transformers')\n"
        "                 if m in sys.modules]}))\n"
    )
    loaded = json.loads(_run_fresh_python(script, index_settings.home, backend=backend))
    assert (loaded["encoder"], loaded["imported"]) == ("ServingEncoder", [])
    assert loaded["model_id"] == embedder.model_id
    assert loaded["prompts"] == [embedder.query_prompt, embedder.passage_prompt]
    expected = embedder.embed_query("小微企业贷款贴息的申请条件是什么")
    assert float(np.asarray(loaded["vector"]) @ expected) >= MIN_COSINE[backend]


def test_threads_set_before_torch_is_imported_reach_torch(
    index_settings: IndexSettings, embedder: Embedder
) -> None:
    """The server sets one thread per inference before it loads anything; a torch model loaded afterwards
    must run on it too (two-thread inferences of concurrent requests spin against each other)."""
    script = (
        "import sys\n"
        "from policyqa.indexer.embedder import Embedder\n"
        "from policyqa.indexer.encoders import set_inference_threads\n"
        "from policyqa.indexer.settings import load_settings\n"
        "set_inference_threads(1)\n"
        "assert 'torch' not in sys.modules\n"
        "Embedder.from_settings(load_settings(), progress=False)\n"
        "import torch\n"
        "print(torch.get_num_threads())\n"
    )
    assert _run_fresh_python(script, index_settings.home, backend="torch").split() == ["1"]


def test_an_export_without_a_serving_spec_is_not_run_without_torch(
    tmp_path: Path, index_settings: IndexSettings, embedder: Embedder, onnx_embedder: Embedder
) -> None:
    """An export of a model whose pipeline the torch-free encoder does not run (no ``serving`` entry): the
    embedder then loads the model through sentence-transformers, as for any model before its export."""
    source, copy = _linked_export(index_settings, embedder.model_id, tmp_path, leave_out=MARKER_NAME)
    marker = json.loads((source / MARKER_NAME).read_text(encoding="utf-8"))
    (copy / MARKER_NAME).write_text(json.dumps({**marker, SERVING_KEY: None}), encoding="utf-8")
    assert load_serving_encoder(tmp_path, embedder.model_id, "onnx") is None
    assert isinstance(
        load_serving_encoder(index_settings.model_cache_dir, embedder.model_id, "onnx"), ServingEncoder
    )


def test_a_damaged_tokenizer_is_a_model_load_error_and_is_removed(
    tmp_path: Path, index_settings: IndexSettings, embedder: Embedder, onnx_embedder: Embedder
) -> None:
    """A tokenizer file of the recorded size that does not parse: one error line, and the file is removed
    so that the next start exports again."""
    source, copy = _linked_export(index_settings, embedder.model_id, tmp_path, leave_out=TOKENIZER_FILE)
    (copy / TOKENIZER_FILE).write_bytes(b"{" * (source / TOKENIZER_FILE).stat().st_size)
    with pytest.raises(ModelLoadError, match="unreadable tokenizer"):
        load_serving_encoder(tmp_path, embedder.model_id, "onnx")
    assert not (copy / TOKENIZER_FILE).exists()
    assert load_serving_encoder(tmp_path, embedder.model_id, "onnx") is None  # incomplete: export again


def test_query_and_passage_embeddings_keep_the_prompts(embedder: Embedder, onnx_embedder: Embedder) -> None:
    question = ["高新区企业申请研发费用加计扣除需要哪些材料？"]
    for prompt in (onnx_embedder.query_prompt, onnx_embedder.passage_prompt):
        assert _cosines_to_torch(onnx_embedder, embedder, question, prompt).min() >= MIN_COSINE["onnx"]
    as_query = onnx_embedder.encoder.encode(question, onnx_embedder.query_prompt)[0]
    as_passage = onnx_embedder.encoder.encode(question, onnx_embedder.passage_prompt)[0]
    assert float(as_query @ as_passage) < 0.999  # the prompts are applied


def test_int8_vectors_have_their_own_model_id(
    index_settings: IndexSettings, onnx_embedder: Embedder, int8_embedder: Embedder
) -> None:
    torch_embedder = Embedder.from_settings(index_settings.model_copy(update={"backend": "torch"}))
    assert onnx_embedder.model_id == torch_embedder.model_id  # interchangeable with torch's vectors
    assert int8_embedder.model_id == f"{torch_embedder.model_id}+int8"


def test_openvino_vectors_are_interchangeable_and_concurrent_inferences_do_not_mix(
    onnx_embedder: Embedder, openvino_embedder: Embedder
) -> None:
    """OpenVINO's vectors keep the model id (an index built on ONNX Runtime is searched on OpenVINO and the
    other way round), and inferences from several threads at once (a server's concurrent requests, each
    thread with its own infer request) return each caller its own texts' vectors."""
    assert openvino_embedder.model_id == onnx_embedder.model_id
    encoder = openvino_embedder.encoder
    texts = [[text] for text in OTHER_TEXTS] + [[OTHER_TEXTS[0], "第一百二十三条" * 40]]
    alone = [encoder.encode(batch, "") for batch in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda batch: encoder.encode(batch, ""), texts * 5))
    for found, expected in zip(together, alone * 5, strict=True):
        np.testing.assert_allclose(found, expected, atol=1e-6)


def test_openvino_embeds_in_a_process_forked_after_it_compiled(openvino_embedder: Embedder) -> None:
    """A server's workers are forked from the process that loaded the model; OpenVINO's thread pool does not
    survive a fork (an inherited compiled model hangs at its first inference), so the worker compiles its
    own. The forked child embeds from four threads and reports its vectors."""
    encoder = openvino_embedder.encoder
    expected = encoder.encode(OTHER_TEXTS, "")
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child() -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            vectors = list(pool.map(lambda text: encoder.encode([text], "")[0], OTHER_TEXTS))
        results.put(np.stack(vectors))

    process = context.Process(target=child)
    process.start()
    try:
        found = results.get(timeout=300)  # a hang fails here instead of stalling the suite
    finally:
        process.join(timeout=60)
        if process.is_alive():
            process.kill()
    np.testing.assert_allclose(found, expected, atol=1e-5)


def test_an_export_made_before_openvino_is_remade_for_it_and_still_serves_onnx(
    tmp_path: Path, index_settings: IndexSettings, embedder: Embedder, openvino_embedder: Embedder
) -> None:
    """A marker without OpenVINO's agreement (written by an earlier policyqa): ONNX Runtime still runs the
    export, while ``openvino`` finds no checked export, so the model is loaded and exported again."""
    source, copy = _linked_export(index_settings, embedder.model_id, tmp_path, leave_out=MARKER_NAME)
    marker = json.loads((source / MARKER_NAME).read_text(encoding="utf-8"))
    del marker["min_cosine_to_torch"]["openvino"]
    (copy / MARKER_NAME).write_text(json.dumps(marker), encoding="utf-8")
    assert isinstance(load_serving_encoder(tmp_path, embedder.model_id, "onnx"), ServingEncoder)
    assert load_serving_encoder(tmp_path, embedder.model_id, "openvino") is None


def test_a_model_openvino_cannot_run_still_serves_onnx_runtime_and_openvino_is_refused(
    tmp_path: Path,
    index_settings: IndexSettings,
    embedder: Embedder,
    onnx_embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A graph OpenVINO does not support (a user's model, say): the export is checked on every backend, so the
    failure must not fail it; ONNX Runtime keeps serving it and choosing openvino names the fix."""

    def cannot_compile(self: object, path: Path, threads: int) -> None:
        raise ModelLoadError(f"OpenVINO cannot run {path} (an unsupported operator)")

    monkeypatch.setattr(openvino_session.OpenVinoSession, "__init__", cannot_compile)
    model = embedder.model
    _, work = _linked_export(index_settings, embedder.model_id, tmp_path / "work", leave_out=TOKENIZER_FILE)
    expected = onnx_encoder._torch_vectors(model)
    agreement = onnx_encoder._agreement(model, work, expected)
    assert agreement["openvino"] == 0.0
    assert agreement["onnx"] >= MIN_COSINE["onnx"] and agreement["onnx-int8"] >= MIN_COSINE["onnx-int8"]
    assert onnx_encoder._checked_serving_spec(model, work, expected, agreement) is not None

    source, copy = _linked_export(index_settings, embedder.model_id, tmp_path / "home", leave_out=MARKER_NAME)
    marker = json.loads((source / MARKER_NAME).read_text(encoding="utf-8"))
    marker["min_cosine_to_torch"] = agreement
    (copy / MARKER_NAME).write_text(json.dumps(marker), encoding="utf-8")
    assert isinstance(load_serving_encoder(tmp_path / "home", embedder.model_id, "onnx"), ServingEncoder)
    with pytest.raises(ModelLoadError, match="POLICYQA_BACKEND=onnx"):
        load_serving_encoder(tmp_path / "home", embedder.model_id, "openvino")


def test_token_counts_are_the_same_in_bounded_tokenizer_calls(
    index_settings: IndexSettings,
    embedder: Embedder,
    onnx_embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A corpus is counted a few texts per tokenizer call (each call pads to its longest)."""
    encoder = load_serving_encoder(index_settings.model_cache_dir, embedder.model_id, "onnx")
    assert isinstance(encoder, ServingEncoder)
    texts = [*OTHER_TEXTS, "第一百二十三条　违反本法规定的，责令改正。" * 60, ""]
    monkeypatch.setattr(onnx_serving, "COUNT_BATCH", 2)
    assert encoder.count_tokens(texts) == [encoder.count_tokens([text])[0] for text in texts]
    assert encoder.count_tokens(texts) == count_model_tokens(embedder.model, texts)


def test_int8_vectors_of_the_default_model_have_their_shipped_ranker_and_relevance_model(
    int8_embedder: Embedder,
) -> None:
    """`POLICYQA_BACKEND=onnx-int8` searches as the default backend does: learned ranker, relevance."""
    model_id = int8_embedder.model_id
    assert load_ranker(model_file(model_id, RANKER_DIR)).model_id == model_id
    relevance = load_relevance_model(model_id)
    assert relevance is not None and relevance.model_id == model_id


def test_the_export_is_made_once_and_remade_when_damaged(
    index_settings: IndexSettings, embedder: Embedder, onnx_embedder: Embedder
) -> None:
    model, model_id = embedder.model, embedder.model_id
    folder = export_folder(index_settings.model_cache_dir, model_id)
    marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    assert marker["model_id"] == model_id
    assert marker["min_cosine_to_torch"]["onnx"] >= MIN_COSINE["onnx"]
    written = (folder / FP32_FILE).stat().st_mtime_ns
    OnnxEncoder.load(model, model_id, index_settings)
    assert (folder / FP32_FILE).stat().st_mtime_ns == written  # reused, not exported again

    weights = WEIGHTS_FILE.format(model=FP32_FILE)
    assert marker["files"][weights] > 100 * marker["files"][FP32_FILE]  # the weights are kept apart
    with (folder / weights).open("r+b") as handle:
        handle.truncate(1000)
    remade = OnnxEncoder.load(model, model_id, index_settings)
    assert (folder / weights).stat().st_size == marker["files"][weights]
    expected = TorchEncoder(model).encode(["第一条"], "")[0]
    assert float(remade.encode(["第一条"], "")[0] @ expected) >= MIN_COSINE["onnx"]


def test_the_fp32_export_runs_fused_attention_and_the_int8_export_the_unfused_graph(
    index_settings: IndexSettings, embedder: Embedder, onnx_embedder: Embedder
) -> None:
    """The fp32 export is ONNX Runtime's optimised graph (fused attention per layer; agreement with torch is
    checked above); the int8 export is quantised from the plain graph, so its vectors stay as they were."""
    import onnx

    folder = export_folder(index_settings.model_cache_dir, embedder.model_id)
    layers = embedder.model[0].auto_model.config.num_hidden_layers

    def operators(name: str) -> list[str]:
        return [node.op_type for node in onnx.load(str(folder / name), load_external_data=False).graph.node]

    assert operators(FP32_FILE).count("Attention") == layers
    assert "Attention" not in operators(INT8_FILE) and "Softmax" in operators(INT8_FILE)


def test_a_fused_graph_that_does_not_agree_leaves_the_plain_export(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = embedder.model
    attention = model[0].auto_model.config._attn_implementation
    path = tmp_path / FP32_FILE
    onnx_encoder._export_fp32(model, path)
    written = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(onnx_encoder, "FUSED_MIN_COSINE", 1.01)  # no graph agrees this well
    onnx_encoder._fuse_attention(model, path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == written
    assert [file.name for file in tmp_path.iterdir()] == [FP32_FILE]  # its temporary files removed
    assert model[0].auto_model.config._attn_implementation == attention  # the torch model as it was


def test_the_setting_switches_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYQA_BACKEND", "onnx-int8")
    assert load_settings().backend == "onnx-int8"
    monkeypatch.setenv("POLICYQA_BACKEND", "tensorrt")
    with pytest.raises(ConfigurationError, match="POLICYQA_BACKEND"):
        load_settings()


def test_an_index_records_its_backend_and_refuses_another_ones_vectors(
    tmp_path: Path,
    index_settings: IndexSettings,
    seed_document: Path,
    int8_embedder: Embedder,
    onnx_embedder: Embedder,
) -> None:
    index_dir = tmp_path / "int8-index"
    settings = index_settings.model_copy(update={"backend": "onnx-int8"})
    manifest = build_index([seed_document], index_dir, settings, embedder=int8_embedder, progress=False)
    assert (manifest["backend"], manifest["model"]) == ("onnx-int8", int8_embedder.model_id)
    hits = PolicyIndex.load(index_dir, settings, embedder=int8_embedder).search("孵化器", mode="dense", k=3)
    assert hits

    with pytest.raises(IndexMismatchError, match="POLICYQA_BACKEND=onnx-int8"):
        PolicyIndex.load(index_dir, index_settings, embedder=onnx_embedder)


def test_repeated_queries_come_from_the_cache(embedder: Embedder, tmp_path: Path) -> None:
    def embedder_with_cache(size: int) -> Embedder:
        return Embedder(
            embedder.model,
            model_id=embedder.model_id,
            query_prompt=embedder.query_prompt,
            passage_prompt=embedder.passage_prompt,
            cache=EmbeddingCache(tmp_path / "cache.sqlite"),
            query_cache_size=size,
            progress=False,
        )

    cached = embedder_with_cache(2)
    first = cached.embed_query("创业担保贷款")
    assert cached.embed_query("创业担保贷款") is first
    cached.embed_query("孵化器")
    cached.embed_query("人才公寓")  # the least recently used query leaves
    assert len(cached.query_cache) == 2
    assert cached.embed_query("创业担保贷款") is not first
    np.testing.assert_allclose(cached.embed_query("创业担保贷款"), first, atol=1e-6)

    uncached = embedder_with_cache(0)
    assert uncached.embed_query("孵化器") is not uncached.embed_query("孵化器")
    assert len(uncached.query_cache) == 0


def test_every_backend_returns_the_token_outputs_of_the_pass_that_embeds(
    index_settings: IndexSettings, embedder: Embedder, onnx_embedder: Embedder
) -> None:
    """What the index pools its sentence vectors from: each token's output and where it is in the text, from
    the same pass as the vector, alike on torch, the ONNX export and the torch-free encoder."""
    folder = export_folder(index_settings.model_cache_dir, embedder.model_id)
    serving = load_serving_encoder(index_settings.model_cache_dir, embedder.model_id, "onnx")
    texts = [text.split(": ", 1)[1] for text in OTHER_TEXTS]
    prompt = embedder.passage_prompt
    torch_vectors, torch_outputs = TorchEncoder(embedder.model).encode_tokens(texts, prompt)
    for encoder in (TorchEncoder(embedder.model), OnnxEncoder(embedder.model, folder / FP32_FILE), serving):
        vectors, outputs = encoder.encode_tokens(texts, prompt)
        assert np.allclose(vectors, encoder.encode(texts, prompt), atol=1e-6)
        assert np.allclose(vectors, torch_vectors, atol=1e-4)
        for text, vector, output, expected in zip(texts, vectors, outputs, torch_outputs, strict=True):
            assert np.array_equal(output.spans, expected.spans)
            assert np.allclose(output.vectors, expected.vectors, atol=1e-3)
            mean = output.vectors.mean(axis=0)  # e5 pools the mean of every token's output
            assert float(mean @ vector) / np.linalg.norm(mean) > 0.99999
            in_text = output.spans[(output.spans[:, 1] > output.spans[:, 0]) & (output.spans[:, 1] > 0)]
            covered = {position for start, end in in_text for position in range(max(start, 0), end)}
            assert covered == {position for position, char in enumerate(text) if not char.isspace()}
