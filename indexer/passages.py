"""Passages: the texts that are embedded and BM25-indexed, one or more per clause.

A passage's ``text`` — what is embedded, and the key of the embedding cache — is the document's cited
title (``《title》``, plus a split law's subtitle) + a newline + the clause text. Its ``lexical_text`` —
what BM25 indexes — also names the clause's ancestor headings (``第二章 扶持措施``) after the title. Each
retriever gets what serves it (full lawrefbook, STARD-train, 1,235 questions): mean-pooled embeddings
match short questions better without the headings (dense MRR@10 0.359 → 0.395), while BM25 loses with
them gone (0.358 → 0.348). A clause longer than the embedder's token budget is cut into windows (at
sentence ends where possible, else mid-sentence); every window carries the same prefixes and cites the
same clause.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from policyqa.corpus.model import Clause, Document

PROMPT_MARGIN = 16  # tokens kept free for the model's passage prompt and special tokens
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")

TokenCounter = Callable[[list[str]], list[int]]


@dataclass(frozen=True)
class Passage:
    """Window ``window`` (0-based) of clause ``clause_id``; ``text`` is embedded, ``lexical_text`` is
    BM25-indexed."""

    clause_id: str
    window: int
    text: str
    lexical_text: str


def passage_prefix(document: Document) -> str:
    """The cited title (``《中华人民共和国民法典》物权编``) + newline."""
    return document.cited_title + "\n"


def lexical_prefix(document: Document, path: Sequence[str]) -> str:
    """The cited title + the ancestor headings (the path without the clause itself) + newline."""
    return " ".join([document.cited_title, *path[:-1]]) + "\n"


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
        lexical = lexical_prefix(document, clause.path)
        passages.extend(
            Passage(clause.id, window, prefix + piece, lexical + piece) for window, piece in enumerate(pieces)
        )
    return passages


def _fit(prefix: str, text: str, count_tokens: TokenCounter, budget: int) -> list[str]:
    """Split ``text`` in two (at the sentence end nearest the middle) until every piece fits."""
    if len(text) <= 1 or count_tokens([prefix + text])[0] <= budget:
        return [text]
    middle = len(text) // 2
    cuts = [match.start() for match in _SENTENCE_END.finditer(text) if 0 < match.start() < len(text)]
    cut = min(cuts, key=lambda position: abs(position - middle)) if cuts else middle
    return _fit(prefix, text[:cut], count_tokens, budget) + _fit(prefix, text[cut:], count_tokens, budget)


def window_layout(clause_text: str, passage_texts: Sequence[str]) -> tuple[int, list[int]] | None:
    """How :func:`clause_passages` laid a clause out in its passages (texts in window order): the length of
    their common prefix and where each window starts in ``clause_text``; None when the texts are not such a
    layout (every window carries the same prefix, and the windows joined are the clause text)."""
    if not passage_texts:
        return None
    prefix, rest = divmod(sum(map(len, passage_texts)) - len(clause_text), len(passage_texts))
    if rest or prefix < 0 or "".join(text[prefix:] for text in passage_texts) != clause_text:
        return None
    if any(text[:prefix] != passage_texts[0][:prefix] for text in passage_texts):
        return None
    starts = [0]
    for text in passage_texts[:-1]:
        starts.append(starts[-1] + len(text) - prefix)
    return prefix, starts
