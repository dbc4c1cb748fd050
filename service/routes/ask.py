"""``POST /ask``: an extractive answer with exact, numbered citations."""

from __future__ import annotations

from fastapi import APIRouter

from policyqa.service.answers import ask as answer_question
from policyqa.service.budget import within
from policyqa.service.deps import AnswererDep, DeadlineDep, IndexDep, SettingsDep
from policyqa.service.schemas import AskRequest, AskResponse, error_responses

router = APIRouter(tags=["ask"])


@router.post("/ask", response_model=AskResponse, responses=error_responses(404, 413, 422, 503))
def ask(
    body: AskRequest, index: IndexDep, answerer: AnswererDep, settings: SettingsDep, deadline: DeadlineDep
) -> AskResponse:
    """Answer in the documents' own words: the best 1–3 sentences of the top ``k`` clauses whose relevance
    reaches POLICYQA_ANSWER_MIN_RELEVANCE, each cited, or ``no_answer`` when none does. 503 with
    ``Retry-After`` when the server is saturated or the question runs out of its time budget; 503 without it
    when no relevance model is fitted for the index's embedding model."""
    with within(deadline):
        retrieval, answer = answer_question(
            index,
            answerer,
            body.question,
            min_relevance=settings.answer_min_relevance,
            k=body.k,
            filters=body.filters.to_search_filters() if body.filters else None,
            home_region=body.home_region,
        )
    return AskResponse.of(retrieval, answer)
