"""Relevance labels of evaluation queries and how a search hit is judged against them.

Three kinds of label, one per JSON shape:
- ``{"title": …, "article": …}``: the hit's document title equals ``title`` and its clause number is the
  same article (compared with ``policyqa.text.article_key``, so 第二十四条 == 第24条). Any
  document with that title counts (several versions/dates of one law).
- ``{"clause_id": …}``: the hit is exactly that clause.
- ``{"heading": …}`` (optionally with ``"title"``): the hit's clause heading, or its number followed by its
  heading, equals ``heading`` — e.g. "（十二）发展创新型孵化器" or "发展创新型孵化器". Robust to re-parsing
  because it does not depend on ids.
Titles and headings are compared in ``policyqa.text.label_form`` (NFKC, full→half-width,
traditional→simplified), without whitespace and quotes.
"""

from __future__ import annotations

from dataclasses import dataclass

from policyqa.corpus.model import Clause, Document
from policyqa.text import article_key, label_form


@dataclass(frozen=True)
class ArticleLabel:
    """An article of a law, identified by document title and article number (e.g. 第八条)."""

    title: str
    article: str

    def __post_init__(self) -> None:
        if article_key(self.article) is None:
            raise ValueError(f"not an article number: {self.article!r}")

    def matches(self, clause: Clause, document: Document) -> bool:
        """Is this clause the labelled article (in any document with the labelled title)?"""
        return label_form(document.title) == label_form(self.title) and article_key(
            clause.number
        ) == article_key(self.article)

    def describe(self) -> str:
        """Human-readable form for reports."""
        return f"《{self.title}》{self.article}"


@dataclass(frozen=True)
class ClauseLabel:
    """One clause, by its stable id."""

    clause_id: str

    def matches(self, clause: Clause, document: Document) -> bool:
        """Is this the labelled clause?"""
        return clause.id == self.clause_id

    def describe(self) -> str:
        """Human-readable form for reports."""
        return self.clause_id


@dataclass(frozen=True)
class HeadingLabel:
    """A clause by its heading or number+heading, optionally restricted to documents with ``title``."""

    heading: str
    title: str | None = None

    def matches(self, clause: Clause, document: Document) -> bool:
        """Does the clause carry this heading (and, when given, belong to a document with this title)?"""
        if self.title is not None and label_form(document.title) != label_form(self.title):
            return False
        wanted = label_form(self.heading)
        return bool(clause.heading) and wanted in (
            label_form(clause.heading),
            label_form(clause.number + clause.heading),
        )

    def describe(self) -> str:
        """Human-readable form for reports."""
        return f"《{self.title}》{self.heading}" if self.title else self.heading


Label = ArticleLabel | ClauseLabel | HeadingLabel


def label_from_json(data: object) -> Label:
    """Build a label from its JSON object (extra keys ignored); ``ValueError`` says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"a relevant label must be an object, got {type(data).__name__}")
    if "clause_id" in data:
        return ClauseLabel(_text_field(data, "clause_id"))
    if "heading" in data:
        title = _text_field(data, "title") if "title" in data else None
        return HeadingLabel(_text_field(data, "heading"), title)
    if "title" in data or "article" in data:
        return ArticleLabel(_text_field(data, "title"), _text_field(data, "article"))
    raise ValueError('a relevant label needs "clause_id", "heading" or "title" + "article"')


def _text_field(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{key}" must be a non-empty string')
    return value.strip()


def judge(clause: Clause, document: Document, labels: tuple[Label, ...]) -> int | None:
    """Index of the first label the clause satisfies, or None when it is not relevant."""
    return next((i for i, label in enumerate(labels) if label.matches(clause, document)), None)
