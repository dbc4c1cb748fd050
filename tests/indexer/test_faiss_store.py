"""The FAISS wrapper with random unit vectors, checked against brute-force inner products."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policyqa.indexer.faiss_store import IVF_MIN_PASSAGES, FaissStore


def unit_vectors(count: int, dimension: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return unit_vectors(IVF_MIN_PASSAGES + 500)


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    rows = np.arange(len(vectors)) if rows is None else rows
    return rows[np.argsort(-(vectors[rows] @ query), kind="stable")[:k]]


def test_flat_scans_every_vector_stored_in_float16(vectors: np.ndarray) -> None:
    index = FaissStore.build(vectors, np.arange(len(vectors)) + 1000)
    query = unit_vectors(1, seed=5)[0]
    ids, scores = index.search(query, 10)
    rows = ids - 1000  # the store answers with passage ids, never its own rows
    stored = vectors.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(rows, brute_force(stored, query, 10))
    np.testing.assert_allclose(scores, stored[rows] @ query, rtol=1e-5)
    np.testing.assert_allclose(scores, vectors[rows] @ query, atol=1e-3)  # float16: ~1e-4 off float32
    assert index.ann == "flat"


@pytest.mark.parametrize("ann", ["flat", "hnsw", "ivf"])
def test_filtered_search_returns_only_allowed_rows(vectors: np.ndarray, ann: str) -> None:
    index = FaissStore.build(vectors, np.arange(len(vectors)), ann)
    assert index.ann == ann
    query = unit_vectors(1, seed=9)[0]
    allowed = np.arange(0, len(vectors), 7)
    rows, _scores = index.search(query, 5, allowed)
    np.testing.assert_array_equal(rows, brute_force(vectors, query, 5, allowed))
    assert index.search(query, 5, np.array([], dtype=np.int64))[0].size == 0


@pytest.mark.parametrize("ann", ["hnsw", "ivf"])
def test_approximate_indexes_find_the_vector_itself(vectors: np.ndarray, ann: str) -> None:
    index = FaissStore.build(vectors, np.arange(len(vectors)), ann)
    found = sum(index.search(vectors[row], 1)[0][0] == row for row in range(0, len(vectors), 50))
    assert found >= 0.9 * len(range(0, len(vectors), 50))


def test_filters_and_answers_speak_passage_ids(vectors: np.ndarray) -> None:
    ids = np.arange(len(vectors)) * 3 + 7
    index = FaissStore.build(vectors, ids, "hnsw")
    query = unit_vectors(1, seed=11)[0]
    allowed_rows = np.arange(0, len(vectors), 5)
    found, _scores = index.search(query, 4, np.append(ids[allowed_rows], [1, 2]))  # 1, 2: no such ids
    np.testing.assert_array_equal(found, ids[brute_force(vectors, query, 4, allowed_rows)])


def test_passage_ids_must_ascend() -> None:
    with pytest.raises(ValueError, match="ascending"):
        FaissStore.build(unit_vectors(3), np.array([2, 1, 3]))


def test_ivf_on_a_small_corpus_falls_back_to_flat() -> None:
    assert FaissStore.build(unit_vectors(50), np.arange(50), "ivf").ann == "flat"


def test_k_larger_than_index_and_empty_index() -> None:
    index = FaissStore.build(unit_vectors(3), np.arange(3))
    assert len(index.search(unit_vectors(1)[0], 10)[0]) == 3
    empty = FaissStore.build(np.empty((0, 32), np.float32), np.empty(0, np.int64))
    assert empty.search(unit_vectors(1)[0], 10)[0].size == 0


@pytest.mark.parametrize("ann", ["flat", "hnsw", "ivf"])
def test_save_load_round_trip(vectors: np.ndarray, ann: str, tmp_path: Path) -> None:
    index = FaissStore.build(vectors, np.arange(len(vectors)) * 3, ann)
    index.save(tmp_path)
    loaded = FaissStore.load(tmp_path)
    assert loaded.ann == ann
    np.testing.assert_array_equal(loaded.passage_ids, index.passage_ids)
    query = unit_vectors(1, seed=3)[0]
    np.testing.assert_array_equal(loaded.search(query, 5)[0], index.search(query, 5)[0])
    np.testing.assert_array_equal(
        loaded.search(query, 5, np.arange(9))[0], index.search(query, 5, np.arange(9))[0]
    )
