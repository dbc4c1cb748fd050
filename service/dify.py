"""Dify's External Knowledge API (``POST /retrieval``): its request and record models, its error body
``{"error_code", "error_msg"}``, knowledge bases as filter presets, ``metadata_condition`` as a document
filter, and the record score.

The contract: https://docs.dify.ai/en/use-dify/knowledge/external-knowledge-api. How the pieces were chosen:
docs/decisions/2026-12-01-dify-retrieval.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import date, timedelta
from itertools import accumulate
from typing import Any, Literal

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from policyqa.corpus.model import Document
from policyqa.errors import PolicyQAError
from policyqa.indexer import PolicyIndex
from policyqa.indexer.catalogue import passes
from policyqa.indexer.records import MAX_K, Hit, SearchFilters, filter_fields
from policyqa.service.errors import (
    MissingReadKeyError,
    WrongReadKeyError,
    public_message,
    status_of,
    validation_message,
)
from policyqa.service.schemas import Text, ValidityInfo
from policyqa.service.settings import DEFAULT_KNOWLEDGE_ID, ServiceSettings
from policyqa.text import normalize

DocumentTest = Callable[[Document], bool]
TEXT_NAMES = ("document_id", "title", "issuer", "doc_number", "region", "doc_type")
TEXT_OPERATORS = (
    "is",
    "is not",
    "contains",
    "not contains",
    "start with",
    "end with",
    "in",
    "not in",
    "empty",
    "not empty",
)
DATE_OPERATORS = ("is", "before", "after", "empty", "not empty")
# Conditions on the search rather than on documents: which versions it keeps.
VERSION_NAMES = ("as_of", "include_history")
_NAMED_FILTERS = frozenset(entry.name for entry in filter_fields())
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class UnknownKnowledgeBaseError(PolicyQAError):
    """A ``knowledge_id`` that is neither ``default`` nor a configured preset."""


class UnsupportedConditionError(PolicyQAError):
    """A ``metadata_condition`` naming a field or operator that cannot filter documents here."""


# Dify's error codes, with the HTTP status its contract gives them (AccessDeniedException is 403)
DIFY_ERRORS: dict[type[PolicyQAError], tuple[int, int]] = {
    MissingReadKeyError: (403, 1001),
    WrongReadKeyError: (403, 1002),
    UnknownKnowledgeBaseError: (404, 2001),
}


class DifyErrorBody(BaseModel):
    """Dify's error body; ``error_code`` is Dify's (1001, 1002, 2001) or else the HTTP status."""

    error_code: int = Field(examples=[1002])
    error_msg: str = Field(examples=["Authorization failed"])


class RetrievalSetting(BaseModel):
    top_k: int = Field(ge=1, le=MAX_K, description="most records to return", examples=[5])
    score_threshold: float = Field(
        ge=0,
        le=1,
        description="least score of a record (0: Dify's threshold is off); 0.5 is /ask's answer threshold",
        examples=[0.5],
    )


class Condition(BaseModel):
    name: str = Field(
        description="a document field: date, "
        + ", ".join(TEXT_NAMES)
        + "; or as_of (yyyy-mm-dd: the versions in force that day) or include_history (true: every version)",
        examples=["region"],
    )
    comparison_operator: str = Field(
        description=f"for date: {', '.join(DATE_OPERATORS)}; for the others: {', '.join(TEXT_OPERATORS)}",
        examples=["is"],
    )
    value: str | list[str] | int | float | None = Field(default=None, examples=["江苏"])


class MetadataCondition(BaseModel):
    logical_operator: Literal["and", "or"] | None = "and"
    conditions: list[Condition] | None = None


class RetrievalRequest(BaseModel):
    """What Dify sends; fields it may add later are ignored."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "knowledge_id": "default",
                    "query": "人才公寓的租金怎么确定？",
                    "retrieval_setting": {"top_k": 3, "score_threshold": 0.5},
                }
            ]
        }
    )

    knowledge_id: Text = Field(description="default (the whole index) or a POLICYQA_KNOWLEDGE_BASES preset")
    query: Text = Field(min_length=1, examples=["人才公寓的租金怎么确定？"])
    retrieval_setting: RetrievalSetting
    metadata_condition: MetadataCondition | None = None


class RecordMetadata(BaseModel):
    """Where the record comes from; always an object (Dify fails on null)."""

    clause_id: str = Field(examples=["6ef75ce9c01ce510-0004"])
    document_id: str
    path: list[str] = Field(examples=[["第四条"]])
    date: str | None = Field(description="the document's date, yyyy-mm-dd", examples=["2020-05-06"])
    issuer: str | None = Field(examples=["苏州市人民政府"])
    doc_number: str | None = Field(examples=["苏府规字〔2020〕3号"])
    region: str | None = Field(examples=["苏州市"])
    doc_type: str | None = Field(examples=["办法"])
    validity: ValidityInfo | None = Field(
        default=None, description="the version's validity on the search's day"
    )
    url: str = Field(
        description="the clause on the search page", examples=["http://127.0.0.1:8000/#/clause/…"]
    )


