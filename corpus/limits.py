"""How much work one document may cost: limits on inflated archive sizes, characters, clauses and parse
time, with the defaults ``policyqa index`` and uploads share (the settings are ``POLICYQA_MAX_*``).

The defaults are an order of magnitude above the largest real document seen (the biggest lawrefbook file is
313 kB, about 105,000 characters and 700 articles), so only hostile or broken files meet them.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from policyqa.corpus.errors import DocumentTooLargeError

MIB = 1024 * 1024
_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ParseLimits:
    """The most one document may inflate to, hold and take to parse."""

    max_archive_member_bytes: int = 64 * MIB  # inflated size of one member of a .docx (zip) archive
    max_archive_total_bytes: int = 128 * MIB  # inflated size of all its members together
    max_document_chars: int = 2_000_000  # characters of text read from one file
    max_document_clauses: int = 10_000  # clauses one document is cut into
    max_parse_seconds: float = 30.0  # wall time to parse one file (enforced by ParseWorker)


DEFAULT_LIMITS = ParseLimits()


def check_archive(path: Path | str, archive: zipfile.ZipFile, limits: ParseLimits) -> None:
    """DocumentTooLargeError unless every member of ``archive`` inflates to at most
    ``max_archive_member_bytes`` and all together to at most ``max_archive_total_bytes`` — checked on the
    sizes the archive declares, then on the bytes actually inflated (stopping as soon as a limit is passed),
    so a forged header cannot smuggle a bomb past the check."""
    members = archive.infolist()
    declared = 0
    for member in members:
        _check_member(path, member.filename, member.file_size, limits)
        declared += member.file_size
        _check_total(path, declared, limits)
    inflated = 0
    for member in members:
        size = 0
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                size += len(chunk)
                inflated += len(chunk)
                _check_member(path, member.filename, size, limits)
                _check_total(path, inflated, limits)


def check_chars(path: Path | str, text: str, limits: ParseLimits) -> None:
    """DocumentTooLargeError when ``text`` is over ``max_document_chars``."""
    if len(text) > limits.max_document_chars:
        raise DocumentTooLargeError(
            path,
            f"{len(text):,} characters of text; the limit is {limits.max_document_chars:,} "
            "(POLICYQA_MAX_DOCUMENT_CHARS)",
        )


def check_clauses(path: Path | str, count: int, limits: ParseLimits) -> None:
    """DocumentTooLargeError when a document is cut into more than ``max_document_clauses`` clauses."""
    if count > limits.max_document_clauses:
        raise DocumentTooLargeError(
            path,
            f"{count:,} clauses; the limit is {limits.max_document_clauses:,} "
            "(POLICYQA_MAX_DOCUMENT_CLAUSES)",
        )


def _check_member(path: Path | str, name: str, size: int, limits: ParseLimits) -> None:
    if size > limits.max_archive_member_bytes:
        raise DocumentTooLargeError(
            path,
            f"archive member {name} inflates to more than {limits.max_archive_member_bytes:,} bytes, the "
            "limit (POLICYQA_MAX_ARCHIVE_MEMBER_BYTES)",
        )


def _check_total(path: Path | str, size: int, limits: ParseLimits) -> None:
    if size > limits.max_archive_total_bytes:
        raise DocumentTooLargeError(
            path,
            f"the archive inflates to more than {limits.max_archive_total_bytes:,} bytes, the limit "
            "(POLICYQA_MAX_ARCHIVE_TOTAL_BYTES)",
        )
