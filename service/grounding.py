"""The grounding check of an LLM's reply: every sentence must cite a retrieved clause ([n]) and be
supported by it.

Support is character n-gram containment: the share of the sentence's character bigrams (in search form,
punctuation and markers left out) that occur in the cited clause's text. A sentence that restates the
clause keeps most of its bigrams; an invented number, name or obligation brings bigrams the clause does not
have. A number changes only a bigram or two (百分之三十 for 百分之五十), so every number the sentence writes
must also occur in the clause. The threshold was calibrated on ``eval/data/grounding_examples.jsonl``
(docs/decisions/2026-12-01-chatbot-api.md; ``experiments/calibrate_grounding.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from policyqa.indexer.sentences import split_sentences
from policyqa.text import NUMERAL, normalize

NGRAM = 2
SUPPORT_THRESHOLD = 0.7  # least containment of a supported sentence (calibrated; see the module doc)

# [1], ［1］, 【1】 and lists ([1,2], [1、2]); a run [1][2] is one match per marker
MARKER = re.compile(r"[\[［【]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]］】]")
_NOT_TEXT = re.compile(r"[^0-9a-z\u3400-\u9fff]")
_NUMBER = re.compile(NUMERAL)


@dataclass(frozen=True)
class CheckedSentence:
    """A sentence of the reply without its markers; ``supported_by`` are the cited sources (1-based)
    whose text contains enough of it."""

    text: str
    cited: tuple[int, ...]
    supported_by: tuple[int, ...]


def ngrams(text: str, n: int = NGRAM) -> set[str]:
    """The character n-grams of ``text`` in search form, without punctuation or spaces."""
    letters = _NOT_TEXT.sub("", normalize(text))
    return {letters[i : i + n] for i in range(len(letters) - n + 1)}


def containment(claim: str, source: str, n: int = NGRAM) -> float:
    """The share of ``claim``'s n-grams found in ``source`` (0 for a claim with none)."""
    wanted = ngrams(claim, n)
    return len(wanted & ngrams(source, n)) / len(wanted) if wanted else 0.0


def numbers_found(claim: str, source: str) -> bool:
    """Whether every number ``claim`` writes (2018, 三十, 百分之五十's 五十) occurs in ``source``."""
    written = normalize(source)
    return all(number in written for number in _NUMBER.findall(normalize(claim)))


def supports(claim: str, source: str, threshold: float = SUPPORT_THRESHOLD) -> bool:
    """Whether ``source`` supports ``claim``: enough of its bigrams, and every one of its numbers."""
    return containment(claim, source) >= threshold and numbers_found(claim, source)


def cited_numbers(sentence: str) -> tuple[int, ...]:
    """The source numbers the sentence's markers cite, in order, without repeats."""
    numbers = [int(number) for match in MARKER.finditer(sentence) for number in re.findall(r"\d+", match[1])]
    return tuple(dict.fromkeys(numbers))


def reply_sentences(reply: str) -> list[str]:
    """The reply's sentences, each with its markers: a marker written after the full stop (``…。[1]``)
    stays with the sentence before it."""
    sentences: list[str] = []
    for sentence in split_sentences(reply):
        text = sentence.text
        leading = re.match(rf"^(?:{MARKER.pattern}\s*)+", text)
        if leading and sentences:
            sentences[-1] += leading.group(0).strip()
            text = text[leading.end() :].strip()
        if text:
            sentences.append(text)
    return sentences


def check_reply(
    reply: str, sources: Sequence[str], threshold: float = SUPPORT_THRESHOLD
) -> list[CheckedSentence]:
    """Each sentence of ``reply`` with the sources (``sources[n - 1]`` is [n]) it cites and those that
    support it; markers outside 1..len(sources) cite nothing."""
    checked = []
    for sentence in reply_sentences(reply):
        cited = tuple(n for n in cited_numbers(sentence) if 1 <= n <= len(sources))
        text = MARKER.sub("", sentence).strip()
        supported = tuple(n for n in cited if supports(text, sources[n - 1], threshold))
        checked.append(CheckedSentence(text, cited, supported))
    return checked
