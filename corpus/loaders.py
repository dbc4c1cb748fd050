"""Reading a file into text: plain text and Markdown (any supported encoding), HTML, DOCX and PDF."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from policyqa.corpus.encoding import UndecodableError, decode_text
from policyqa.corpus.errors import DocumentError

log = logging.getLogger(__name__)

_BINARY_PROBE = 8192


class LoadedText(NamedTuple):
    """Text read from a file; ``markdown`` tells the parser to read lawrefbook Markdown structure."""

    text: str
    markdown: bool


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:_BINARY_PROBE] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DocumentError(path, "binary file, not text")
    try:
        text, encoding = decode_text(data)
    except UndecodableError as error:
        raise DocumentError(path, str(error)) from error
    log.debug("%s: decoded as %s", path, encoding)
    return text


def _read_html(path: Path, data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(path, data), "html.parser")
    for hidden in soup(["script", "style", "noscript", "template"]):
        hidden.decompose()
    return soup.get_text("\n")


def _read_docx(path: Path, data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as error:
        raise DocumentError(path, f"not a readable .docx file ({error})") from error
    return "\n".join(paragraph.text for paragraph in document.paragraphs)


def _read_pdf(path: Path, data: bytes) -> str:
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


_READERS: dict[str, tuple[Callable[[Path, bytes], str], bool]] = {
    ".txt": (_decode, False),
    ".md": (_decode, True),
    ".markdown": (_decode, True),
    ".html": (_read_html, False),
    ".htm": (_read_html, False),
    ".docx": (_read_docx, False),
    ".pdf": (_read_pdf, False),
}
SUPPORTED_SUFFIXES = frozenset(_READERS)


def load_text(path: Path) -> LoadedText:
    """The text of ``path``; raises DocumentError for missing, unsupported, binary, empty or broken files."""
    if not path.exists():
        raise DocumentError(path, "no such file")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise DocumentError(
            path, f"unsupported file type {path.suffix or '(none)'!r} (supported: {supported})"
        )
    try:
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
    text = read(path, data)
    if not text.strip():
        raise DocumentError(path, "no text in the file")
    return LoadedText(text.replace("\r\n", "\n").replace("\r", "\n"), markdown)
