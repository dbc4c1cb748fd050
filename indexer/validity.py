"""Works, versions and validity: which version of a document is in force on a day.

Derived from the catalogue's documents whenever an index version is loaded (so a build, an upload and a
delete all recompute it): documents with the same normalised title, subtitle and region are versions of one
work, ordered by the day they took effect. A version is in force from its 施行 date (as the document states
it; else its publication date, marked inferred) until the first of: the next version's 施行 date, its stated
expiry, or the 施行 date of a document that says it repeals it (《…》同时废止, matched by title or 文号).

The issuer is not part of a work's key: the versions of a law are adopted by different bodies (监察法 by the
全国人民代表大会 in 2018, amended by its 常务委员会 in 2024).
"""

from __future__ import annotations

import datetime
import itertools
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from policyqa.corpus.model import Document
from policyqa.text import compatibility_form, fold

if TYPE_CHECKING:
    from policyqa.indexer.settings import IndexSettings

NOT_YET = "尚未施行"
IN_FORCE = "现行有效"
REVISED = "已被修订"
REPEALED = "已废止"
EXPIRED = "已失效"
STATUSES = (NOT_YET, IN_FORCE, REVISED, REPEALED, EXPIRED)

_NATIONAL_PREFIX = "中华人民共和国"
_EDITION_NOTE = re.compile(r"[(（]\s*(?:19|20)\d{2}\s*年?\s*(?:修正|修订|修改)?\s*本?\s*[)）]$")
_SPACE = re.compile(r"\s+")


def today(settings: IndexSettings) -> str:
    """The day searches are answered for: ``settings.today`` (``POLICYQA_TODAY``, for tests and demos) when
    set, else the server's date."""
    return (settings.today or datetime.date.today()).isoformat()


def title_key(title: str) -> str:
    """A title in matching form: compatibility form, folded, no spaces, without 中华人民共和国 and an
    edition note such as （2018年修正）: 《中华人民共和国行政监察法》 and 《行政监察法》 match."""
    key = _SPACE.sub("", fold(compatibility_form(title))).strip("《》")
    key = _EDITION_NOTE.sub("", key)
    return key.removeprefix(_NATIONAL_PREFIX) or key


def number_key(doc_number: str) -> str:
    """A 文号 in matching form (brackets and spaces unified): 苏政发[2018]12号 = 苏政发〔2018〕12号."""
    key = _SPACE.sub("", fold(compatibility_form(doc_number)))
    return key.translate(str.maketrans("[]【】()", "〔〕〔〕〔〕"))


@dataclass(frozen=True)
class Validity:
    """A version's validity on a day: ``status`` (尚未施行 / 现行有效 / 已被修订 / 已废止 / 已失效), the day
    it took effect, the first day it is no longer in force (None: open), the document ids of the next
    version and of the document that repealed it, and the version chain it belongs to."""

    status: str
    effective_from: str | None
    effective_to: str | None
    superseded_by: str | None
    repealed_by: str | None
    published: str | None = None
    effective_from_inferred: bool = False
    supersedes: str | None = None
    repeals: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    as_of: str | None = None


@dataclass
class _Version:
    document: Document
    work: tuple[str, str, str]
    effective_from: str | None
    inferred: bool
    effective_to: str | None = None
    end: str | None = None  # the status once effective_to has passed
    superseded_by: str | None = None
    supersedes: str | None = None
    repealed_by: str | None = None
    repeals: list[str] = field(default_factory=list)
    versions: tuple[str, ...] = ()


def _effective_from(document: Document) -> tuple[str | None, bool]:
    """The day a version took effect and whether it is inferred: the stated 施行 date, unless it lies
    before the publication date (an amended text keeps its first 施行 sentence: the version took effect
    when it was published), else the publication date (inferred)."""
    stated, published = document.effective_date, document.date
    if stated and (published is None or stated >= published):
        return stated, False
    return published, True


