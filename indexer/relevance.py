"""Relevance: the probability that a clause answers the query, comparable across queries and collections.

A logistic model over signals that mean the same on a one-document index and on 73,000 law articles:

- ``cosine``: the query's cosine similarity to the clause's best passage (the embedding model's judgement);
- ``coverage``: the share of the query's words (jieba words, stop words dropped, each weighted by its length)
  found in the clause's indexed text (title, headings and text, in search form).

Fused scores, raw BM25 scores and ranks are left out: they are relative to the query and the collection
(min-max fusion gives the top hit the same score whatever was asked). Cosines depend on the embedding model,
so the coefficients are fitted per model by ``policyqa train relevance`` and saved in
``resources/relevance/`` as one JSON file per model id (coefficients, the /ask threshold fitted with them,
how they were measured). An index whose model has no fitted file gives hits no relevance (``None``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from policyqa.corpus.model import Clause, Document
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.lru import LRUCache
from policyqa.indexer.passages import lexical_prefix
from policyqa.indexer.records import Hit, Query
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.indexer.vector_store import VectorStore
from policyqa.text import normalize

FEATURES = ("cosine", "coverage")
RELEVANCE_FORMAT = 1
SEARCH_FORM_CACHE = 8192  # clauses whose search-form text is kept (a few MB)
RELEVANCE_DIR = Path(str(resources.files("policyqa.indexer") / "resources" / "relevance"))

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelevanceModel:
    """``relevance = sigmoid(intercept + Σ coefficient · feature)`` for hits of an index built with
    ``model_id``; ``threshold`` is the least top relevance /ask answers at, fitted with the coefficients."""

    model_id: str
    coefficients: tuple[float, ...]
    intercept: float
    threshold: float
    provenance: dict[str, Any]  # the command, the questions and the measured rates

    def relevance(self, features: np.ndarray) -> np.ndarray:
        """The probability for each row of ``features`` (n × ``len(FEATURES)``)."""
        logits = self.intercept + np.asarray(features, dtype=np.float64) @ np.asarray(self.coefficients)
        return 1 / (1 + np.exp(-logits))

    def to_json(self) -> str:
        data = {
            "format": RELEVANCE_FORMAT,
            "model_id": self.model_id,
            "features": list(FEATURES),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "provenance": self.provenance,
        }
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RelevanceModel:
        """A model written by :meth:`to_json`; ValueError when it is not one of this version's."""
        data = json.loads(text)
        if data.get("format") != RELEVANCE_FORMAT or tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"not a relevance model of format {RELEVANCE_FORMAT} over {FEATURES}")
        return cls(
            model_id=data["model_id"],
            coefficients=tuple(float(value) for value in data["coefficients"]),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            provenance=data.get("provenance", {}),
        )


def model_file(model_id: str, folder: Path = RELEVANCE_DIR) -> Path:
    """Where the relevance model of ``model_id`` is saved (the id with unsafe characters as ``_``)."""
    return folder / (re.sub(r"[^A-Za-z0-9.-]+", "_", model_id) + ".json")


def load_relevance_model(model_id: str, folder: Path = RELEVANCE_DIR) -> RelevanceModel | None:
    """The relevance model fitted for ``model_id``, or None (with a warning) when there is none."""
    path = model_file(model_id, folder)
    if path.is_file():
        model = RelevanceModel.from_json(path.read_text(encoding="utf-8"))
        if model.model_id == model_id:
            return model
    logger.warning(
        "no relevance model fitted for this embedding model: hits carry no relevance and /ask cannot "
        "answer; fit one with `policyqa train relevance`",
        extra={"model": model_id},
    )
    return None


def term_weights(terms: Sequence[str]) -> dict[str, float]:
    """The distinct ``terms`` in search form, each weighing its length: the coverage of a text is the
    share of their weight it holds (``weighted_coverage``)."""
    return {normalize(term): len(term) for term in terms if term}


def weighted_coverage(weights: Mapping[str, float], text: str) -> float:
    """Share of the total weight of the terms (in search form) that occur in ``text``; 0 without terms."""
    return found_share(weights, normalize(text)) if weights else 0.0


def found_share(weights: Mapping[str, float], searched: str) -> float:
    """Share of the total weight of the terms found in ``searched`` (text already in search form)."""
    total = sum(weights.values())
    if not total:
        return 0.0
    return sum(weight for term, weight in weights.items() if term in searched) / total


class RelevanceScorer:
    """Computes the features of hits from the index's stores and, with a fitted model, their relevance."""

    def __init__(self, model: RelevanceModel | None, vector_store: VectorStore, catalogue: Catalogue):
        self.model = model
        self.vector_store = vector_store
        self.catalogue = catalogue
        self.words = Tokenizer(bigrams=False)  # the query's words, for coverage
        # each clause's indexed text in search form: normalising it is most of a hit's features' cost
        self._searched: LRUCache[str, str] = LRUCache(SEARCH_FORM_CACHE)

    def features(self, query: Query, hits: Sequence[tuple[Clause, Document]]) -> np.ndarray:
        """``len(hits) × len(FEATURES)`` feature rows, in ``FEATURES`` order."""
        if not hits:
            return np.zeros((0, len(FEATURES)))
        cosines = self._best_passage_cosines(query, [clause.id for clause, _document in hits])
        weights = term_weights(self.words.tokenize(query.text))
        searched = self._search_forms(hits)
        return np.array(
            [(cosines[clause.id], found_share(weights, searched[clause.id])) for clause, _ in hits]
        )

    def _search_forms(self, hits: Sequence[tuple[Clause, Document]]) -> dict[str, str]:
        """Each hit's indexed text (title, headings, text) in search form, by clause id."""
        searched = self._searched.get_many(clause.id for clause, _document in hits)
        missing = {
            clause.id: normalize(lexical_prefix(document, clause.path) + clause.text)
            for clause, document in hits
            if clause.id not in searched
        }
        self._searched.put_many(missing)
        return searched | missing

    def score(self, query: Query, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` with their relevance (None without a fitted model)."""
        if self.model is None or not hits:
            return list(hits)
        values = self.model.relevance(self.features(query, [(hit.clause, hit.document) for hit in hits]))
        return [replace(hit, relevance=_rounded(value)) for hit, value in zip(hits, values, strict=True)]

    def _best_passage_cosines(self, query: Query, clause_ids: Sequence[str]) -> dict[str, float]:
        """Each clause's best passage cosine, from one search of the vector store restricted to them."""
        allowed = self.catalogue.passages_of(clause_ids)
        passage_ids, scores = self.vector_store.search(query.vector, len(allowed), allowed)
        ranking = self.catalogue.fold(self.catalogue.passage_rows(passage_ids), scores)
        return dict(ranking)


def _rounded(value: float) -> float:
    return round(float(value), 4) if math.isfinite(value) else 0.0
