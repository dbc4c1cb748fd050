"""The layout of a loaded document: title lines, header (metadata) lines and the body text."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceText:
    """A document split into its parts; ``body`` becomes ``Document.text``.

    ``heading_levels`` maps the start offset (in ``body``) of each explicit heading line — a Markdown
    ``##``..``######`` heading, its ``#`` marks removed — to its level (2..6).
    """

    title: str
    body: str
    subtitle: str | None = None
    header_lines: tuple[str, ...] = ()
    heading_levels: dict[int, int] = field(default_factory=dict)
    markdown: bool = False
