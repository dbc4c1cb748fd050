"""The ANN trade-off benchmark: recall of the exact top k per index and search parameter, dense quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.ann_tradeoff import BuiltIndex, build_approximate, fidelity, main, run
from policyqa.eval.queries import SEED_QUESTIONS, load_queries
from policyqa.indexer import Embedder, IndexSettings, PolicyIndex, build_index
from policyqa.indexer.faiss_store import FaissStore


def _unit_vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_fidelity_measures_what_an_approximate_index_misses() -> None:
    vectors = _unit_vectors(3000, 16, seed=1)
    ids = np.arange(3000)
    built = [BuiltIndex("flat", FaissStore.build(vectors, ids), 0.0), build_approximate(vectors, ids, "ivf")]
    rows = fidelity(built, _unit_vectors(40, 16, seed=2), k=20)
    assert [(row.name, row.parameter) for row in rows] == [
        ("flat", "exact"),
        ("ivf", "nprobe 8 of 55"),
        ("ivf", "nprobe 32 of 55"),
    ]
    shares = [row.recall_of_exact for row in rows]
    assert shares[0] == 1.0
    assert shares[1] < shares[2] < 1.0  # random vectors spread over all lists: few probes miss many
    assert all(row.p50_ms > 0 and row.size_mib > 0 for row in rows)


def test_run_on_the_seed_index(seed_index: Path, index_settings: IndexSettings, embedder: Embedder) -> None:
    index = PolicyIndex.load(seed_index, index_settings, embedder=embedder)
    flat_dense = index.vector_store
    fidelity_markdown, quality_markdown = run(index, load_queries(SEED_QUESTIONS)[:6], k=10, progress=False)
    lines = fidelity_markdown.splitlines()
    assert lines[0].startswith("| index | search | build s | size MiB |")
    assert lines[2].startswith("| flat | exact |") and lines[2].endswith("| 1.000 |")
    assert [line.split(" | ")[1] for line in lines[3:6]] == ["efSearch 64", "efSearch 128", "efSearch 256"]
    assert lines[6].startswith("| ivf (built flat: ") and len(lines) == 7  # too few passages for IVF
    quality = quality_markdown.splitlines()
    assert quality[0] == "| dense search with | recall@1 | recall@10 | recall@100 | mrr@10 |"
    assert [line.split(" | ")[0] for line in quality[2:]] == ["| flat", "| hnsw", quality[4].split(" | ")[0]]
    assert index.vector_store is flat_dense  # the index is left as it was


def test_an_approximate_index_is_refused(
    tmp_path: Path, seed_document: Path, index_settings: IndexSettings, embedder: Embedder, capsys
) -> None:
    hnsw_settings = index_settings.model_copy(update={"ann": "hnsw"})
    build_index([seed_document], tmp_path / "hnsw", hnsw_settings, embedder=embedder, progress=False)
    assert main(["--queries", str(SEED_QUESTIONS), "--index-dir", str(tmp_path / "hnsw")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("ann_tradeoff: error: ") and "--ann flat" in error and "Traceback" not in error
