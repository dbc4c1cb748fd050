"""The dense retriever under a filter that excludes few passages (every search's own day): an unfiltered
search a little deeper, the excluded rows dropped, gives the restricted search's hits; when the nearest
passages are mostly excluded it falls back to the restricted search. Real FAISS, a real catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from policyqa.corpus.parse import parse_text
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.faiss_store import FaissStore
from policyqa.indexer.records import Query, SearchFilters
from policyqa.indexer.retrievers import DenseRetriever

OLD = parse_text(
    "示范条例\n时间:2010-01-01\n\n第一条 旧一。\n第二条 旧二。\n第三条 本条例自公布之日起施行。\n"
)
NEW = parse_text(
    "示范条例\n时间:2020-01-01\n\n第一条 新一。\n第二条 新二。\n第三条 本条例自2020年6月1日起施行。\n"
)
OTHER = parse_text(
    "另一办法\n时间:2015-01-01\n\n"
    + "".join(f"第{number}条 其他规定{number}。\n" for number in "一二三四五六")
)
DAY = SearchFilters(as_of="2020-06-01")  # the old version's three passages of twelve are excluded


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    parsed = [OLD, NEW, OTHER]
    clauses = [clause for entry in parsed for clause in entry.clauses]
    return Catalogue(
        [entry.document for entry in parsed],
        clauses,
        [(row, clause.id) for row, clause in enumerate(clauses, start=1)],
    )


@pytest.fixture(scope="module")
def vectors(catalogue: Catalogue) -> np.ndarray:
    rng = np.random.default_rng(20261202)
    vectors = rng.standard_normal((len(catalogue.passage_ids), 16)).astype(np.float32)
    vectors[:3] = vectors[0] + 0.01 * vectors[:3]  # the old version's passages lie close together
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class CountingStore(FaissStore):
    """A real FAISS store that counts its restricted (allowed ids) searches."""

    restricted = 0

    def search(self, query_vector, k, allowed_ids=None):  # type: ignore[no-untyped-def]
        self.restricted += allowed_ids is not None
        return super().search(query_vector, k, allowed_ids)


def restricted_search(store: FaissStore, catalogue: Catalogue, vector: np.ndarray, depth: int) -> list:
    """What the store finds among the allowed passages only: the ranking the retriever must equal."""
    allowed = catalogue.allowed_passages(DAY)
    assert allowed is not None and allowed.sum() == 9
    reference = FaissStore(store.index, store.passage_ids)  # the same FAISS index, searches not counted
    passage_ids, scores = reference.search(vector, depth, catalogue.passage_ids[allowed])
    return catalogue.fold(catalogue.passage_rows(passage_ids), scores)


@pytest.mark.parametrize("depth", [1, 3, 5, 9, 12])
def test_a_day_filter_drops_excluded_rows_of_a_deeper_unfiltered_search(
    catalogue: Catalogue, vectors: np.ndarray, depth: int
) -> None:
    store = CountingStore.build(vectors, catalogue.passage_ids)
    for query_row in (3, 6, 11):  # near passages of the version in force and of the other document
        vector = vectors[query_row]
        found = DenseRetriever(store, catalogue).search(Query("问", lambda _text, v=vector: v), depth, DAY)
        assert store.restricted == 0  # one unfiltered search sufficed
        assert found == restricted_search(store, catalogue, vector, depth)
        assert not {clause.id for clause in OLD.clauses} & {clause_id for clause_id, _score in found}


def test_when_the_nearest_passages_are_excluded_the_store_searches_the_allowed_ids(
    catalogue: Catalogue, vectors: np.ndarray
) -> None:
    store = CountingStore.build(vectors, catalogue.passage_ids)
    vector = vectors[:3].mean(axis=0)  # the old version's three passages are the three nearest
    vector /= np.linalg.norm(vector)
    found = DenseRetriever(store, catalogue).search(Query("问", lambda _text: vector), 1, DAY)
    assert store.restricted == 1
    assert found == restricted_search(store, catalogue, vector, 1)
    assert found[0][0] not in {clause.id for clause in OLD.clauses}
