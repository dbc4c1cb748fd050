"""``GET /clauses/{id}``: one clause in its document context, with its cross-references."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from policyqa.corpus.model import Clause
from policyqa.indexer.validity import today
from policyqa.service.deps import IndexDep
from policyqa.service.schemas import (
    CitingClause,
    ClauseDetail,
    ClauseVersion,
    DocumentMeta,
    IsoDate,
    Part,
    ReferenceLink,
    ValidityInfo,
    error_responses,
)

router = APIRouter(tags=["clauses"])
MIN_SIMILARITY = 0.3  # share of character bigrams two versions of an article have in common, at least


def counterpart(clause: Clause, candidates: list[Clause]) -> str | None:
    """The clause of another version that is this one's: the one sharing the most character bigrams (articles
    are renumbered between versions: 公司法 2018 第二十六条 is 2023's 第四十七条), if it shares at least
    ``MIN_SIMILARITY`` of them; else the one with the same number; else None."""
    own = _bigrams(clause.text)
    best, score = None, 0.0
    for candidate in candidates:
        other = _bigrams(candidate.text)
        similarity = len(own & other) / max(1, len(own | other))
        if similarity > score:
            best, score = candidate.id, similarity
    if best is not None and score >= MIN_SIMILARITY:
        return best
    return next((other.id for other in candidates if clause.number and other.number == clause.number), None)


def _bigrams(text: str) -> set[str]:
    body = "".join(text.split())
    return {body[i : i + 2] for i in range(len(body) - 1)}


@router.get(
    "/clauses/{clause_id}",
    operation_id="get_clause",
    response_model=ClauseDetail,
    responses=error_responses(404, 422, 503),
)
def get_clause(
    clause_id: str,
    index: IndexDep,
    as_of: Annotated[
        IsoDate | None, Query(description="the day validity is given for (default today)")
    ] = None,
) -> ClauseDetail:
    """The clause's text, path, numbered parts (offsets into its text), neighbours, its version's validity on
    ``as_of``, the references in its text (``references_out``, each resolved to the clause it cites) and the
    clauses citing it (``cited_by``)."""
    clause = index.clause(clause_id)
    previous, following = index.neighbours(clause_id)
    catalogue = index.catalogue
    day = as_of.isoformat() if as_of else today(index.settings)
    citing = [catalogue.clause(source) for source in catalogue.links.cited_by(clause_id)]
    return ClauseDetail(
        id=clause.id,
        document=DocumentMeta.of(index.document(clause.document_id)),
        path=list(clause.path),
        number=clause.number,
        heading=clause.heading,
        text=clause.text,
        parts=[
            Part(label=p.label, start=p.start - clause.start, end=p.end - clause.start) for p in clause.parts
        ],
        previous=previous,
        next=following,
        validity=ValidityInfo.of(catalogue.validity_on(clause.document_id, day)),
        references_out=[ReferenceLink.of(link) for link in catalogue.links.references_out(clause_id)],
        other_versions=[
            ClauseVersion(
                document_id=version,
                date=catalogue.document(version).date,
                validity=ValidityInfo.of(catalogue.validity_on(version, day)),
                clause_id=counterpart(clause, catalogue.clauses_of(version)),
            )
            for version in catalogue.validity_on(clause.document_id, day).versions
            if version != clause.document_id
        ],
        cited_by=[
            CitingClause(
                clause_id=source.id,
                document=DocumentMeta.of(catalogue.document(source.document_id)),
                path=list(source.path),
            )
            for source in citing
        ],
    )
