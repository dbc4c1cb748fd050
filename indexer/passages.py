"""Passages: the texts that are embedded and BM25-indexed, one or more per clause.

A passage is ``《title》`` + the clause's ancestor labels joined by spaces + a newline + the clause text
(the embedding cache is keyed by this exact text). A clause longer than the embedder's token budget is
cut into windows (at sentence ends where possible, else mid-sentence); every window carries the same
prefix and cites the same clause.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from corpus.model import Clause

PROMPT_MARGIN = 16  # tokens kept free for the model's passage prompt and special tokens
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")

TokenCounter = Callable[[list[str]], list[int]]


@dataclass(frozen=True)
class Passage:
    """Window ``window`` (0-based) of clause ``clause_id``; ``text`` is what gets embedded."""

    clause_id: str
    window: int
    text: str


def passage_prefix(title: str, path: Sequence[str]) -> str:
    """``《title》`` + ancestor labels (the path without the clause itself) + newline."""
    return f"《{title}》" + " ".join(path[:-1]) + "\n"


def clause_passages(
    title: str, clauses: Sequence[Clause], count_tokens: TokenCounter, max_tokens: int
) -> list[Passage]:
    """The passages of one document's ``clauses``; windows where a clause exceeds the token budget."""
    budget = max_tokens - PROMPT_MARGIN
    prefixes = [passage_prefix(title, clause.path) for clause in clauses]
    counts = count_tokens([prefix + clause.text for prefix, clause in zip(prefixes, clauses, strict=True)])
    passages: list[Passage] = []
    for prefix, clause, count in zip(prefixes, clauses, counts, strict=True):
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
