"""``ask``: the no-answer decision on the hits' relevance, on the real seed index and model."""

from __future__ import annotations

from pathlib import Path

import pytest

from policyqa.indexer import Embedder, IndexSettings, PolicyIndex
from policyqa.indexer.errors import IndexMismatchError
from policyqa.indexer.relevance import RelevanceModel, RelevanceScorer
from policyqa.service.answers import NO_ANSWER_TEXT, ask
from policyqa.service.extractive import ExtractiveAnswerer

QUESTION = "高新区对创新型孵化器有什么支持？"


@pytest.fixture(scope="module")
def seed(seed_index: Path, index_settings: IndexSettings, embedder: Embedder) -> PolicyIndex:
    return PolicyIndex.load(seed_index, index_settings, embedder=embedder)


def test_only_clauses_relevant_enough_are_quoted_and_none_is_a_refusal(
    seed: PolicyIndex, embedder: Embedder, relevance_model: RelevanceModel
) -> None:
    seed.relevance = RelevanceScorer(relevance_model, seed.vector_store, seed.catalogue)
    answerer = ExtractiveAnswerer(embedder)
    retrieval, _answer = ask(seed, answerer, QUESTION, min_relevance=0.0)
    top = max(hit.relevance for hit in retrieval.hits)
    _retrieval, answer = ask(seed, answerer, QUESTION, min_relevance=top)
    best = [hit.clause.id for hit in retrieval.hits if hit.relevance == top]
    assert not answer.no_answer and {quote.clause.id for quote in answer.quotes} <= set(best)
    assert answer.confidence == top
    _retrieval, refusal = ask(seed, answerer, QUESTION, min_relevance=min(1.0, top + 0.001))
    assert refusal.no_answer and refusal.text == NO_ANSWER_TEXT and refusal.quotes == ()
    assert refusal.confidence == top


def test_without_a_relevance_model_asking_is_a_clear_error_and_searching_works(
    seed: PolicyIndex, embedder: Embedder
) -> None:
    seed.relevance = RelevanceScorer(None, seed.vector_store, seed.catalogue)
    with pytest.raises(IndexMismatchError, match=r"no relevance model .* `policyqa train relevance`"):
        ask(seed, ExtractiveAnswerer(embedder), QUESTION)
    assert all(hit.relevance is None for hit in seed.search(QUESTION, k=3))
