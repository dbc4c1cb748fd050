"""The extractive answerer: split the relevant clauses into sentences, score them against the question,
quote the best.

Whether to answer at all is decided before, by ``service.answers.ask`` on the hits' relevance; this answerer
only chooses what to quote: each sentence's semantic similarity to the question plus its term overlap, the
question's words weighted by how few of the candidate sentences contain them — the words every sentence
shares (高新区 in a 高新区 document) say nothing about which sentence answers, a name or a number only one
contains (苏州, 百分之七十) says where the fact is.

The scoring and composing functions are pure: they take the hits, the question's terms and a sentence
similarity function; ``ExtractiveAnswerer`` supplies the similarity from the index's stored sentence vectors
(``indexer/sentence_vectors.py``), or for an index without them from its already-loaded embedder (sentences
embedded with the query prompt), the question's vector taken from its search.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from policyqa.corpus.model import Clause, Document
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.lru import LRUCache
from policyqa.indexer.records import Hit, Query
from policyqa.indexer.relevance import weighted_coverage
from policyqa.indexer.sentence_vectors import SentenceVectorLookup
from policyqa.indexer.sentences import Sentence, quotable_sentences
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.service.answers import NO_ANSWER_TEXT, Answer, Quote, clause_label
from policyqa.service.budget import check_budget
from policyqa.text import normalize

if TYPE_CHECKING:
    from policyqa.service.settings import ServiceSettings

MAX_QUOTES = 3  # an answer quotes at most this many sentences
RELATIVE_MARGIN = 0.1  # a sentence is quoted when its score is within this of the best one
SIMILARITY_WEIGHT = 0.5  # quoting score = SIMILARITY_WEIGHT * similarity + (1 - it) * term overlap
# Sentences are embedded shortest first, this many per call (calls of similar lengths pad little; 4 per call
# embedded an answer's sentences in 115 ms where one call took 152-164 ms), the time budget checked between.
SENTENCE_BATCH = 4

# each clause of the hits with its quotable sentences → the question's similarity to every sentence, in order
Similarity = Callable[[Sequence[tuple[Clause, list[Sentence]]]], list[float]]


@dataclass(frozen=True)
class Candidate:
    """A scored sentence of one of the top clauses (``rank`` is the clause's 0-based search rank)."""

    clause: Clause
    document: Document
    rank: int
    sentence: Sentence
    similarity: float
    overlap: float

    @property
    def score(self) -> float:
        """How well the sentence answers the question, for choosing what to quote (in [0, 1])."""
        return SIMILARITY_WEIGHT * self.similarity + (1 - SIMILARITY_WEIGHT) * self.overlap


def term_weights(terms: Sequence[str], sentences: Sequence[str]) -> dict[str, float]:
    """Each distinct question term (in search form) weighted by its rarity among the ``n`` sentences,
    ``ln((n + 1) / (sentences containing it + 1))``: 0 for a term every sentence contains. Not by its length:
    a long generic compound (特色战略产业) would outweigh the short name that says which sentence answers
    (苏州)."""
    searched = [normalize(sentence) for sentence in sentences]
    weights = {}
    for term in {normalize(term) for term in terms if term}:
        containing = sum(term in sentence for sentence in searched)
        weights[term] = math.log((len(searched) + 1) / (containing + 1))
    return weights


def score_candidates(
    question: str,
    terms: Sequence[str],
    hits: Sequence[tuple[Clause, Document]],
    *,
    similarity: Similarity,
) -> list[Candidate]:
    """Every quotable sentence of the hits (clauses in search order), scored against the question."""
    groups = [(clause, quotable_sentences(clause)) for clause, _document in hits]
    located = [
        (rank, clause, document, sentence)
        for rank, ((clause, document), (_clause, sentences)) in enumerate(zip(hits, groups, strict=True))
        for sentence in sentences
    ]
    if not located:
        return []
    texts = [sentence.text for *_, sentence in located]
    similarities = similarity(groups)
    weights = term_weights(terms, texts)
    return [
        Candidate(
            clause=clause,
            document=document,
            rank=rank,
            sentence=sentence,
            similarity=min(max(float(value), 0.0), 1.0),
            overlap=weighted_coverage(weights, sentence.text),
        )
        for (rank, clause, document, sentence), value in zip(located, similarities, strict=True)
    ]


def compose_answer(candidates: Sequence[Candidate], confidence: float) -> Answer:
    """Quote the best-scoring sentence and up to ``MAX_QUOTES - 1`` more within ``RELATIVE_MARGIN`` of it,
    in reading order; a refusal when there is no sentence to quote."""
    if not candidates:
        return Answer(NO_ANSWER_TEXT, True, confidence, ())
    ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
    chosen = [c for c in ranked[:MAX_QUOTES] if c.score >= ranked[0].score - RELATIVE_MARGIN]
    quotes = _merge_adjacent(sorted(chosen, key=lambda c: (c.rank, c.sentence.start)))
    return Answer(_answer_text(quotes), False, confidence, tuple(quotes))


def _merge_adjacent(candidates: Sequence[Candidate]) -> list[Quote]:
    """One quote per run of consecutive sentences of the same clause."""
    quotes: list[Quote] = []
    for candidate in candidates:
        previous = quotes[-1] if quotes else None
        clause = candidate.clause
        if (
            previous is not None
            and previous.clause.id == clause.id
            and not clause.text[previous.end : candidate.sentence.start].strip()
        ):
            quotes[-1] = Quote(clause, candidate.document, previous.start, candidate.sentence.end)
        else:
            quotes.append(Quote(clause, candidate.document, candidate.sentence.start, candidate.sentence.end))
    return quotes


def _answer_text(quotes: Sequence[Quote]) -> str:
    """``根据《T》四、（十二）发展创新型孵化器：…[1]``; a further clause starts ``另据该文件…`` (same
    document) or ``另据《T2》…``; a further sentence of the same clause follows after ``……``."""
    parts: list[str] = []
    previous: Quote | None = None
    for number, quote in enumerate(quotes, start=1):
        if previous is None:
            parts.append(f"根据{quote.document.cited_title}{clause_label(quote.clause)}：")
        elif quote.clause.id == previous.clause.id:
            parts.append("……")
        elif quote.document.id == previous.document.id:
            parts.append(f"另据该文件{clause_label(quote.clause)}：")
        else:
            parts.append(f"另据{quote.document.cited_title}{clause_label(quote.clause)}：")
        parts.append(f"{quote.text}[{number}]")
        previous = quote
    return "".join(parts)


class ExtractiveAnswerer:
    """Answers in the documents' own words: the best 1–3 sentences of the relevant hits, each cited; its
    confidence is their best relevance. One sentence-vector cache for the service's life (index swaps keep
    the same model)."""

    def __init__(self, embedder: Embedder):
        self.tokenizer = Tokenizer(bigrams=False)  # the question's terms, for term overlap
        self.sentence_vectors = SentenceVectors(embedder)

    @classmethod
    def from_settings(cls, settings: ServiceSettings, embedder: Embedder) -> ExtractiveAnswerer:
        return cls(embedder)

    def answer(self, query: Query, hits: Sequence[Hit], stored: SentenceVectorLookup) -> Answer:
        confidence = max((hit.relevance or 0.0 for hit in hits), default=0.0)
        return compose_answer(self.candidates(query, hits, stored), confidence)

    def candidates(self, query: Query, hits: Sequence[Hit], stored: SentenceVectorLookup) -> list[Candidate]:
        """The scored sentences of the hits an answer is drawn from: each sentence's vector the index's
        own (``stored``), else embedded now."""

        def similarity(groups: Sequence[tuple[Clause, list[Sentence]]]) -> list[float]:
            found = [stored(clause.id, len(sentences)) for clause, sentences in groups]
            missing = [
                sentence.text
                for (_clause, sentences), vectors in zip(groups, found, strict=True)
                if vectors is None
                for sentence in sentences
            ]
            embedded = iter(self.sentence_vectors.vectors(missing)) if missing else iter(())
            rows = [
                row
                for (_clause, sentences), vectors in zip(groups, found, strict=True)
                for row in (vectors if vectors is not None else [next(embedded) for _ in sentences])
            ]
            return (np.stack(rows) @ query.vector).tolist() if rows else []

        return score_candidates(
            query.text,
            self.tokenizer.tokenize(query.text),
            [(hit.clause, hit.document) for hit in hits],
            similarity=similarity,
        )


class SentenceVectors:
    """Query-prompt embeddings of sentences from the index's already-loaded model (for an index that stores
    none), kept in a bounded in-memory LRU cache: clauses that keep coming up are embedded once, nothing
    touches disk."""

    def __init__(self, embedder: Embedder, max_entries: int = 20_000):
        self.embedder = embedder
        self._cache: LRUCache[str, np.ndarray] = LRUCache(max_entries)

    def vectors(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` L2-normalised vectors, embedding only the texts not cached."""
        found = self._cache.get_many(texts)
        misses = sorted(dict.fromkeys(text for text in texts if text not in found), key=len)
        for start in range(0, len(misses), SENTENCE_BATCH):
            check_budget("embedding the sentences of the clauses found")
            batch = misses[start : start + SENTENCE_BATCH]
            embedded = dict(zip(batch, self.embedder.embed_queries(batch), strict=True))
            found.update(embedded)
            self._cache.put_many(embedded)  # batch by batch: a request out of time leaves its work cached
        return np.stack([found[text] for text in texts])
