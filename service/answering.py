"""Answer a question from the live index: retrieve clauses, score their sentences with the index's
already-loaded embedder plus term overlap, and compose an extractive answer
(see ``policyqa.service.answer``)."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from policyqa.indexer import Embedder, PolicyIndex, SearchFilters
from policyqa.indexer.tokenizer import Tokenizer, normalize
from policyqa.service.answer import Answer, Candidate, compose_answer, score_candidates


class Answerer:
    """Answers questions from whatever index it is handed, with one tokenizer and one sentence-vector
    cache for the whole service life (index swaps keep the same model)."""

    def __init__(self, embedder: Embedder, tokenizer: Tokenizer, threshold: float):
        self.tokenizer = tokenizer
        self.sentence_vectors = SentenceVectors(embedder)
        self.threshold = threshold

    def answer(
        self,
        index: PolicyIndex,
        question: str,
        *,
        k: int,
        filters: SearchFilters | None,
        home_region: str | None = None,
    ) -> Answer:
        """The extractive answer to ``question``, or a no-answer below the threshold."""
        candidates = self.candidates(index, question, k=k, filters=filters, home_region=home_region)
        return compose_answer(candidates, self.threshold)

    def candidates(
        self,
        index: PolicyIndex,
        question: str,
        *,
        k: int,
        filters: SearchFilters | None,
        home_region: str | None = None,
    ) -> list[Candidate]:
        """The scored sentences of the top clauses (hybrid search, ``home_region`` as in
        ``PolicyIndex.search``) an answer is drawn from."""
        hits = index.search(question, mode="hybrid", k=k, filters=filters, home_region=home_region)
        return score_candidates(
            question,
            self.tokenizer.tokenize(question),
            [(hit.clause, hit.document) for hit in hits],
            similarity=self.sentence_vectors.similarity,
            normalise=normalize,
        )


class SentenceVectors:
    """Query-prompt embeddings of sentences (and questions) from the index's already-loaded model, kept in
    a bounded in-memory LRU cache: clauses that keep coming up are embedded once, nothing touches disk."""

    def __init__(self, embedder: Embedder, max_entries: int = 20_000):
        self.embedder = embedder
        self.max_entries = max_entries
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` L2-normalised vectors, embedding only the texts not cached."""
        with self._lock:
            found = {text: self._cache[text] for text in texts if text in self._cache}
            for text in found:
                self._cache.move_to_end(text)
        misses = list(dict.fromkeys(text for text in texts if text not in found))
        if misses:
            found.update(zip(misses, self.embedder.embed_queries(misses), strict=True))
            with self._lock:
                for text in misses:
                    self._cache[text] = found[text]
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        return np.stack([found[text] for text in texts])

    def similarity(self, question: str, sentences: list[str]) -> list[float]:
        """Cosine similarity of the question to each sentence, both embedded as queries (the symmetric
        use of e5's prompts)."""
        vectors = self.vectors([question, *sentences])
        return (vectors[1:] @ vectors[0]).tolist()
