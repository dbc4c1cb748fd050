"""``GET /clauses/{id}``: one clause in its document context."""

from __future__ import annotations

from fastapi import APIRouter

from policyqa.service.deps import IndexDep
from policyqa.service.schemas import ClauseDetail, DocumentMeta, Part, error_responses

router = APIRouter(tags=["clauses"])


@router.get(
    "/clauses/{clause_id}",
    operation_id="get_clause",
    response_model=ClauseDetail,
    responses=error_responses(404, 503),
)
def get_clause(clause_id: str, index: IndexDep) -> ClauseDetail:
    """The clause's text, path, numbered parts (offsets into its text) and neighbours."""
    clause = index.clause(clause_id)
    previous, following = index.neighbours(clause_id)
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
    )