class Record(BaseModel):
    content: str = Field(description="the clause text")
    score: float = Field(ge=0, le=1)
    title: str = Field(
        description="the document as citations name it", examples=["《苏州市人才公寓管理办法》"]
    )
    metadata: RecordMetadata


class RetrievalResponse(BaseModel):
    records: list[Record]


def knowledge_filters(settings: ServiceSettings, knowledge_id: str) -> SearchFilters | None:
    """The filters of knowledge base ``knowledge_id`` (None for the whole index); UnknownKnowledgeBaseError
    when there is no such knowledge base."""
    if knowledge_id == DEFAULT_KNOWLEDGE_ID:
        return None
    preset = settings.knowledge_bases.get(knowledge_id)
    if preset is None:
        known = ", ".join([DEFAULT_KNOWLEDGE_ID, *sorted(settings.knowledge_bases)])
        raise UnknownKnowledgeBaseError(f"knowledge base {knowledge_id!r} does not exist (known: {known})")
    return preset.to_search_filters()


def retrieval_filters(
    index: PolicyIndex, preset: SearchFilters | None, condition: MetadataCondition | None
) -> SearchFilters | None:
    """``preset`` narrowed to the documents ``condition`` keeps; UnsupportedConditionError for a condition
    that cannot be evaluated on documents."""
    versions: dict[str, object] = {}
    if condition is not None:
        versions, condition = _version_conditions(condition)
    if versions:
        preset = replace(preset or SearchFilters(), **versions)
    test = document_test(condition) if condition is not None else None
    if test is None:
        return preset
    kept = frozenset(document.id for document in index.documents() if test(document))
    return replace(preset or SearchFilters(), document_ids=kept)


def _version_conditions(condition: MetadataCondition) -> tuple[dict[str, object], MetadataCondition]:
    """The search-wide conditions (``as_of`` is yyyy-mm-dd, ``include_history`` is true) apart from the
    document tests; UnsupportedConditionError for another operator, a bad value, or one under ``or``."""
    versions: dict[str, object] = {}
    rest = []
    for item in condition.conditions or ():
        if item.name not in VERSION_NAMES:
            rest.append(item)
            continue
        if condition.logical_operator == "or" or item.comparison_operator != "is":
            raise UnsupportedConditionError(
                f"metadata_condition: {item.name!r} takes the operator 'is', under 'and'"
            )
        if item.name == "as_of":
            versions["as_of"] = _date_value("is", item.value).isoformat()
        elif str(item.value).lower() in ("true", "1"):
            versions["include_history"] = True
        elif str(item.value).lower() not in ("false", "0"):
            raise UnsupportedConditionError(
                f"metadata_condition: 'include_history' is true or false, got {item.value!r}"
            )
    return versions, condition.model_copy(update={"conditions": rest})


# ---- metadata_condition → a test of documents --------------------------------------------------------------


def document_test(condition: MetadataCondition) -> DocumentTest | None:
    """Whether a document meets ``condition`` (None when it has no conditions)."""
    tests = [_condition_test(item) for item in condition.conditions or ()]
    if not tests:
        return None
    combine = any if condition.logical_operator == "or" else all
    return lambda document: combine(test(document) for test in tests)


def _condition_test(condition: Condition) -> DocumentTest:
    name, operator, value = condition.name, condition.comparison_operator, condition.value
    if name != "date" and name not in TEXT_NAMES:
        raise UnsupportedConditionError(
            f"metadata_condition: unknown name {name!r} (supported: date, {', '.join(TEXT_NAMES)})"
        )
    operators = DATE_OPERATORS if name == "date" else TEXT_OPERATORS
    if operator not in operators:
        raise UnsupportedConditionError(
            f"metadata_condition: comparison_operator {operator!r} is not supported for {name!r} "
            f"(supported: {', '.join(operators)})"
        )
    if operator in ("empty", "not empty"):
        return lambda document: bool(getattr(document, name)) == (operator == "not empty")
    if name == "date":
        return _date_test(operator, _date_value(operator, value))
    if operator in ("in", "not in"):
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(_is_text(item) for item in values):
            raise UnsupportedConditionError(
                f"metadata_condition: {name!r} {operator!r} needs a list of non-empty strings, got {value!r}"
            )
        tests = [_equals(name, item) for item in values]
        return lambda document: any(test(document) for test in tests) == (operator == "in")
    if not _is_text(value):
        raise UnsupportedConditionError(
            f"metadata_condition: {name!r} {operator!r} needs a non-empty string value, got {value!r}"
        )
    if operator in ("is", "is not"):
        test = _equals(name, value)
        return lambda document: test(document) == (operator == "is")
    wanted = normalize(value)
    match = {
        "contains": lambda text: wanted in text,
        "not contains": lambda text: wanted not in text,
        "start with": lambda text: text.startswith(wanted),
        "end with": lambda text: text.endswith(wanted),
    }[operator]
    return lambda document: match(normalize(getattr(document, name) or ""))


