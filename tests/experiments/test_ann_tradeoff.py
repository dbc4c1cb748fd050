"""The ANN trade-off benchmark: recall of the exact top k per index and search parameter, dense quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.ann_tradeoff import build_as_policyqa, build_exact, fidelity, main, run, version_vectors
from policyqa.eval.queries import SEED_QUESTIONS, load_queries
from policyqa.indexer import Embedder, IndexSettings, PolicyIndex


def _unit_vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_fidelity_measures_what_an_approximate_index_misses() -> None:
    vectors = _unit_vectors(3000, 16, seed=1)
    ids = np.arange(3000)
    built = [build_exact(vectors, ids), *(build_as_policyqa(vectors, ids, ann) for ann in ("flat", "ivf"))]
    rows = fidelity(built, _unit_vectors(40, 16, seed=2), k=20)
    assert [(row.name, row.parameter) for row in rows] == [
        ("exact (float32)", "every vector"),
        ("flat (float16, default)", "every vector"),
        ("ivf", "nprobe 8 of 55"),
        ("ivf", "nprobe 32 of 55"),
    ]
    shares = [row.recall_of_exact for row in rows]
    assert shares[0] == 1.0 and shares[1] > 0.99  # float16 storage: a near tie may swap at the edge
    assert shares[2] < shares[3] < 1.0  # random vectors spread over all lists: few probes miss many
    assert all(row.p50_ms > 0 and row.p50_ms_paired > 0 and row.size_mib > 0 for row in rows)
    assert rows[1].size_mib < 0.6 * rows[0].size_mib  # half the bytes per vector


def test_run_on_the_seed_index(seed_index: Path, index_settings: IndexSettings, embedder: Embedder) -> None:
    index = PolicyIndex.load(seed_index, index_settings, embedder=embedder)
    own_dense = index.vector_store
    vectors = version_vectors(seed_index)
    assert vectors.dtype == np.float32 and len(vectors) == len(own_dense.passage_ids)
    queries = load_queries(SEED_QUESTIONS)[:6]
    fidelity_markdown, quality_markdown = run(index, vectors, queries, k=10, progress=False)
    lines = fidelity_markdown.splitlines()
    assert lines[0].startswith(
        "| index | search | build s | size MiB | p50 ms | p95 ms | p50 ms, two at once |"
    )
    assert lines[2].startswith("| exact (float32) | every vector |") and lines[2].endswith("| 1.0000 |")
    assert lines[3].startswith("| flat (float16, default) | every vector |")
    assert [line.split(" | ")[1] for line in lines[4:7]] == ["efSearch 64", "efSearch 128", "efSearch 256"]
    assert lines[7].startswith("| ivf (built flat: ") and len(lines) == 8  # too few passages for IVF
    quality = quality_markdown.splitlines()
    assert quality[0] == "| dense search with | recall@1 | recall@10 | recall@100 | mrr@10 |"
    assert [line.split(" | ")[0] for line in quality[2:5]] == [
        "| exact (float32)",
        "| flat (float16, default)",
        "| hnsw",
    ]
    assert quality[2].split(" | ")[1:] == quality[3].split(" | ")[1:]  # float16 storage: the same quality
    assert index.vector_store is own_dense  # the index is left as it was


def test_a_folder_without_an_index_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["--queries", str(SEED_QUESTIONS), "--index-dir", str(tmp_path / "none")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("ann_tradeoff: error: ") and "Traceback" not in error
