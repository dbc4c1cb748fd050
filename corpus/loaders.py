"""Reading a file into text: plain text and Markdown (any supported encoding), HTML, DOCX and PDF."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from policyqa.corpus.encoding import UndecodableError, decode_text
from policyqa.corpus.errors import DocumentError, DocumentTooLargeError
from policyqa.corpus.limits import DEFAULT_LIMITS, ParseLimits, check_archive, check_chars

log = logging.getLogger(__name__)

_BINARY_PROBE = 8192
_MAX_REASON_CHARS = 200  # of a third-party parser's own message
_MAX_BYTES_PER_CHAR = 4  # UTF-8 and GB18030: a text file over 4 bytes a character is over the limit unread


class LoadedText(NamedTuple):
    """Text read from a file; ``markdown`` tells the parser to read lawrefbook Markdown structure."""

    text: str
    markdown: bool


def _decode(path: Path, data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> str:
    if b"\x00" in data[:_BINARY_PROBE] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DocumentError(path, "binary file, not text")
    try:
        text, encoding = decode_text(data)
    except UndecodableError as error:
        raise DocumentError(path, str(error)) from error
    log.debug("%s: decoded as %s", path, encoding)
    return text


def _read_html(path: Path, data: bytes, limits: ParseLimits) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(path, data, limits), "html.parser")
    for hidden in soup(["script", "style", "noscript", "template"]):
        hidden.decompose()
    return soup.get_text("\n")


def _read_docx(path: Path, data: bytes, limits: ParseLimits) -> str:
    """The paragraphs of a .docx, after checking that its zip members inflate within the limits (a .docx is
    a zip archive: a few MB can inflate to GBs of XML)."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_archive(path, archive, limits)
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as error:
        raise DocumentError(path, f"not a readable .docx file ({_short(error)})") from error
    return "\n".join(paragraph.text for paragraph in document.paragraphs)


def _read_pdf(path: Path, data: bytes, limits: ParseLimits) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)  # repair notes on damaged files: the outcome is reported below
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        raise DocumentError(path, f"not a readable .pdf file ({error})") from error
    finally:
        pypdf_log.setLevel(level)
    if not "".join(pages).strip():
        raise DocumentError(path, "the PDF has no text layer (scanned image?)")
    return "\n".join(pages)


_READERS: dict[str, tuple[Callable[[Path, bytes, ParseLimits], str], bool]] = {
    ".txt": (_decode, False),
    ".md": (_decode, True),
    ".markdown": (_decode, True),
    ".html": (_read_html, False),
    ".htm": (_read_html, False),
    ".docx": (_read_docx, False),
    ".pdf": (_read_pdf, False),
}
SUPPORTED_SUFFIXES = frozenset(_READERS)


def load_text(path: Path, limits: ParseLimits = DEFAULT_LIMITS) -> LoadedText:
    """The text of ``path``; raises DocumentError for missing, unsupported, binary, empty or broken files
    (whatever a format's parser raises on a broken file, lxml's and zipfile's errors included), and
    DocumentTooLargeError for a file over ``limits``."""
    if not path.exists():
        raise DocumentError(path, "no such file")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise DocumentError(
            path, f"unsupported file type {path.suffix or '(none)'!r} (supported: {supported})"
        )
    try:
        if reader[0] is _decode:  # plain text and Markdown
            _check_text_file_size(path, limits)
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise DocumentError(path, "no such file") from error
    except IsADirectoryError as error:
        raise DocumentError(path, "is a folder, not a file") from error
    except OSError as error:
        raise DocumentError(path, f"cannot read: {error.strerror}") from error
    if not data.strip():
        raise DocumentError(path, "empty file")
    read, markdown = reader
    try:
        text = read(path, data, limits)
    except DocumentError:
        raise
    except Exception as error:  # a parser of untrusted input may raise anything on a broken file
        raise DocumentError(path, f"not a readable {path.suffix.lower()} file ({_short(error)})") from error
    check_chars(path, text, limits)
    if not text.strip():
        raise DocumentError(path, "no text in the file")
    return LoadedText(text.replace("\r\n", "\n").replace("\r", "\n"), markdown)


def _check_text_file_size(path: Path, limits: ParseLimits) -> None:
    """A plain-text file too big to hold ``max_document_chars`` characters is refused before it is read."""
    size = path.stat().st_size
    if size > limits.max_document_chars * _MAX_BYTES_PER_CHAR:
        raise DocumentTooLargeError(
            path,
            f"{size:,} bytes of text is over the limit of {limits.max_document_chars:,} characters "
            "(POLICYQA_MAX_DOCUMENT_CHARS)",
        )


def _short(error: Exception) -> str:
    """A parser's message, one line and bounded."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"
