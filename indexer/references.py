"""Cross-references resolved to clauses: "本法第十二条" to the same version's 第十二条, "《…》第X条" to the
version of the cited work in force on the citing version's 施行 date, 前款/本条 to the clause itself, 前条 to
the article before it.

The references are found once per clause when it is indexed (``policyqa.text.find_references``, stored in
SQLite); what they point at depends on which documents are indexed, so they are resolved whenever an index
version is loaded (lazily, on the first lookup).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from policyqa.text import TextReference, article_key, chinese_to_int, find_references

# 一、 二、: the numbered items of a document without articles
_ITEM_NUMBER = re.compile(r"([一二三四五六七八九十百]+)、")
# An amending document and the law it amends: 中华人民共和国刑法修正案（九）,
# 关于修改《中华人民共和国公司法》的决定.
_AMENDING = re.compile(r"(?P<law>.+?)修正案(?:[（(][^）)]*[）)])?|.*关于修改《(?P<amended>[^》]+)》的决定")

if TYPE_CHECKING:
    from policyqa.indexer.catalogue import Catalogue


@dataclass(frozen=True)
class Link:
    """A reference in clause ``source_clause_id`` (offsets into its text) and what it resolves to:
    ``target_clause_id`` the (first) clause it cites, ``target_clause_ids`` every clause of a range; both
    targets None when the cited document or article is not indexed."""

    source_clause_id: str
    text: str
    start: int
    end: int
    kind: str
    target_document_id: str | None
    target_clause_id: str | None
    target_clause_ids: tuple[str, ...] = ()
    title: str | None = None
    paragraph: int | None = None
    item: int | None = None


class CrossReferences:
    """Every clause's outgoing links and, for each clause, the clauses that cite it."""

    def __init__(self, catalogue: Catalogue, stored: Mapping[str, Sequence[TextReference]] | None):
        self._catalogue = catalogue
        self._articles: dict[str, list[tuple[str, str]]] = {}
        self.outgoing: dict[str, list[Link]] = {}
        incoming: dict[str, list[str]] = defaultdict(list)
        for document in catalogue.documents():
            previous_article: str | None = None
            for clause_id, number in catalogue.numbered(document.id):
                found = (
                    stored.get(clause_id, ())
                    if stored is not None
                    else find_references(catalogue.clause(clause_id).text)
                )
                links = [
                    self._resolve(clause_id, document.id, reference, previous_article) for reference in found
                ]
                if links:
                    self.outgoing[clause_id] = links
                for target in dict.fromkeys(t for link in links for t in link.target_clause_ids):
                    if target != clause_id:
                        incoming[target].append(clause_id)
                if article_key(number):
                    previous_article = clause_id
        self.incoming = dict(incoming)

    def references_out(self, clause_id: str) -> list[Link]:
        """The links in a clause's text, in reading order."""
        return list(self.outgoing.get(clause_id, ()))

    def cited_by(self, clause_id: str) -> list[str]:
        """Ids of the clauses that cite ``clause_id`` (each once, in index order)."""
        return list(self.incoming.get(clause_id, ()))

    # ---- resolution ---------------------------------------------------------------------------------

    def _articles_of(self, document_id: str) -> list[tuple[str, str]]:
        """``(article key, clause id)`` of a document's articles in reading order; for a document without
        articles whose clauses are numbered 一、二、 (a 刑法修正案: "《刑法修正案（九）》第七条" is its 七、),
        those."""
        if document_id not in self._articles:
            clauses = self._catalogue.numbered(document_id)
            articles = [(key, clause_id) for clause_id, number in clauses if (key := article_key(number))]
            if not articles:
                articles = [
                    (str(chinese_to_int(match.group(1))), clause_id)
                    for clause_id, number in clauses
                    if (match := _ITEM_NUMBER.fullmatch(number))
                ]
            self._articles[document_id] = articles
        return self._articles[document_id]

    def _resolve(
        self, clause_id: str, clause_document_id: str, reference: TextReference, previous_article: str | None
    ) -> Link:
        targets: tuple[str, ...] = ()
        document_id: str | None = clause_document_id
        if reference.kind == "this_clause":
            targets = (clause_id,)
        elif reference.kind == "previous_clause":
            targets = (previous_article,) if previous_article else ()
        else:
            if reference.kind == "titled":
                document_id = self._cited_version(clause_document_id, reference)
            elif (amended := self._amended_version(clause_document_id)) is not None:
                document_id = (
                    amended  # 本法 in the text a 修正案 or 修改…的决定 writes into the law it amends
                )
            if document_id is not None and reference.article is not None:
                targets = self._span(document_id, reference.article, reference.article_end)
                if targets:
                    document_id = self._catalogue.document_id_of(targets[0])
        return Link(
            source_clause_id=clause_id,
            text=reference.text,
            start=reference.start,
            end=reference.end,
            kind=reference.kind,
            target_document_id=document_id if (targets or reference.article is None) else None,
            target_clause_id=targets[0] if targets else None,
            target_clause_ids=targets,
            title=reference.title,
            paragraph=reference.paragraph,
            item=reference.item,
        )

    def _amended_version(self, document_id: str) -> str | None:
        """For an amending document (中华人民共和国刑法修正案（九）, 关于修改《…》的决定), the version of the
        amended work in force when it took effect; None for any other document or when that is not indexed."""
        document = self._catalogue.document(document_id)
        match = _AMENDING.fullmatch(document.title)
        if match is None:
            return None
        validity = self._catalogue.validity
        work = validity.find_work(match.group("amended") or match.group("law"), near=document)
        return None if work is None else validity.version_on(work, validity.effective_from(document_id))

    def _cited_version(self, citing_document_id: str, reference: TextReference) -> str | None:
        validity = self._catalogue.validity
        citing = self._catalogue.document(citing_document_id)
        work = None
        if reference.doc_number:
            work = validity.find_work(reference.doc_number, near=citing)
        if work is None and reference.title:
            work = validity.find_work(reference.title, near=citing)
        if work is None:
            return None
        return validity.version_on(work, validity.effective_from(citing_document_id))

    def _span(self, document_id: str, first: str, last: str | None) -> tuple[str, ...]:
        """The clause ids of article ``first`` (through ``last`` for a range) of a document, or of another
        part of the same split law (民法典's 编 number their articles through)."""
        for part in sorted(
            self._catalogue.validity.parts_of(document_id), key=lambda part: part != document_id
        ):
            found = self._span_in(part, first, last)
            if found:
                return found
        return ()

    def _span_in(self, document_id: str, first: str, last: str | None) -> tuple[str, ...]:
        articles = self._articles_of(document_id)
        keys = [key for key, _clause in articles]
        if first not in keys:
            return ()
        start = keys.index(first)
        end = keys.index(last, start) if last in keys[start:] else start
        return tuple(clause_id for _key, clause_id in articles[start : end + 1])
