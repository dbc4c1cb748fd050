"""Cutting a body into citable clauses from its structure markers.

The citable unit is the article (第X条) when a document has articles. Otherwise it is a list item
under a part (（十二） under 四、), or a top-level item that has no items under it (a 一、 part without
sub-clauses, or a （一） of a document without 一、 parts). Lower levels (款 of an article, 项 （一）,
目 1., （1）, ①) stay inside their clause as ``parts``.

Nothing of the body is lost: every character outside the clauses is whitespace or a heading line
(第一章 总则, 四、健全…) that appears in the ``path`` of the clauses under it. A heading with no clause
under it becomes a clause itself, and text that belongs to no numbered clause (a preamble, text
between a chapter heading and its first article) becomes a clause numbered "" and headed "前言".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policyqa.corpus.model import Clause, Span
from policyqa.corpus.structure import ARTICLE, CN_COMMA, Marker
from policyqa.text import int_to_chinese

PREAMBLE = "前言"


@dataclass
class _Draft:
    start: int
    number: str
    heading: str
    path: tuple[str, ...]
    is_article: bool = False
    items: list[Marker] = field(default_factory=list)


def _roles(markers: list[Marker]) -> list[str]:
    """For each marker: "container", "group" (a part whose items are the clauses), "clause", "part" or
    "text" (numbering that is not structure here, e.g. a list before the first article)."""
    has_articles = any(marker.scheme == ARTICLE for marker in markers)
    roles: list[str] = []
    in_article = False
    for index, marker in enumerate(markers):
        if marker.kind == "container":
            roles.append("container")
            in_article = False
        elif has_articles:
            in_article = in_article or marker.scheme == ARTICLE
            roles.append("clause" if marker.scheme == ARTICLE else "part" if in_article else "text")
        elif marker.level == 0:
            roles.append("group" if marker.scheme == CN_COMMA and _has_children(markers, index) else "clause")
        elif marker.level == 1 and roles and _parent_role(markers, roles, index) == "group":
            roles.append("clause")
        else:
            roles.append("part")
    return roles


def _has_children(markers: list[Marker], index: int) -> bool:
    following = markers[index + 1] if index + 1 < len(markers) else None
    return following is not None and following.kind == "unit" and following.level == 1


def _parent_role(markers: list[Marker], roles: list[str], index: int) -> str:
    for back in range(index - 1, -1, -1):
        if markers[back].kind == "container" or markers[back].level == 0:
            return roles[back]
    return ""


def _containers_with_content(markers: list[Marker], roles: list[str]) -> set[int]:
    """Indexes of the container markers that have a clause or a sub-heading somewhere below them."""
    result: set[int] = set()
    open_containers: list[int] = []
    for index, marker in enumerate(markers):
        if marker.kind == "container":
            while open_containers and markers[open_containers[-1]].level >= marker.level:
                open_containers.pop()
            result.update(open_containers)
            open_containers.append(index)
        elif roles[index] == "clause":
            result.update(open_containers)
    return result


def segment(body: str, markers: list[Marker], document_id: str) -> tuple[Clause, ...]:
    """The clauses of ``body`` in reading order, ids ``{document_id}-{ordinal:04d}``."""
    roles = _roles(markers)
    with_clauses = _containers_with_content(markers, roles)
    drafts: list[tuple[_Draft, int]] = []
    containers: list[tuple[int, str]] = []  # (level, label) of the open headings
    group: str | None = None
    draft: _Draft | None = None
    cursor = 0

    def path() -> tuple[str, ...]:
        return tuple(label for _, label in containers) + ((group,) if group else ())

    def close(at: int) -> None:
        nonlocal draft
        if draft is not None:
            drafts.append((draft, at))
            draft = None
        elif body[cursor:at].strip():
            drafts.append((_Draft(cursor, "", PREAMBLE, (*path(), PREAMBLE)), at))

    for index, (marker, role) in enumerate(zip(markers, roles, strict=True)):
        if role in ("text", "part"):
            if role == "part" and draft is not None:
                draft.items.append(marker)
            continue
        close(marker.start)
        cursor = marker.end
        if role == "container":
            while containers and containers[-1][0] >= marker.level:
                containers.pop()
            group = None
            if index not in with_clauses:
                draft = _Draft(marker.start, marker.number, marker.heading, (*path(), marker.label))
            containers.append((marker.level, marker.label))
        elif role == "group":
            group = marker.label
            if not marker.heading_only:
                draft = _Draft(marker.start, "", PREAMBLE, (*path(), PREAMBLE))
        else:
            if marker.level == 0:
                group = None
            draft = _Draft(marker.start, marker.number, marker.heading, (*path(), marker.label))
            draft.is_article = marker.scheme == ARTICLE
    close(len(body))
    clauses = []
    for ordinal, (item, end) in enumerate(drafts, start=1):
        start = item.start + len(body[item.start : end]) - len(body[item.start : end].lstrip())
        end = start + len(body[start:end].rstrip())
        clauses.append(
            Clause(
                id=f"{document_id}-{ordinal:04d}",
                document_id=document_id,
                path=item.path,
                number=item.number,
                heading=item.heading,
                text=body[start:end],
                start=start,
                end=end,
                parts=_parts(body, start, end, item),
            )
        )
    return tuple(clauses)


def _parts(body: str, start: int, end: int, draft: _Draft) -> tuple[Span, ...]:
    """款 of an article (its paragraphs that are not list items) and the list items inside a clause."""
    item_starts = {item.start: item for item in draft.items}
    boundaries: list[tuple[int, int, str]] = []  # (start, depth; -1 for 款, label)
    paragraph = 0
    offset = start
    for line in body[start:end].split("\n"):
        line_start = offset + len(line) - len(line.lstrip())
        offset += len(line) + 1
        if not line.strip():
            continue
        item = item_starts.get(line_start)
        if item is not None:
            boundaries.append((line_start, item.level, item.number))
        elif draft.is_article:
            paragraph += 1
            boundaries.append((line_start, -1, f"第{int_to_chinese(paragraph)}款"))
    spans = []
    for index, (span_start, depth, label) in enumerate(boundaries):
        span_end = next((other for other, d, _ in boundaries[index + 1 :] if d <= depth), end)
        span_end = span_start + len(body[span_start:span_end].rstrip())
        spans.append(Span(label, span_start, span_end))
    return tuple(spans)
