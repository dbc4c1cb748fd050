"""Spans of a clause text that match a query's terms, found on normalised text and mapped back to the
original offsets (so full-width, traditional or upper-case variants in the text still highlight)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

Span = tuple[int, int]


def highlight_spans(text: str, terms: Iterable[str], normalise: Callable[[str], str]) -> list[Span]:
    """Sorted, merged ``(start, end)`` offsets into ``text`` where any of the (normalised) ``terms`` occurs.

    ``normalise`` is applied character by character, so every normalised position maps back to exactly
    one original character even when a character normalises to several (``㈠`` → ``(一)``) or to none.
    """
    normalised, origin = _normalise_with_offsets(text, normalise)
    spans: list[Span] = []
    for term in {term for term in terms if term}:
        position = normalised.find(term)
        while position >= 0:
            end = position + len(term)
            spans.append((origin[position], origin[end - 1] + 1))
            position = normalised.find(term, position + 1)
    return merge_spans(spans)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Union of possibly overlapping or touching spans, sorted by start."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _normalise_with_offsets(text: str, normalise: Callable[[str], str]) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the index of the original character."""
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        piece = _normalised_char(char, normalise)
        pieces.append(piece)
        origin.extend([index] * len(piece))
    return "".join(pieces), origin


@functools.lru_cache(maxsize=1 << 16)  # a few thousand distinct characters, each normalised once
def _normalised_char(char: str, normalise: Callable[[str], str]) -> str:
    return normalise(char)
