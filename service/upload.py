"""Turn an uploaded file into a parsed document: type and size checks, then the corpus parser on a
temporary copy that keeps the original file name (and so its suffix and its ``source``)."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import UploadFile

from policyqa.corpus.errors import DocumentError
from policyqa.corpus.loaders import SUPPORTED_SUFFIXES
from policyqa.corpus.model import ParsedDocument
from policyqa.corpus.parse import parse_file
from policyqa.service.errors import PayloadTooLargeError, UnsupportedFileTypeError

CHUNK_BYTES = 1024 * 1024


def safe_file_name(name: str | None) -> str:
    """The base name of a client-supplied file name (no folders, no leading dots)."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name.strip().lstrip(".")
    return base or "upload"


def check_file_type(file_name: str) -> None:
    """UnsupportedFileTypeError unless the parser reads files with this suffix."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnsupportedFileTypeError(
            f"{file_name}: unsupported file type {suffix or '(none)'!r} (supported: {supported})"
        )


def parse_upload(upload: UploadFile, max_bytes: int) -> ParsedDocument:
    """Parse ``upload``: 415 for an unsupported type, 413 over ``max_bytes``, 422 when unparsable."""
    file_name = safe_file_name(upload.filename)
    check_file_type(file_name)
    with tempfile.TemporaryDirectory(prefix="policyqa-upload-") as folder:
        path = Path(folder) / file_name
        size = 0
        with path.open("wb") as out:
            while chunk := upload.file.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLargeError(
                        f"{file_name}: file is over the upload limit of {max_bytes} bytes"
                    )
                out.write(chunk)
        try:
            return parse_file(path)
        except DocumentError as error:
            raise DocumentError(file_name, error.reason) from error