def _day_after(day: str) -> str:
    return (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()


class ValidityTable:
    """Version chains and repeal relations of a set of documents, and their status on any day."""

    def __init__(self, documents: Sequence[Document]):
        self._versions: dict[str, _Version] = {}
        works: dict[tuple[str, str, str], list[_Version]] = defaultdict(list)
        for document in documents:
            work = (title_key(document.title), title_key(document.subtitle or ""), document.region or "")
            start, inferred = _effective_from(document)
            version = _Version(document, work, start, inferred)
            self._versions[document.id] = version
            works[work].append(version)
        self._works = {work: sorted(found, key=_order) for work, found in works.items()}
        # the parts of a split law (民法典's 物权编, 合同编 …): the same title, region and date
        self._parts: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
        for version in self._versions.values():
            work = version.work
            self._parts[(work[0], work[2], version.document.date)].append(version.document.id)
        self._by_title: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self._by_number: dict[str, tuple[str, str, str]] = {}
        for work, versions in self._works.items():
            self._by_title[work[0]].append(work)
            for version in versions:
                if version.document.doc_number:
                    self._by_number[number_key(version.document.doc_number)] = work
        for versions in self._works.values():
            chain = tuple(version.document.id for version in versions)
            for earlier, later in itertools.pairwise(versions):
                earlier.superseded_by, later.supersedes = later.document.id, earlier.document.id
                self._end(earlier, later.effective_from, REVISED)
            for version in versions:
                version.versions = chain
                if version.document.expires:
                    self._end(version, _day_after(version.document.expires), EXPIRED)
        self._link_repeals()

    # ---- building ----------------------------------------------------------------------------------

    @staticmethod
    def _end(version: _Version, day: str | None, status: str) -> None:
        """End ``version`` on ``day`` (the first day it is not in force) unless it already ends earlier."""
        if day is None:
            return
        if version.effective_to is None or day < version.effective_to:
            version.effective_to, version.end = day, status

    def _link_repeals(self) -> None:
        for repealing in sorted(self._versions.values(), key=_order):
            for name in repealing.document.repeals:
                work = self.find_work(name, near=repealing.document)
                if work is None or work == repealing.work:
                    continue  # not indexed, or an earlier version of its own work (a revision)
                for target in self._works[work]:
                    if (
                        repealing.effective_from
                        and target.effective_from
                        and (target.effective_from >= repealing.effective_from)
                    ):
                        continue  # a later version of the work was not repealed by this
                    if target.repealed_by is None:
                        target.repealed_by = repealing.document.id
                        repealing.repeals.append(target.document.id)
                        self._end(target, repealing.effective_from, REPEALED)

    # ---- lookups -----------------------------------------------------------------------------------

    def find_work(self, name: str, near: Document | None = None) -> tuple[str, str, str] | None:
        """The work a citation names, by 文号 or by title (of the citing document's region first, then
        national, then any); None when it is not indexed."""
        work = self._by_number.get(number_key(name))
        if work is not None:
            return work
        works = self._by_title.get(title_key(name), [])
        if not works:
            return None
        region = near.region if near is not None else None
        for wanted in (region or "", ""):
            for candidate in works:
                if candidate[2] == wanted:
                    return candidate
        return works[0]

    def version_on(self, work: tuple[str, str, str], day: str | None) -> str:
        """The id of the version of ``work`` in force on ``day``: the last one that took effect by then,
        else the first one (None ``day``: the latest)."""
        versions = self._works[work]
        chosen = versions[0] if day else versions[-1]
        for version in versions:
            if day and version.effective_from and version.effective_from <= day:
                chosen = version
        return chosen.document.id

    def parts_of(self, document_id: str) -> list[str]:
        """The document and the other parts of the same split law version (民法典 物权编 → every 编), in
        index order; just the document for any other."""
        version = self._versions[document_id]
        return self._parts[(version.work[0], version.work[2], version.document.date)]

    def effective_from(self, document_id: str) -> str | None:
        """The day ``document_id`` took effect (stated or inferred)."""
        return self._versions[document_id].effective_from

    def on(self, document_id: str, day: str) -> Validity:
        """The validity of ``document_id`` on ``day`` (yyyy-mm-dd)."""
        version = self._versions[document_id]
        return Validity(
            status=_status(version, day),
            effective_from=version.effective_from,
            effective_to=version.effective_to,
            superseded_by=version.superseded_by,
            repealed_by=version.repealed_by,
            published=version.document.date,
            effective_from_inferred=version.inferred,
            supersedes=version.supersedes,
            repeals=tuple(version.repeals),
            versions=version.versions,
            as_of=day,
        )

    def in_force(self, document_id: str, day: str) -> bool:
        """Whether ``document_id`` is in force on ``day``."""
        return _status(self._versions[document_id], day) == IN_FORCE

    def chains(self) -> list[tuple[str, ...]]:
        """The version chains of two or more versions (document ids, oldest first)."""
        return [
            tuple(version.document.id for version in versions)
            for versions in self._works.values()
            if len(versions) > 1
        ]

    def repeal_relations(self) -> list[tuple[str, str]]:
        """``(repealing document id, repealed document id)`` pairs."""
        return [
            (version.repealed_by, version.document.id)
            for version in self._versions.values()
            if version.repealed_by is not None
        ]


def _order(version: _Version) -> tuple[str, str]:
    return (version.effective_from or "", version.document.date or "")


def _status(version: _Version, day: str) -> str:
    if version.effective_from and day < version.effective_from:
        return NOT_YET
    if version.effective_to is None or day < version.effective_to:
        return IN_FORCE
    return version.end or IN_FORCE
