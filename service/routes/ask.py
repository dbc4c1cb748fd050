"""``POST /ask``: an extractive answer with exact, numbered citations."""

from __future__ import annotations

from fastapi import APIRouter

from policyqa.service.deps import AnswererDep, IndexDep, SettingsDep
from policyqa.service.limits import checked_text
from policyqa.service.schemas import AskRequest, AskResponse, Citation, DocumentMeta, error_responses

router = APIRouter(tags=["ask"])


@router.post("/ask", response_model=AskResponse, responses=error_responses(404, 413, 422, 503))
def ask(body: AskRequest, index: IndexDep, answerer: AnswererDep, settings: SettingsDep) -> AskResponse:
    """Answer in the documents' own words: the best 1–3 sentences of the top ``k`` clauses, each cited, or
    ``no_answer`` when the collection does not cover the question."""
    question = checked_text(body.question, settings.max_query_chars, "question")
    filters = body.filters.to_search_filters() if body.filters else None
    answer = answerer.answer(index, question, k=body.k, filters=filters, home_region=body.home_region)
    citations = [
        Citation(
            n=number,
            clause_id=quote.clause.id,
            document=DocumentMeta.of(quote.document),
            path=list(quote.clause.path),
            quote=quote.text,
            start=quote.start,
            end=quote.end,
        )
        for number, quote in enumerate(answer.quotes, start=1)
    ]
    return AskResponse(
        question=question,
        answer=answer.text,
        no_answer=answer.no_answer,
        confidence=answer.confidence,
        citations=citations,
    )
