"""``POST /ask``: an answer with exact, numbered citations, optionally read after earlier turns."""

from __future__ import annotations

from fastapi import APIRouter

from policyqa.service.budget import within
from policyqa.service.conversation import Turn, ask_in_conversation, check_conversation
from policyqa.service.deps import AnswererDep, DeadlineDep, IndexDep, SettingsDep, StateDep
from policyqa.service.schemas import AskRequest, AskResponse, error_responses

router = APIRouter(tags=["ask"])


@router.post(
    "/ask",
    operation_id="ask_question",
    response_model=AskResponse,
    responses=error_responses(404, 413, 422, 503),
)
def ask(
    body: AskRequest,
    index: IndexDep,
    answerer: AnswererDep,
    state: StateDep,
    settings: SettingsDep,
    deadline: DeadlineDep,
) -> AskResponse:
    """Answer in the documents' own words: the best 1–3 sentences of the top ``k`` clauses whose relevance
    reaches POLICYQA_ANSWER_MIN_RELEVANCE, each cited, or ``no_answer`` when none does. 503 with
    ``Retry-After`` when the server is saturated or the question runs out of its time budget; 503 without it
    when no relevance model is fitted for the index's embedding model. With ``history``, a follow-up is
    answered as the standalone question in ``rewritten_question``, inside the document the conversation is
    about."""
    history = [Turn(message.role, message.content) for message in body.history]
    check_conversation(
        [*history, Turn("user", body.question)],
        max_messages=settings.chat_max_messages,
        max_chars=settings.chat_max_chars,
    )
    with within(deadline):
        retrieval, answer, resolved = ask_in_conversation(
            index,
            answerer,
            body.question,
            history,
            condense=state.condense if settings.answerer == "llm" else None,
            min_relevance=settings.answer_min_relevance,
            k=body.k,
            filters=body.filters.to_search_filters() if body.filters else None,
            home_region=body.home_region,
        )
    rewritten = resolved.question if resolved.rewritten else None
    return AskResponse.of(retrieval, answer, asked=body.question if rewritten else None, rewritten=rewritten)
