"""``GET /search``: clauses matching a query, with highlights."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query

from policyqa.service.budget import within
from policyqa.service.deps import DeadlineDep, IndexDep, TokenizerDep
from policyqa.service.highlight import highlight_spans
from policyqa.service.schemas import (
    DocumentMeta,
    SearchHit,
    SearchParameters,
    SearchResponse,
    ValidityInfo,
    error_responses,
)
from policyqa.text import normalize

router = APIRouter(tags=["search"])


@router.get(
    "/search",
    operation_id="search_clauses",
    response_model=SearchResponse,
    responses=error_responses(404, 422, 503),
)
def search(
    index: IndexDep,
    tokenizer: TokenizerDep,
    deadline: DeadlineDep,
    params: Annotated[SearchParameters, Query()],
) -> SearchResponse:
    """Search clauses by keywords or meaning (``mode``), optionally filtered by document metadata. 503 with
    ``Retry-After`` when the server is saturated or the search runs out of its time budget."""
    filters = params.to_search_filters()
    started = time.perf_counter()
    if deadline is not None:
        deadline.check("before the search")
    with within(deadline):
        retrieval = index.retrieve(
            params.q, mode=params.mode, k=params.k, filters=filters, home_region=params.home_region
        )
    query = retrieval.query.text
    terms = tokenizer.tokenize(query)
    results = [
        SearchHit(
            clause_id=hit.clause.id,
            score=round(hit.score, 6),
            relevance=hit.relevance,
            document=DocumentMeta.of(hit.document),
            path=list(hit.clause.path),
            heading=hit.clause.heading,
            text=hit.clause.text,
            highlights=[list(span) for span in highlight_spans(hit.clause.text, terms, normalize)],
            validity=ValidityInfo.of(hit.validity),
        )
        for hit in retrieval.hits
    ]
    took_ms = round((time.perf_counter() - started) * 1000, 1)
    return SearchResponse(query=query, took_ms=took_ms, hits=results)
