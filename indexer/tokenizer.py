"""BM25 tokenisation of Chinese policy text: a private jieba instance with a policy-domain dictionary.

Text is first brought to the search form (``policyqa.text.normalize``: full-width → half-width,
traditional → simplified, lower case). 文号 (苏政发〔2018〕123号, with [] () 【】 brackets normalised
to 〔〕) and article numbers (第二十四条 and 第24条 alike become ``第24条``) are kept as single
tokens; the rest is cut by jieba in search mode (long words also yield their sub-words), stop words
and punctuation dropped.
Optionally every pair of adjacent Chinese characters that jieba did not already emit as a word is
added as a token too (recall for plain-language questions whose wording differs from the text).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources

import jieba

from policyqa.text import ARTICLE_REFERENCE, CJK, DOC_NUMBER_FROM_BRACKET, article_key, normalize

TOKENIZER_VERSION = "1"
_RESOURCES = resources.files("policyqa.indexer") / "resources"
_SPECIAL = re.compile(rf"(?P<doc>{DOC_NUMBER_FROM_BRACKET})|(?P<article>{ARTICLE_REFERENCE})")
_CJK_RUN = re.compile(rf"[{CJK}]+")
_WORD_CHAR = re.compile(rf"[{CJK}0-9a-z]")
_FILLER = frozenset("的吗呢吧啊呀嘛")  # particles that make a character pair meaningless
_PREFIX_WINDOW = 8  # Chinese characters before a 文号 bracket searched for its issuer prefix


def _read_resource(name: str) -> str:
    return (_RESOURCES / name).read_text(encoding="utf-8")


@lru_cache(maxsize=2)
def _segmenter(dictionary: str) -> jieba.Tokenizer:
    """A private jieba instance with the policy dictionary, loaded once per process (about a second)."""
    logging.getLogger("jieba").setLevel(logging.WARNING)  # jieba logs its dictionary loading at DEBUG
    segmenter = jieba.Tokenizer()
    segmenter.initialize()
    for line in dictionary.splitlines():
        fields = line.split()
        if fields:
            segmenter.add_word(fields[0], int(fields[1]) if len(fields) > 1 else None)
    return segmenter


class Tokenizer:
    """Turns text into BM25 terms; cheap to create (jieba loads its dictionary once per process)."""

    def __init__(self, *, bigrams: bool = True):
        self.bigrams = bigrams
        self._dictionary = _read_resource("policy_dict.txt")
        self._stopwords = frozenset(_read_resource("stopwords.txt").split())

    @property
    def config(self) -> dict:
        """What the manifest records so queries are tokenised exactly like the indexed text."""
        return {
            "version": TOKENIZER_VERSION,
            "bigrams": self.bigrams,
            "dictionary_hash": self.dictionary_hash,
        }

    @property
    def dictionary_hash(self) -> str:
        """sha256 over the dictionary, the stop words and the tokeniser version."""
        digest = hashlib.sha256()
        for part in (TOKENIZER_VERSION, self._dictionary, "\0", " ".join(sorted(self._stopwords))):
            digest.update(part.encode("utf-8"))
        return digest.hexdigest()

    @property
    def _jieba(self) -> jieba.Tokenizer:
        return _segmenter(self._dictionary)

    def tokenize(self, text: str) -> list[str]:
        """The BM25 terms of ``text`` in order (duplicates kept: they are term frequencies)."""
        text = normalize(text)
        tokens: list[str] = []
        position = 0
        for match in _SPECIAL.finditer(text):
            before = text[position : match.start()]
            if match.group("doc"):
                prefix, before = self._doc_number_prefix(before)
                tokens.extend(self._plain_tokens(before))
                tokens.append(f"{prefix}〔{match['year']}〕{int(match['serial'])}号")
            else:
                tokens.extend(self._plain_tokens(before))
                tokens.append(f"第{article_key(match.group('article'))}条")
            position = match.end()
        tokens.extend(self._plain_tokens(text[position:]))
        return tokens

    def _doc_number_prefix(self, before: str) -> tuple[str, str]:
        """Split the issuer abbreviation (苏政发, 国科发高) off the text preceding a 文号 bracket."""
        run = re.search(rf"[{CJK}]{{1,{_PREFIX_WINDOW}}}$", before)
        if not run:
            return "", before
        words = list(self._jieba.cut(run.group(), HMM=False))
        prefix = words[-1]
        if len(prefix) == 1 and len(words) > 1:  # 国科发 + 高
            prefix = words[-2] + prefix
        return prefix, before[: len(before) - len(prefix)]

    def _plain_tokens(self, text: str) -> Iterator[str]:
        word_spans: set[tuple[int, int]] = set()
        for word, start, end in self._jieba.tokenize(text, mode="search", HMM=True):
            word_spans.add((start, end))
            word = word.strip()
            if word and word not in self._stopwords and _WORD_CHAR.search(word):
                yield word
        if self.bigrams:
            for run in _CJK_RUN.finditer(text):
                for start in range(run.start(), run.end() - 1):
                    bigram = text[start : start + 2]
                    if (start, start + 2) not in word_spans and not _FILLER.intersection(bigram):
                        yield bigram
