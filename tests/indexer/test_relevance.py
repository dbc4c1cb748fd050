"""Relevance: the features of real hits on the seed index, the model file, and what a missing model means."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from policyqa.indexer import Embedder, IndexSettings, PolicyIndex
from policyqa.indexer.relevance import (
    FEATURES,
    RelevanceModel,
    RelevanceScorer,
    load_relevance_model,
    model_file,
    term_weights,
    weighted_coverage,
)

MODEL = RelevanceModel("some/model@1+abc", (20.0, 3.0), -19.0, 0.3, {"command": "test"})


@pytest.fixture(scope="module")
def seed(
    seed_index: Path, index_settings: IndexSettings, embedder: Embedder, relevance_model: RelevanceModel
) -> PolicyIndex:
    index = PolicyIndex.load(seed_index, index_settings, embedder=embedder)
    index.relevance = RelevanceScorer(relevance_model, index.vector_store, index.catalogue)
    return index


def test_coverage_weighs_words_by_length_and_matches_variants() -> None:
    assert weighted_coverage(term_weights(["孵化器", "奖励"]), "對孵化器給予獎勵") == 1.0
    assert weighted_coverage(term_weights(["孵化器", "签证"]), "孵化器") == 0.6
    assert weighted_coverage(term_weights([]), "孵化器") == 0.0
    assert term_weights(["孵化器", "孵化器", "獎勵", ""]) == {"孵化器": 3, "奖励": 2}
    assert weighted_coverage({"苏州": 3.0, "产业": 1.0}, "苏州高新区") == 0.75


def test_the_cosine_feature_is_the_dense_score_of_the_clause_s_best_passage(seed: PolicyIndex) -> None:
    retrieval = seed.retrieve("高新区对创新型孵化器有什么支持", mode="dense", k=5)
    pairs = [(hit.clause, hit.document) for hit in retrieval.hits]
    features = seed.relevance.features(retrieval.query, pairs)
    assert features.shape == (5, len(FEATURES))
    cosine = FEATURES.index("cosine")
    assert np.allclose(features[:, cosine], [hit.scores["dense"] for hit in retrieval.hits], atol=1e-5)


def test_a_clause_that_holds_every_word_of_the_query_has_full_coverage(seed: PolicyIndex) -> None:
    retrieval = seed.retrieve("创新型孵化器", mode="bm25", k=1)
    hit = retrieval.hits[0]
    features = seed.relevance.features(retrieval.query, [(hit.clause, hit.document)])
    assert features[0, FEATURES.index("coverage")] == 1.0


def test_every_hit_of_the_modes_that_embed_carries_a_probability(seed: PolicyIndex) -> None:
    for mode in ("dense", "hybrid"):
        hits = seed.search("高新区对创新型孵化器有什么支持", mode=mode, k=10)
        assert hits and all(0 <= hit.relevance <= 1 for hit in hits)
    covered = seed.search("高新区对创新型孵化器有什么支持", k=1)[0].relevance
    uncovered = seed.search("护照丢了怎么补办", k=1)[0].relevance
    assert covered > uncovered


def test_the_model_file_round_trips_and_is_named_after_the_model(tmp_path: Path) -> None:
    path = model_file(MODEL.model_id, tmp_path)
    assert path.name == "some_model_1_abc.json"
    path.write_text(MODEL.to_json(), encoding="utf-8")
    assert load_relevance_model(MODEL.model_id, tmp_path) == MODEL
    assert MODEL.relevance(np.array([[0.95, 1.0], [0.80, 0.0]])).round(3).tolist() == [0.953, 0.047]


def test_no_model_for_the_embedding_model_is_none_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="policyqa.indexer.relevance"):
        assert load_relevance_model("other/model@2", tmp_path) is None
    assert "policyqa train relevance" in caplog.text


def test_an_index_without_a_fitted_model_gives_hits_no_relevance(seed: PolicyIndex) -> None:
    unfitted = RelevanceScorer(None, seed.vector_store, seed.catalogue)
    bare = [replace(hit, relevance=None) for hit in seed.search("创新型孵化器", k=3)]
    assert unfitted.score(seed.query("创新型孵化器"), bare) == bare


def test_a_bm25_search_embeds_nothing_and_its_hits_carry_no_relevance(seed: PolicyIndex) -> None:
    embedded: list[str] = []
    embed = seed.embedder.embed_query
    seed.embedder.embed_query = lambda text: embedded.append(text) or embed(text)  # type: ignore[method-assign]
    try:
        bm25 = seed.search("高新区对创新型孵化器有什么支持", mode="bm25", k=10)
        assert bm25 and all(hit.relevance is None for hit in bm25) and embedded == []
        seed.search("高新区对创新型孵化器有什么支持", mode="dense", k=10)
        assert embedded == ["高新区对创新型孵化器有什么支持"]
    finally:
        del seed.embedder.embed_query
