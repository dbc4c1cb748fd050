"""``GET /search``: clauses matching a query, with highlights."""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from policyqa.indexer.records import MAX_K, SearchMode
from policyqa.indexer.tokenizer import normalize
from policyqa.service.deps import IndexDep, TokenizerDep
from policyqa.service.highlight import highlight_spans
from policyqa.service.schemas import (
    HOME_REGION_DESCRIPTION,
    MAX_HOME_REGION_CHARS,
    DocumentMeta,
    Filters,
    SearchHit,
    SearchResponse,
    error_responses,
)

router = APIRouter(tags=["search"])


@router.get("/search", response_model=SearchResponse, responses=error_responses(404, 422, 503))
def search(
    index: IndexDep,
    tokenizer: TokenizerDep,
    q: Annotated[str, Query(description="查询词或问题", examples=["创新型孵化器"])],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="number of clauses to return")] = 10,
    mode: Annotated[SearchMode, Query(description="bm25, dense or hybrid")] = "hybrid",
    document_id: Annotated[
        str | None, Query(description="only clauses of this document", examples=["f0e25f4cd2aa2725"])
    ] = None,
    region: Annotated[str | None, Query(examples=["江苏省"])] = None,
    issuer: Annotated[str | None, Query(examples=["江苏省人民政府"])] = None,
    doc_type: Annotated[str | None, Query(examples=["意见"])] = None,
    date_from: Annotated[date | None, Query(description="yyyy-mm-dd, inclusive")] = None,
    date_to: Annotated[date | None, Query(description="yyyy-mm-dd, inclusive")] = None,
    home_region: Annotated[
        str | None,
        Query(max_length=MAX_HOME_REGION_CHARS, description=HOME_REGION_DESCRIPTION, examples=["江苏"]),
    ] = None,
) -> SearchResponse:
    """Search clauses by keywords or meaning (``mode``), optionally filtered by document metadata."""
    filters = Filters(
        document_id=document_id,
        region=region,
        issuer=issuer,
        doc_type=doc_type,
        date_from=date_from,
        date_to=date_to,
    ).to_search_filters()
    started = time.perf_counter()
    retrieval = index.retrieve(q, mode=mode, k=k, filters=filters, home_region=home_region)
    query = retrieval.query.text
    terms = tokenizer.tokenize(query)
    results = [
        SearchHit(
            clause_id=hit.clause.id,
            score=round(hit.score, 6),
            document=DocumentMeta.of(hit.document),
            path=list(hit.clause.path),
            heading=hit.clause.heading,
            text=hit.clause.text,
            highlights=[list(span) for span in highlight_spans(hit.clause.text, terms, normalize)],
        )
        for hit in retrieval.hits
    ]
    took_ms = round((time.perf_counter() - started) * 1000, 1)
    return SearchResponse(query=query, took_ms=took_ms, hits=results)
