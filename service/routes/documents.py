"""``/documents``: list, outline, upload and delete (writes need the API key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from policyqa.errors import PolicyQAError
from policyqa.indexer.validity import today
from policyqa.service.deps import IndexDep, LiveDep, MetricsDep, SettingsDep, WriteAccess
from policyqa.service.schemas import (
    DeleteResponse,
    DocumentDetail,
    DocumentMeta,
    DocumentSummary,
    IsoDate,
    OutlineEntry,
    UploadResponse,
    ValidityInfo,
    VersionEntry,
    error_responses,
)
from policyqa.service.upload import parse_upload

router = APIRouter(prefix="/documents", tags=["documents"])


@router.get(
    "", operation_id="list_documents", response_model=list[DocumentSummary], responses=error_responses(503)
)
def list_documents(index: IndexDep) -> list[DocumentSummary]:
    """Every indexed document's metadata and clause count."""
    return [
        DocumentSummary(
            **DocumentMeta.of(document).model_dump(), clause_count=len(index.clauses_of(document.id))
        )
        for document in index.documents()
    ]


@router.get(
    "/{document_id}",
    operation_id="get_document",
    response_model=DocumentDetail,
    responses=error_responses(404, 422, 503),
)
def get_document(
    document_id: str,
    index: IndexDep,
    as_of: Annotated[
        IsoDate | None, Query(description="the day validity is given for (default today)")
    ] = None,
) -> DocumentDetail:
    """A document's metadata, its clause outline in reading order, its validity on ``as_of`` and the other
    versions of its work."""
    document = index.document(document_id)
    day = as_of.isoformat() if as_of else today(index.settings)
    validity = index.catalogue.validity_on(document_id, day)
    return DocumentDetail(
        **DocumentMeta.of(document).model_dump(),
        references=list(document.references),
        clauses=[OutlineEntry.of(clause) for clause in index.clauses_of(document_id)],
        validity=ValidityInfo.of(validity),
        versions=[
            VersionEntry(
                id=version,
                date=index.document(version).date,
                validity=ValidityInfo.of(index.catalogue.validity_on(version, day)),
            )
            for version in validity.versions
        ],
    )


@router.post(
    "",
    operation_id="upload_document",
    response_model=UploadResponse,
    status_code=201,
    dependencies=[WriteAccess],
    responses=error_responses(401, 403, 413, 415, 422, 503, 507),
)
def upload_document(
    file: Annotated[UploadFile, File(description="政策文件: .txt .md .html .docx .pdf")],
    live: LiveDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> UploadResponse:
    """Parse one file and add it to the live index (a document with the same id is replaced). The parse runs
    in a child process within the parse limits, before the index's writer lock is taken."""
    try:
        parsed = parse_upload(file, settings.max_upload_bytes, settings.parse_limits)
        index = live.add(parsed)
    except PolicyQAError as error:
        metrics.upload_failed(error)
        raise
    metrics.uploads.labels(outcome="added").inc()
    return UploadResponse(
        document=DocumentMeta.of(parsed.document),
        clause_count=len(parsed.clauses),
        documents=int(index.manifest["documents"]),
        clauses=int(index.manifest["clauses"]),
    )


@router.delete(
    "/{document_id}",
    operation_id="delete_document",
    response_model=DeleteResponse,
    dependencies=[WriteAccess],
    responses=error_responses(401, 403, 404, 503, 507),
)
def delete_document(document_id: str, live: LiveDep) -> DeleteResponse:
    """Remove a document and its clauses from the live index."""
    index = live.remove(document_id)
    return DeleteResponse(
        deleted=document_id,
        documents=int(index.manifest["documents"]),
        clauses=int(index.manifest["clauses"]),
    )