def _equals(name: str, value: str) -> DocumentTest:
    """``name`` is ``value``, as the search filter of that name means it (region: 江苏 = 江苏省)."""
    if name in _NAMED_FILTERS:
        filters = SearchFilters(**{name: value})
        return lambda document: passes(document, filters)
    return lambda document: getattr(document, name) == value


def _date_test(operator: str, day: date) -> DocumentTest:
    """Undated documents pass no date test (as with the search's date filters)."""
    bounds = {
        "is": SearchFilters(date_from=day.isoformat(), date_to=day.isoformat()),
        "before": SearchFilters(date_to=(day - timedelta(days=1)).isoformat()),
        "after": SearchFilters(date_from=(day + timedelta(days=1)).isoformat()),
    }[operator]
    return lambda document: passes(document, bounds)


def _date_value(operator: str, value: object) -> date:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise UnsupportedConditionError(
        f"metadata_condition: 'date' {operator!r} needs a yyyy-mm-dd date, got {value!r}"
    )


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


# ---- records -----------------------------------------------------------------------------------------------


def dify_score(relevance: float, threshold: float) -> float:
    """``relevance`` on Dify's 0-1 scale with /ask's answer ``threshold`` at 0.5: the relevance's odds
    divided by the threshold's, read back as a probability. Monotone; 0 and 1 stay put."""
    weighted = relevance * (1 - threshold)
    total = weighted + threshold * (1 - relevance)
    return round(weighted / total, 4) if total else float(relevance >= threshold)


def record_scores(hits: Sequence[Hit], threshold: float) -> list[float]:
    """The scores of ``hits`` (in search order) for Dify: each hit's ``dify_score``, raised to the best score
    ranked below it, so that scores never increase down the list and a ``score_threshold`` keeps the top
    records down to the last one relevant enough on its own (Dify re-sorting by score keeps our order)."""
    scores = [dify_score(hit.relevance or 0.0, threshold) for hit in hits]
    return list(accumulate(reversed(scores), max))[::-1]


def record(hit: Hit, score: float, page_url: str) -> Record:
    """The record of ``hit``: its clause's text, the document's cited title, and where it comes from."""
    document = hit.document
    return Record(
        content=hit.clause.text,
        score=score,
        title=document.cited_title,
        metadata=RecordMetadata(
            clause_id=hit.clause.id,
            document_id=document.id,
            path=list(hit.clause.path),
            date=document.date,
            issuer=document.issuer,
            doc_number=document.doc_number,
            region=document.region,
            doc_type=document.doc_type,
            validity=ValidityInfo.of(hit.validity) if hit.validity is not None else None,
            url=f"{page_url}#/clause/{hit.clause.id}",
        ),
    )


# ---- errors in Dify's shape --------------------------------------------------------------------------------


class DifyRoute(APIRoute):
    """A route whose request errors are Dify's ``{"error_code", "error_msg"}``: the three codes of Dify's
    contract, and invalid input as 400 (not the service's 422). The server's own state (413 over a limit,
    503 not ready or busy) keeps the service's ``{"detail"}``, as the middleware sends it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                return _dify_error(400, 400, validation_message(error))
            except HTTPException as error:  # 400: a body FastAPI cannot read (not UTF-8); 413 stays as is
                if error.status_code != 400:
                    raise
                return _dify_error(400, 400, str(error.detail))
            except PolicyQAError as error:
                status, code = DIFY_ERRORS.get(type(error), (None, None))
                if status is None:
                    status = 400 if status_of(error) == 422 else status_of(error)
                    if status >= 500:
                        raise
                    code = status
                return _dify_error(status, code, public_message(request, error))

        return handle


def _dify_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "error_msg": message}, status_code=status)


DIFY_ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": DifyErrorBody, "description": "Invalid request, or an unsupported metadata_condition"},
    403: {"model": DifyErrorBody, "description": "1001 missing or malformed Bearer header, 1002 wrong key"},
    404: {
        "model": DifyErrorBody,
        "description": "2001 no such knowledge base; an unknown document in a preset",
    },
}
