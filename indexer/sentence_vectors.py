"""Sentence vectors stored in the index: one per quotable sentence of every clause (``indexer/sentences.py``),
pooled from the token outputs of the very pass that embeds the clause's passages — late chunking (Günther
et al., 2024): the mean of the sentence's token vectors, read in the context of its whole clause, instead
of embedding each sentence alone at question time. The extractive answerer scores a clause's sentences with
them (``service/extractive.py``); an index without them (built before, or stored in Milvus) has its
sentences embedded when asked. Measured: docs/decisions/2026-12-02-query-path.md.

A version holds them in two files: ``sentence_vectors.npy`` (float16, one row per sentence) and
``sentence_rows.npy`` (int64, passages + 1): passage row ``p`` owns rows ``rows[p]:rows[p + 1]``, the
quotable sentences of its clause that start in its window, in reading order; so a clause's sentences are
those of its passages, in window order. The manifest's ``sentence_vectors`` entry names the sentence rule
they were made with; a different rule does not use them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from policyqa.corpus.model import Clause
from policyqa.indexer.encoders import TokenOutputs, normalized
from policyqa.indexer.passages import window_layout
from policyqa.indexer.sentences import SENTENCE_RULE, quotable_sentences

VECTORS_FILE = "sentence_vectors.npy"
ROWS_FILE = "sentence_rows.npy"
FILES = (VECTORS_FILE, ROWS_FILE)
MANIFEST_KEY = "sentence_vectors"

Span = tuple[int, int]
# (clause id, its number of quotable sentences) → their vectors, float32, or None when the index has none
SentenceVectorLookup = Callable[[str, int], "np.ndarray | None"]


def passage_sentence_spans(clause: Clause, passage_texts: Sequence[str]) -> list[list[Span]]:
    """For each of ``clause``'s passages (texts in window order), the character spans in that text of the
    clause's quotable sentences that start in its window (a sentence a window cut is pooled up to the
    cut). No spans at all when the texts are not the clause's layout."""
    spans: list[list[Span]] = [[] for _ in passage_texts]
    layout = window_layout(clause.text, passage_texts)
    if layout is None:
        return spans
    prefix, starts = layout
    ends = [*starts[1:], len(clause.text)]
    window = 0
    for sentence in quotable_sentences(clause):
        while sentence.start >= ends[window]:
            window += 1
        shift = prefix - starts[window]
        spans[window].append((sentence.start + shift, min(sentence.end, ends[window]) + shift))
    return spans


def pool_sentences(tokens: TokenOutputs, spans: Sequence[Span], passage_vector: np.ndarray) -> np.ndarray:
    """``(len(spans), dimension)`` L2-normalised means of the token vectors that overlap each span; a span
    no token overlaps (cut off by the model's input limit) gets the passage's vector."""
    starts, ends = tokens.spans[:, 0], tokens.spans[:, 1]
    real = ends > starts  # special tokens have empty spans
    pooled = np.empty((len(spans), tokens.vectors.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        chosen = real & (ends > start) & (starts < end)
        pooled[row] = tokens.vectors[chosen].mean(axis=0) if chosen.any() else passage_vector
    return normalized(pooled)


def stack(matrices: Sequence[np.ndarray | None], dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's sentence vectors (None: it has no sentence) as one float16 array and the passages'
    rows into it (``rows[p]:rows[p + 1]``)."""
    counts = [0 if matrix is None else len(matrix) for matrix in matrices]
    rows = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
    vectors = np.empty((int(rows[-1]), dimension), dtype=np.float16)
    for passage, matrix in enumerate(matrices):
        if matrix is not None and len(matrix):
            vectors[rows[passage] : rows[passage + 1]] = matrix
    return vectors, rows


def save(version: Path, vectors: np.ndarray, rows: np.ndarray) -> dict:
    """Write the two files into ``version``; returns the manifest entry."""
    np.save(version / VECTORS_FILE, vectors.astype(np.float16, copy=False))
    np.save(version / ROWS_FILE, rows.astype(np.int64, copy=False))
    return {"rule": SENTENCE_RULE, "sentences": len(vectors)}


class StoredSentenceVectors:
    """A version's sentence vectors, memory-mapped: read a few rows per answer, never all."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        self.vectors = vectors
        self.rows = rows

    @classmethod
    def load(cls, version: Path, manifest: dict) -> StoredSentenceVectors | None:
        """The version's sentence vectors, or None when it has none made with today's sentence rule."""
        entry = manifest.get(MANIFEST_KEY)
        if not isinstance(entry, dict) or entry.get("rule") != SENTENCE_RULE:
            return None
        return cls(np.load(version / VECTORS_FILE, mmap_mode="r"), np.load(version / ROWS_FILE))

    def fits(self, passages: int) -> bool:
        """Whether the files agree with each other and with an index of ``passages`` passage rows."""
        rows = self.rows
        return (
            rows.shape == (passages + 1,)
            and rows[0] == 0
            and rows[-1] == len(self.vectors)
            and bool(np.all(np.diff(rows) >= 0))
        )

    def of_passages(self, passage_rows: np.ndarray, count: int) -> np.ndarray | None:
        """The float32 vectors of the sentences the passages at ``passage_rows`` own, in order; None unless
        they are ``count``."""
        pieces = [self.vectors[self.rows[row] : self.rows[row + 1]] for row in passage_rows]
        if sum(len(piece) for piece in pieces) != count:
            return None
        return np.concatenate(pieces).astype(np.float32) if pieces else None
