"""Passages: the texts that are embedded and BM25-indexed, one or more per clause.

A passage is the document's cited title (``《title》``, plus a split law's subtitle) + a newline + the
clause text (the embedding cache is keyed by this exact text). The clause's ancestor headings are left
out: mean-pooled embeddings of the short questions people ask match the clause's own words better
without them (STARD-train dense MRR@10 0.358 → 0.395 on 150 questions, seed questions hybrid first
70 % → 77 %; README, Results). A clause longer than the embedder's token budget is cut into windows (at
sentence ends where possible, else mid-sentence); every window carries the same prefix and cites the
same clause.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from corpus.model import Clause, Document

PROMPT_MARGIN = 16  # tokens kept free for the model's passage prompt and special tokens
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")

TokenCounter = Callable[[list[str]], list[int]]


@dataclass(frozen=True)
class Passage:
    """Window ``window`` (0-based) of clause ``clause_id``; ``text`` is what gets embedded."""

    clause_id: str
    window: int
    text: str


def passage_prefix(document: Document) -> str:
    """The cited title (``《中华人民共和国民法典》物权编``) + newline."""
    return document.cited_title + "\n"


def clause_passages(
    document: Document, clauses: Sequence[Clause], count_tokens: TokenCounter, max_tokens: int
) -> list[Passage]:
    """The passages of one document's ``clauses``; windows where a clause exceeds the token budget."""
    budget = max_tokens - PROMPT_MARGIN
    prefix = passage_prefix(document)
    counts = count_tokens([prefix + clause.text for clause in clauses])
    passages: list[Passage] = []
    for clause, count in zip(clauses, counts, strict=True):
        pieces = [clause.text] if count <= budget else _fit(prefix, clause.text, count_tokens, budget)
        passages.extend(Passage(clause.id, window, prefix + piece) for window, piece in enumerate(pieces))
    return passages


def _fit(prefix: str, text: str, count_tokens: TokenCounter, budget: int) -> list[str]:
    """Split ``text`` in two (at the sentence end nearest the middle) until every piece fits."""
    if len(text) <= 1 or count_tokens([prefix + text])[0] <= budget:
        return [text]
    middle = len(text) // 2
    cuts = [match.start() for match in _SENTENCE_END.finditer(text) if 0 < match.start() < len(text)]
    cut = min(cuts, key=lambda position: abs(position - middle)) if cuts else middle
    return _fit(prefix, text[:cut], count_tokens, budget) + _fit(prefix, text[cut:], count_tokens, budget)
