"""A request's time budget stops its work between steps: a spent budget is a BudgetExceededError (503 with
Retry-After), checked before the search and between batches of sentence embeddings (real index and model)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from policyqa.indexer import Embedder, IndexSettings, PolicyIndex
from policyqa.indexer.relevance import RelevanceModel, RelevanceScorer
from policyqa.service.answers import ask
from policyqa.service.budget import Deadline, within
from policyqa.service.errors import BudgetExceededError, install_error_handlers
from policyqa.service.extractive import ExtractiveAnswerer

QUESTION = "高新区对新认定的孵化器有什么支持？"


@pytest.fixture(scope="module")
def seed(
    seed_index: Path, index_settings: IndexSettings, embedder: Embedder, relevance_model: RelevanceModel
) -> tuple[PolicyIndex, ExtractiveAnswerer]:
    index = PolicyIndex.load(seed_index, index_settings, embedder=embedder)
    index.relevance = RelevanceScorer(relevance_model, index.vector_store, index.catalogue)
    return index, ExtractiveAnswerer(embedder)


def spent() -> Deadline:
    return Deadline(at=time.monotonic() - 1, seconds=10)


def test_a_spent_budget_stops_a_question_before_the_search(seed) -> None:
    index, answerer = seed
    with (
        within(spent()),
        pytest.raises(BudgetExceededError, match=r"time budget of 10 s \(before the search\)"),
    ):
        ask(index, answerer, QUESTION, k=10)
    with within(Deadline.after(600)):
        _retrieval, answer = ask(index, answerer, QUESTION, k=10)
    assert not answer.no_answer  # a live budget changes nothing
    _retrieval, answer = ask(index, answerer, QUESTION, k=3)  # nor does no budget (policyqa ask)
    assert not answer.no_answer


def test_a_spent_budget_stops_the_sentence_embeddings(seed) -> None:
    _index, answerer = seed
    sentences = [f"第{i}句：用于测试时间预算的句子。" for i in range(100)]
    with within(spent()), pytest.raises(BudgetExceededError, match="embedding the sentences"):
        answerer.sentence_vectors.vectors(sentences)
    assert answerer.sentence_vectors.vectors(sentences).shape == (100, 384)


def test_an_exceeded_budget_is_503_with_retry_after() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/slow")
    def slow() -> None:
        spent().check("answering")

    response = TestClient(app).get("/slow")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json() == {
        "detail": "the request used up its time budget of 10 s (answering); try again later"
    }
