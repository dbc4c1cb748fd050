"""The parse limits as settings (``POLICYQA_MAX_ARCHIVE_MEMBER_BYTES`` …): read with the index settings, so
that ``policyqa index`` and the service's uploads apply the same ones (``corpus.limits`` explains them)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from policyqa.corpus.limits import DEFAULT_LIMITS, ParseLimits


class ParseLimitSettings(BaseSettings):
    """The settings every document parse is bounded by; ``IndexSettings`` derives from it."""

    max_archive_member_bytes: int = Field(
        default=DEFAULT_LIMITS.max_archive_member_bytes,
        ge=1024,
        description="largest inflated size of one member of a .docx (zip) archive",
    )
    max_archive_total_bytes: int = Field(
        default=DEFAULT_LIMITS.max_archive_total_bytes,
        ge=1024,
        description="largest inflated size of all members of a .docx archive together",
    )
    max_document_chars: int = Field(
        default=DEFAULT_LIMITS.max_document_chars, ge=1, description="most characters of text in one document"
    )
    max_document_clauses: int = Field(
        default=DEFAULT_LIMITS.max_document_clauses, ge=1, description="most clauses in one document"
    )
    max_parse_seconds: float = Field(
        default=DEFAULT_LIMITS.max_parse_seconds, gt=0, description="longest time to parse one file"
    )

    @property
    def parse_limits(self) -> ParseLimits:
        """The limits as the parser takes them."""
        return ParseLimits(
            max_archive_member_bytes=self.max_archive_member_bytes,
            max_archive_total_bytes=self.max_archive_total_bytes,
            max_document_chars=self.max_document_chars,
            max_document_clauses=self.max_document_clauses,
            max_parse_seconds=self.max_parse_seconds,
        )
