"""Turn an uploaded file into a parsed document: name, type and size checks, then the corpus parser — in a
child process bounded by the parse limits — on a temporary copy that keeps the original file name (and so
its suffix and its ``source``).

Temporary copies live in ``policyqa-upload-<pid>-*`` folders; a server killed mid-upload leaves its folder
behind, and the next server to start removes the folders of processes that no longer run."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import UploadFile

from policyqa.corpus.limits import ParseLimits
from policyqa.corpus.loaders import SUPPORTED_SUFFIXES
from policyqa.corpus.model import ParsedDocument
from policyqa.corpus.worker import ParseWorker
from policyqa.service.errors import InvalidFileNameError, PayloadTooLargeError, UnsupportedFileTypeError
from policyqa.text import is_well_formed

CHUNK_BYTES = 1024 * 1024
MAX_NAME_BYTES = 255  # the longest file name Linux file systems accept
MAX_SUFFIX_CHARS = 16
TEMP_PREFIX = "policyqa-upload-"
_TEMP_FOLDER = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-")

logger = logging.getLogger(__name__)


def safe_file_name(name: str | None) -> str:
    """The base name of a client-supplied file name (no folders, no leading dots), shortened to fit
    ``MAX_NAME_BYTES`` in UTF-8 (keeping its suffix); InvalidFileNameError for a NUL character or text that
    is not well-formed Unicode."""
    name = name or ""
    if "\x00" in name or not is_well_formed(name):
        raise InvalidFileNameError("the file name contains a NUL character or is not well-formed Unicode")
    base = PureWindowsPath(PurePosixPath(name).name).name.strip().lstrip(".") or "upload"
    if len(base.encode()) <= MAX_NAME_BYTES:
        return base
    suffix = Path(base).suffix[:MAX_SUFFIX_CHARS]  # a longer one is no supported type: refused as such
    stem = base[: len(base) - len(Path(base).suffix)]
    while len((stem + suffix).encode()) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


def check_file_type(file_name: str) -> None:
    """UnsupportedFileTypeError unless the parser reads files with this suffix."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnsupportedFileTypeError(
            f"{file_name}: unsupported file type {suffix or '(none)'!r} (supported: {supported})"
        )


def parse_upload(upload: UploadFile, max_bytes: int, limits: ParseLimits) -> ParsedDocument:
    """Parse ``upload``: 422 for a bad name, 415 for an unsupported type, 413 over ``max_bytes`` or a parse
    limit, 422 when unparsable or too slow to parse."""
    file_name = safe_file_name(upload.filename)
    check_file_type(file_name)
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as folder:
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
        with ParseWorker(limits) as worker:
            return worker.parse(path, name=file_name)


def remove_stale_upload_folders() -> list[Path]:
    """Delete the temporary upload folders of server processes that no longer run; returns them."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        match = _TEMP_FOLDER.match(folder.name)
        if match and folder.is_dir() and not _running(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        logger.info("removed stale upload folders", extra={"count": len(removed)})
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
