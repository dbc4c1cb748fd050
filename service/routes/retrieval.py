"""``POST /retrieval``: Dify's External Knowledge API over the same search as ``GET /search``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from policyqa.service.answers import answer_threshold
from policyqa.service.budget import within
from policyqa.service.deps import DeadlineDep, IndexDep, ReadAccess, SettingsDep
from policyqa.service.dify import (
    DIFY_ERROR_RESPONSES,
    DifyRoute,
    RetrievalRequest,
    RetrievalResponse,
    knowledge_filters,
    record,
    record_scores,
    retrieval_filters,
)
from policyqa.service.schemas import error_responses

router = APIRouter(tags=["dify"], route_class=DifyRoute)


@router.post(
    "/retrieval",
    operation_id="dify_retrieval",
    response_model=RetrievalResponse,
    dependencies=[ReadAccess],
    responses={**error_responses(413, 503), **DIFY_ERROR_RESPONSES},
)
def retrieval(
    body: RetrievalRequest, request: Request, index: IndexDep, settings: SettingsDep, deadline: DeadlineDep
) -> RetrievalResponse:
    """Dify's external knowledge base: the top ``top_k`` clauses of a hybrid search in knowledge base
    ``knowledge_id`` (``default``: the whole index; else a POLICYQA_KNOWLEDGE_BASES preset), narrowed by
    ``metadata_condition``, in the search's order, those scoring below ``score_threshold`` dropped.
    ``score`` is relevance on a scale where /ask's answer threshold is 0.5, never rising down the list.
    Errors are Dify's ``{"error_code", "error_msg"}``: 1001/1002 (403) for a missing or wrong
    ``Authorization: Bearer`` key when POLICYQA_READ_API_KEYS is set, 2001 (404) for an unknown knowledge
    base, 400 for invalid input."""
    setting = body.retrieval_setting
    preset = knowledge_filters(settings, body.knowledge_id)
    filters = retrieval_filters(index, preset, body.metadata_condition)
    if deadline is not None:
        deadline.check("before the search")
    with within(deadline):
        found = index.retrieve(body.query, k=setting.top_k, filters=filters)
    page_url = str(request.url_for("page"))
    scores = record_scores(found.hits, answer_threshold(index, settings.answer_min_relevance))
    return RetrievalResponse(
        records=[
            record(hit, score, page_url)
            for hit, score in zip(found.hits, scores, strict=True)
            if score >= setting.score_threshold
        ]
    )
