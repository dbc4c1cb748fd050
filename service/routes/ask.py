"""``POST /ask``: an extractive answer with exact, numbered citations."""

from __future__ import annotations

from fastapi import APIRouter

from policyqa.service.answers import ask as answer_question
from policyqa.service.budget import within
from policyqa.service.deps import AnswererDep, DeadlineDep, IndexDep
from policyqa.service.schemas import AskRequest, AskResponse, error_responses

router = APIRouter(tags=["ask"])


@router.post("/ask", response_model=AskResponse, responses=error_responses(404, 413, 422, 503))
def ask(body: AskRequest, index: IndexDep, answerer: AnswererDep, deadline: DeadlineDep) -> AskResponse:
    """Answer in the documents' own words: the best 1–3 sentences of the top ``k`` clauses, each cited, or
    ``no_answer`` when the collection does not cover the question. 503 with ``Retry-After`` when the server
    is saturated or the question runs out of its time budget."""
    with within(deadline):
        retrieval, answer = answer_question(
            index,
            answerer,
            body.question,
            k=body.k,
            filters=body.filters.to_search_filters() if body.filters else None,
            home_region=body.home_region,
        )
    return AskResponse.of(retrieval.query.text, answer)
