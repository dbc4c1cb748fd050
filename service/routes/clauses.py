"""``GET /clauses/{id}``: one clause in its document context, with its cross-references."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

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
                clause_id=next(
                    (
                        other.id
                        for other in catalogue.clauses_of(version)
                        if other.number == clause.number and clause.number
                    ),
                    None,
                ),
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
