"""A clause's sentences: where they end, and which of them are worth quoting.

Decided once here for everything that works with sentences: the index stores one vector per quotable
sentence (``indexer/sentence_vectors.py``), the extractive answerer quotes them, the grounding check splits
an LLM's reply with the same rule. ``SENTENCE_RULE`` names the rule's version: stored sentence vectors are
used only by a rule that splits the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from policyqa.corpus.model import Clause
from policyqa.text import compatibility_form

SENTENCE_RULE = 1  # bump when split_sentences or quotable_sentences changes what they return
SENTENCE_ENDINGS = frozenset("。！？；!?;\n")
CLOSING_MARKS = frozenset("”’」』）)】")
_LABEL_SEPARATORS = " \t\u3000.．、：:，,"


@dataclass(frozen=True)
class Sentence:
    """A sentence of a clause: ``text == clause.text[start:end]``."""

    start: int
    end: int
    text: str


def split_sentences(text: str) -> list[Sentence]:
    """Sentences ending at 。！？；(or half-width !?;) or a line break; closing quotes stay with their
    sentence; surrounding whitespace is trimmed; offsets point into ``text``."""
    sentences: list[Sentence] = []
    start = 0
    index = 0
    while index < len(text):
        if text[index] in SENTENCE_ENDINGS:
            end = index + 1
            while end < len(text) and text[end] in CLOSING_MARKS:
                end += 1
            _append_trimmed(sentences, text, start, end)
            start = index = end
        else:
            index += 1
    _append_trimmed(sentences, text, start, len(text))
    return sentences


def _append_trimmed(sentences: list[Sentence], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if _has_content(text[start:end]):
        sentences.append(Sentence(start, end, text[start:end]))


def quotable_sentences(clause: Clause) -> list[Sentence]:
    """The clause's sentences minus its bare number/heading (``（十二）发展创新型孵化器。`` says nothing
    on its own); a leading number and heading are cut off the first sentence."""
    result = []
    for sentence in split_sentences(clause.text):
        start = _skip_label(clause, sentence)
        if start < sentence.end and _has_content(clause.text[start : sentence.end]):
            result.append(Sentence(start, sentence.end, clause.text[start : sentence.end]))
    return result


def _skip_label(clause: Clause, sentence: Sentence) -> int:
    position = sentence.start
    for label in (clause.number, clause.heading):
        written = clause.text[position : position + len(label)]
        if label and compatibility_form(written) == compatibility_form(label):
            position += len(label)
            while position < sentence.end and clause.text[position] in _LABEL_SEPARATORS:
                position += 1
    return position


def _has_content(text: str) -> bool:
    return any(char.isalnum() for char in text)
