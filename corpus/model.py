"""Typed records that flow from corpus/ to indexer/ and service/."""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Span:
    """A numbered unit inside a clause (款, 项 （一）, 目 1., （1）, ①), offsets into the document text."""

    label: str  # e.g. "第二款", "（三）", "1."
    start: int
    end: int


def _described(description: str, *, listed: bool = True, default: object = MISSING) -> Any:
    """A document field: its description (the API documents it), and whether it is one of the metadata
    fields every listing shows (``listed``); the text, the source file and the cited references are not."""
    return field(default=default, metadata={"description": description, "listed": listed})


@dataclass(frozen=True)
class Document:
    """One source document and its metadata. ``text`` is the stored body that clause offsets point into.

    The fields are defined here once: the index's documents table, the API's document models, the CLI's
    JSON and the parse output all derive from them (``listed_fields``); adding a field is one line here plus
    an index format bump."""

    id: str = _described("sha1 of the normalised title, subtitle, date and 文号")
    title: str = _described("the title, without prefixes like 【地区】")
    text: str = _described("the stored body that clause offsets point into", listed=False)
    date: str | None = _described("ISO yyyy-mm-dd", default=None)
    issuer: str | None = _described("issuing body", default=None)
    doc_number: str | None = _described("文号, e.g. 苏政发〔2018〕123号", default=None)
    region: str | None = _described(
        "province or place it belongs to; none for national documents", default=None
    )
    doc_type: str | None = _described("意见/通知/办法/条例/规定/决定/解释/法…", default=None)
    references: tuple[str, ...] = _described(
        "titles and 文号 cited in the body, not the document's own", listed=False, default=()
    )
    source: str | None = _described("file name it was loaded from", listed=False, default=None)
    subtitle: str | None = _described(
        "second title of a split law, e.g. 物权编 of 中华人民共和国民法典", default=None
    )
    region_basis: str | None = _described(
        "how the region was found: 'stated' (title, 【】 prefix or issuer) or 'inferred' (from the places "
        "and addressees the body names); none without a region",
        default=None,
    )
    issuer_level: str | None = _described(
        "省级 / 市级 when inferred from how the body speaks (全省, 省政府 / 全市, 市政府)", default=None
    )
    effective_date: str | None = _described(
        "施行 date as the document states it (自2024年7月1日起施行; 自公布/印发之日起施行 = date); "
        "none when it does not say",
        listed=False,
        default=None,
    )
    expires: str | None = _described(
        "last day in force as the document states it (有效期至…, 有效期X年)", listed=False, default=None
    )
    repeals: tuple[str, ...] = _described(
        "titles and 文号 the document says it repeals (《…》同时废止)", listed=False, default=()
    )

    @property
    def cited_title(self) -> str:
        """How citations name it: ``《title》``, then the subtitle of a split law
        (``《中华人民共和国民法典》物权编``)."""
        return f"《{self.title}》{self.subtitle or ''}"

    def metadata(self) -> dict:
        """The JSON-ready metadata: the listed fields and the references (everything but text and source)."""
        return {**listed_metadata(self), "references": list(self.references)}


def listed_fields() -> tuple[Field, ...]:
    """The document fields every listing shows (search hits, citations, document lists)."""
    return tuple(entry for entry in fields(Document) if entry.metadata["listed"])


def listed_metadata(document: Document) -> dict:
    """``document``'s listed fields by name."""
    return {entry.name: getattr(document, entry.name) for entry in listed_fields()}


@dataclass(frozen=True)
class Clause:
    """A citable unit: an article (第X条) in laws, a numbered clause in 意见/通知-style documents.

    ``text`` equals ``document.text[start:end]`` and includes the clause's own number and heading.
    """

    id: str
    document_id: str
    path: tuple[str, ...]  # ancestor labels ending with this clause: ("四、健全…", "（十二）发展…")
    number: str  # e.g. "第二十四条", "（十二）", "四、"
    heading: str  # e.g. "发展创新型孵化器"; "" when the clause has none
    text: str
    start: int
    end: int
    parts: tuple[Span, ...] = field(default=())


@dataclass(frozen=True)
class ParsedDocument:
    """A document and its clauses in reading order."""

    document: Document
    clauses: tuple[Clause, ...]
