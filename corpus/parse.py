"""Files in, documents and clauses out: the public entry points of corpus/."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tqdm import tqdm

from policyqa.corpus import metadata
from policyqa.corpus.cleaning import read_plain
from policyqa.corpus.errors import DocumentError
from policyqa.corpus.limits import DEFAULT_LIMITS, ParseLimits, check_clauses
from policyqa.corpus.loaders import SUPPORTED_SUFFIXES, load_text
from policyqa.corpus.markdown import is_hidden_page, read_markdown, split_front_matter
from policyqa.corpus.model import Document, ParsedDocument
from policyqa.corpus.places import infer_place
from policyqa.corpus.segment import segment
from policyqa.corpus.source import SourceText
from policyqa.corpus.structure import find_markers
from policyqa.text import fold

log = logging.getLogger(__name__)

FOLDER_INDEX = "_index.md"
# Files that describe a collection rather than being part of it (lawrefbook has README.md and SOURCE.txt).
NOT_DOCUMENT_STEMS = frozenset({"readme", "source", "license", "licence", "changelog", "copying", "notice"})
_ID_HEX_CHARS = 16
_WHITESPACE = re.compile(r"\s+")


def document_id(title: str, subtitle: str | None, date: str | None, doc_number: str | None) -> str:
    """A stable id from what identifies a document version, independent of file format and encoding:
    sha1 over title|subtitle|date|文号 in matching form (whitespace removed), 16 hex characters."""
    key = "|".join(_WHITESPACE.sub("", fold(part or "")) for part in (title, subtitle, date, doc_number))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:_ID_HEX_CHARS]


def parse_text(
    text: str, source: str = "", markdown: bool | None = None, limits: ParseLimits = DEFAULT_LIMITS
) -> ParsedDocument:
    """Parse a document given as text. ``markdown`` defaults to True when ``source`` ends in .md.

    Raises DocumentError when no title can be found, DocumentTooLargeError over ``limits``' characters or
    clauses.
    """
    if markdown is None:
        markdown = source.lower().endswith((".md", ".markdown"))
    layout = read_markdown(text) if markdown else read_plain(text)
    if not layout.title:
        raise DocumentError(source or "<text>", "no title found (not a document?)")
    return _build(layout, source, limits)


def _build(layout: SourceText, source: str, limits: ParseLimits) -> ParsedDocument:
    if layout.markdown:
        title, prefix = layout.title, None
    else:
        parts = metadata.split_title(layout.title)
        title, prefix = parts.title, parts.prefix
    own_lines = (layout.title, *layout.header_lines)
    doc_number = metadata.doc_number_of(own_lines)
    date = metadata.date_of(layout.header_lines, Path(source).stem, layout.markdown)
    doc_id = document_id(title, layout.subtitle, date, doc_number)
    issuer = metadata.issuer_of(layout.header_lines)
    validity = metadata.validity_facts(layout.header_lines, layout.body, date)
    region, basis, level = metadata.region_of(title, prefix, issuer), "stated", None
    if region is None and not metadata.is_national(title, issuer):
        inferred = infer_place(layout.body)
        if inferred is not None:
            region, basis, level = inferred.region, "inferred", inferred.level
    document = Document(
        id=doc_id,
        title=title,
        text=layout.body,
        date=date,
        issuer=issuer,
        doc_number=doc_number,
        region=region,
        region_basis=basis if region else None,
        issuer_level=level,
        doc_type=metadata.doc_type_of(title),
        references=metadata.references_in(layout.body, doc_number),
        source=Path(source).name if source else None,
        subtitle=layout.subtitle,
        effective_date=validity.effective_date,
        expires=validity.expires,
        repeals=validity.repeals,
    )
    clauses = segment(layout.body, find_markers(layout.body, layout.heading_levels), doc_id)
    check_clauses(source or "<text>", len(clauses), limits)
    return ParsedDocument(document, clauses)


def parse_file(path: Path, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedDocument:
    """Parse one file (.txt, .md, .html/.htm, .docx, .pdf).

    Raises DocumentError naming the file for missing, unsupported, binary, empty or broken files, for a
    folder index (``_index.md``) and for Markdown pages marked ``draft``/``bookHidden`` (templates,
    site READMEs): those are not documents; DocumentTooLargeError for a file over ``limits`` (the time
    limit is ParseWorker's).
    """
    path = Path(path)
    if path.name == FOLDER_INDEX:
        raise DocumentError(path, "a folder index (_index.md), not a document")
    loaded = load_text(path, limits)
    if loaded.markdown and is_hidden_page(split_front_matter(loaded.text)[0]):
        raise DocumentError(
            path, "a Markdown page marked draft/bookHidden (a template or README), not a document"
        )
    return parse_text(loaded.text, str(path), markdown=loaded.markdown, limits=limits)


def is_document_file(path: Path) -> bool:
    """True for a file a folder load parses: a supported type, not ``_index.md``, not a collection's
    README/SOURCE/LICENSE file, not a Markdown page marked draft/bookHidden."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES or path.name == FOLDER_INDEX:
        return False
    if path.stem.lower() in NOT_DOCUMENT_STEMS:
        return False
    if path.suffix.lower() in (".md", ".markdown"):
        with path.open("rb") as handle:
            head = handle.read(512).decode("utf-8", errors="replace")
        return not is_hidden_page(split_front_matter(head)[0])
    return True


def iter_document_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The document files among ``paths``: files as given, folders searched recursively (sorted, keeping
    only files ``is_document_file`` accepts and skipping dot-files)."""
    for path in map(Path, paths):
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path).parts
                if (
                    found.is_file()
                    and not any(part.startswith(".") for part in relative)
                    and is_document_file(found)
                ):
                    yield found
        else:
            yield path


def parse_paths(
    paths: Iterable[Path], progress: bool = False
) -> tuple[list[ParsedDocument], list[DocumentError]]:
    """Parse every document file under ``paths``; files that fail are reported, the rest go on.

    A file whose document id was already seen (the same law version in two folders) is reported as
    an error too and left out, so ids stay unique.
    """
    files = list(iter_document_files(paths))
    documents: list[ParsedDocument] = []
    errors: list[DocumentError] = []
    seen: dict[str, Path] = {}
    for path in tqdm(files, desc="parse", unit="file", disable=not progress):
        try:
            parsed = parse_file(path)
        except DocumentError as error:
            log.warning("%s", error)
            errors.append(error)
            continue
        first = seen.setdefault(parsed.document.id, path)
        if first != path:
            errors.append(DocumentError(path, f"same document as {first} (id {parsed.document.id}); skipped"))
            log.warning("%s", errors[-1])
            continue
        documents.append(parsed)
    return documents, errors
