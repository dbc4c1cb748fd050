"""``policyqa parse FILE [--json]``: show how a document is cut into clauses."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from policyqa.corpus.model import ParsedDocument
from policyqa.corpus.parse import parse_file

_PREVIEW_CHARS = 40


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``parse`` command."""
    parser = subparsers.add_parser(
        "parse",
        help="parse a document and print its clauses",
        description="Parse a policy or law file (.txt .md .html .docx .pdf); print metadata and clauses.",
    )
    parser.add_argument("file", type=Path, help="the document file")
    parser.add_argument("--json", action="store_true", help="print JSON: {document: {...}, clauses: [...]}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse ``args.file`` and print it; DocumentError goes to the dispatcher (message, exit 1)."""
    parsed = parse_file(args.file)
    print(to_json(parsed) if args.json else to_tree(parsed))
    return 0


def to_json(parsed: ParsedDocument) -> str:
    """The parse result as JSON (Chinese kept readable)."""
    clauses = [
        {
            "id": clause.id,
            "path": list(clause.path),
            "number": clause.number,
            "heading": clause.heading,
            "text": clause.text,
            "start": clause.start,
            "end": clause.end,
            "parts": [{"label": part.label, "start": part.start, "end": part.end} for part in clause.parts],
        }
        for clause in parsed.clauses
    ]
    return json.dumps(
        {"document": parsed.document.metadata(), "clauses": clauses}, ensure_ascii=False, indent=2
    )


def to_tree(parsed: ParsedDocument) -> str:
    """A readable outline: metadata, then each clause indented under its headings with its character range."""
    document = parsed.document
    lines = [f"《{document.title}》" + (f" {document.subtitle}" if document.subtitle else "")]
    for name, value in (
        ("id", document.id),
        ("date", document.date),
        ("doc_number", document.doc_number),
        ("issuer", document.issuer),
        ("region", document.region),
        ("doc_type", document.doc_type),
    ):
        if value:
            lines.append(f"  {name}: {value}")
    if document.references:
        lines.append(f"  references: {'; '.join(document.references)}")
    lines.append(f"  clauses: {len(parsed.clauses)}")
    shown: tuple[str, ...] = ()
    for clause in parsed.clauses:
        ancestors = clause.path[:-1]
        common = next((i for i, (a, b) in enumerate(zip(shown, ancestors, strict=False)) if a != b), None)
        common = min(len(shown), len(ancestors)) if common is None else common
        for depth in range(common, len(ancestors)):
            lines.append("  " * (depth + 1) + ancestors[depth])
        shown = ancestors
        preview = " ".join(clause.text.split())
        preview = preview if len(preview) <= _PREVIEW_CHARS else preview[:_PREVIEW_CHARS] + "…"
        own = clause.path[-1] if clause.path else ""
        lines.append("  " * (len(ancestors) + 1) + f"{own} [{clause.start}:{clause.end}] {preview}")
    return "\n".join(lines)
