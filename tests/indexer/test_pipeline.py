"""The retrieval pipeline's seams: stages chosen by settings, a stage plugged in, one embedding per search."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from policyqa.errors import PolicyQAError
from policyqa.indexer import Embedder, IndexSettings, PolicyIndex
from policyqa.indexer.pipeline import RetrievalPipeline, keep_standing
from policyqa.indexer.records import Ranking, SearchFilters, SearchRequest
from policyqa.indexer.relevance import RelevanceModel, RelevanceScorer
from policyqa.indexer.settings import load_settings
from policyqa.service.answers import ask
from policyqa.service.extractive import ExtractiveAnswerer

QUESTION = "高新区对创新型孵化器有什么支持"


@pytest.fixture(scope="module")
def seed(
    seed_index: Path, index_settings: IndexSettings, embedder: Embedder, relevance_model: RelevanceModel
) -> PolicyIndex:
    index = PolicyIndex.load(seed_index, index_settings, embedder=embedder)
    index.relevance = RelevanceScorer(relevance_model, index.vector_store, index.catalogue)
    return index


class Reversed:
    """A re-ranker that turns the fused order around (a stand-in for a model that disagrees with it)."""

    depth = 0

    def widen(self, request: SearchRequest, rankings: Mapping[str, Ranking]) -> Mapping[str, Ranking]:
        return rankings

    def rerank(self, request: SearchRequest, ranking: Ranking, rankings: Mapping[str, Ranking]) -> Ranking:
        return list(reversed(ranking))


def test_a_plugged_in_reranker_decides_the_hybrid_order(seed: PolicyIndex) -> None:
    pipeline = seed.pipeline
    plugged = RetrievalPipeline(pipeline.retrievers, pipeline.fusion, pipeline.adjust_stages, Reversed())
    request = SearchRequest(seed.query(QUESTION), "hybrid", 100)
    rankings = pipeline.rankings(request)
    fused = pipeline.combine(request, rankings)
    assert plugged.combine(request, rankings) == fused[::-1]
    assert plugged.combine(SearchRequest(request.query, "bm25", 100), rankings) == rankings["bm25"]


def test_a_reranker_orders_only_among_candidates_an_adjust_stage_moved_alike() -> None:
    fused = [("a", 3.0), ("b", 2.5), ("c", 1.5), ("d", 1.0)]
    adjusted = [("a", 3.0), ("b", 2.0), ("c", 1.5), ("d", 1.0)]  # b stepped back by 0.5
    reranked = [("b", 3.0), ("d", 2.0), ("a", 1.5), ("c", 1.0)]  # the re-ranker likes b, then d
    assert keep_standing(adjusted, reranked, fused) == [("d", 3.0), ("b", 2.0), ("a", 1.5), ("c", 1.0)]
    moved_alike = [("a", 2.5), ("b", 2.0), ("c", 1.0), ("d", 0.5)]  # every one stepped back: one standing
    assert keep_standing(moved_alike, reranked, fused) == reranked
    fused = [("a", 3.0), ("b", 2.5), ("c", 1.5), ("s", 1.4)]
    adjusted = [("a", 3.0), ("b", 2.0), ("c", 1.5), ("s", 0.9)]  # b and s stepped back alike
    jumped = [("s", 3.0), ("b", 2.0), ("c", 1.5), ("a", 0.9)]  # s over a; b and c not moved: they stay
    assert keep_standing(adjusted, jumped, fused) == adjusted
    swapped = [("a", 3.0), ("s", 2.0), ("c", 1.5), ("b", 0.9)]  # within one standing: the re-ranker decides
    assert keep_standing(adjusted, swapped, fused) == swapped


def test_with_settings_searches_as_an_index_loaded_with_them(
    seed_index: Path, seed: PolicyIndex, index_settings: IndexSettings, embedder: Embedder
) -> None:
    rrf = index_settings.model_copy(update={"fusion": "rrf", "rrf_k": 10})
    loaded = PolicyIndex.load(seed_index, rrf, embedder=embedder)
    assert [(h.clause.id, h.score) for h in seed.with_settings(rrf).search(QUESTION, k=8)] == [
        (h.clause.id, h.score) for h in loaded.search(QUESTION, k=8)
    ]
    assert seed.search(QUESTION, k=8) != loaded.search(QUESTION, k=8)  # the setting did change the ranking


def test_the_dense_retriever_hands_the_vector_store_passage_ids(
    tiny_index_dir: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    index = PolicyIndex.load(tiny_index_dir, index_settings, embedder=embedder)
    store = index.vector_store
    seen: list[np.ndarray | None] = []
    original = store.search

    def recording(vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None):
        seen.append(allowed_ids)
        return original(vector, k, allowed_ids)

    store.search = recording
    try:
        # the smallest of several: most passages are left out, so the store is restricted to the allowed
        # ids (a filter that leaves out few is applied after an unfiltered search: test_retrievers.py)
        document_id = min(index.documents(), key=lambda document: len(index.clauses_of(document.id))).id
        index.search(QUESTION, mode="dense", k=3, filters=SearchFilters(document_id=document_id))
    finally:
        del store.search
    assert seen[0] is not None and set(seen[0]) <= set(store.passage_ids.tolist())
    assert np.array_equal(np.sort(seen[0]), seen[0])  # ascending, as the protocol says


def test_one_embedding_per_question(seed: PolicyIndex, embedder: Embedder) -> None:
    embedded: list[str] = []
    one, many = embedder.embed_query, embedder.embed_queries

    def embed_query(text: str) -> np.ndarray:
        embedded.append(text)
        return one(text)

    def embed_queries(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return many(texts)

    answerer = ExtractiveAnswerer(embedder)
    embedder.embed_query, embedder.embed_queries = embed_query, embed_queries
    try:
        _retrieval, answer = ask(seed, answerer, QUESTION)
    finally:
        del embedder.embed_query, embedder.embed_queries
    assert embedded.count(QUESTION) == 1 and not answer.no_answer  # the search's vector served the answer


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("POLICYQA_FUSION", "borda", "unknown fusion strategy 'borda'; choose one of minmax, rrf"),
        ("POLICYQA_RERANK", "colbert", "unknown re-ranker 'colbert'; choose one of learned, off, on"),
        ("POLICYQA_VECTOR_STORE", "annoy", "unknown vector store 'annoy'; choose one of faiss"),
    ],
)
def test_unknown_stage_names_are_one_line_setting_errors(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(PolicyQAError, match="invalid setting") as error:
        load_settings()
    assert message in str(error.value) and "\n" not in str(error.value)
