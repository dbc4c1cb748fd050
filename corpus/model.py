"""Typed records that flow from corpus/ to indexer/ and service/."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A numbered unit inside a clause (款, 项 （一）, 目 1., （1）, ①), offsets into the document text."""

    label: str  # e.g. "第二款", "（三）", "1."
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One source document and its metadata. ``text`` is the stored body that clause offsets point into."""

    id: str
    title: str
    text: str
    date: str | None = None  # ISO yyyy-mm-dd
    issuer: str | None = None
    doc_number: str | None = None  # 文号, e.g. 苏政发〔2018〕123号
    region: str | None = None
    doc_type: str | None = None  # 意见/通知/办法/条例/规定/决定/解释/法…
    references: tuple[str, ...] = ()  # titles and 文号 cited in the body, not the document's own
    source: str | None = None  # file name it was loaded from
    subtitle: str | None = None  # second title of a split law, e.g. 物权编 of 中华人民共和国民法典

    @property
    def cited_title(self) -> str:
        """How citations name it: ``《title》``, then the subtitle of a split law
        (``《中华人民共和国民法典》物权编``)."""
        return f"《{self.title}》{self.subtitle or ''}"

    def metadata(self) -> dict:
        """The JSON-ready metadata (everything but the text)."""
        return {
            "id": self.id,
            "title": self.title,
            "subtitle": self.subtitle,
            "date": self.date,
            "issuer": self.issuer,
            "doc_number": self.doc_number,
            "region": self.region,
            "doc_type": self.doc_type,
            "references": list(self.references),
        }


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
