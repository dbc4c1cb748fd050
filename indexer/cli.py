"""``policyqa index`` (build an index from files and folders) and ``policyqa search`` (query it)."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from pathlib import Path

from policyqa.corpus.model import listed_metadata
from policyqa.indexer.errors import ConfigurationError
from policyqa.indexer.records import SEARCH_MODES, Hit, SearchFilters, filter_fields
from policyqa.indexer.settings import IndexSettings, load_settings
from policyqa.indexer.validity import Validity
from policyqa.indexer.vector_store import ANN_TYPES

SNIPPET_CHARS = 120
_SPACE = re.compile(r"\s+")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``policyqa index`` and ``policyqa search``."""
    index = subparsers.add_parser(
        "index",
        help="build an index from document files and folders (or check one: --verify)",
        description="Build an index from document files and folders; with --verify, check the index in force "
        "instead (checksums, SQLite integrity, vectors): `policyqa index --verify [DIR | --index-dir DIR]`.",
    )
    index.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders (recursive)")
    index.add_argument("--index-dir", type=Path, help="index folder (default: POLICYQA_HOME/index)")
    index.add_argument(
        "--verify",
        action="store_true",
        help="check the index in force (the one PATH given, or --index-dir) instead of building one",
    )
    index.add_argument("--model", help="'default' or a sentence-transformers model name or path")
    index.add_argument(
        "--ann", choices=ANN_TYPES, help="vector index: flat (exact, default), hnsw or ivf (approximate)"
    )
    index.set_defaults(func=run_index)

    search = subparsers.add_parser("search", help="search an index for the clauses that answer a query")
    search.add_argument("query", help="question or keywords, e.g. 创业孵化机构能拿到哪些扶持")
    search.add_argument("--index-dir", type=Path, help="index folder (default: HOME/index, the demo)")
    search.add_argument("--mode", choices=SEARCH_MODES, default="hybrid", help="retriever (default: hybrid)")
    search.add_argument("-k", type=int, default=10, help="number of clauses (default: 10)")
    add_filter_arguments(search)
    search.add_argument("--json", action="store_true", help="print JSON instead of text")
    search.set_defaults(func=run_search)


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The metadata filter options (one per ``SearchFilters`` field) and ``--home-region``."""
    for entry in filter_fields():
        flag = entry.metadata["flag"] or "--" + entry.name.replace("_", "-")
        if entry.metadata["is_switch"]:
            parser.add_argument(flag, dest=entry.name, action="store_true", help=entry.metadata["help"])
            continue
        metavar = "YYYY-MM-DD" if entry.metadata["is_date"] else None
        parser.add_argument(flag, dest=entry.name, metavar=metavar, help=entry.metadata["help"])
    parser.add_argument(
        "--home-region",
        metavar="PLACE",
        help="where the asker is (江苏, 苏州市): its documents never step back; default POLICYQA_HOME_REGION",
    )


def filters_from_args(args: argparse.Namespace) -> SearchFilters:
    """The filters given on the command line."""
    return SearchFilters(**{entry.name: getattr(args, entry.name) or None for entry in filter_fields()})


def _settings(args: argparse.Namespace) -> IndexSettings:
    return load_settings(**{name: getattr(args, name, None) for name in ("index_dir", "model", "ann")})


def run_index(args: argparse.Namespace) -> int:
    """Build the index and print a summary (or, with ``--verify``, check it)."""
    from policyqa.indexer.index import build_index

    if args.verify:
        return run_verify(args)
    if not args.paths:
        raise ConfigurationError("give the files or folders to index (PATH ...), or --verify")
    settings = _settings(args)
    manifest = build_index(args.paths, settings.resolved_index_dir, settings)
    print(
        f"indexed {manifest['documents']} documents, {manifest['clauses']} clauses, "
        f"{manifest['passages']} passages in {manifest['seconds']:.1f} s → {settings.resolved_index_dir} "
        f"(model {manifest['model']}, ann {manifest['ann']})"
    )
    if manifest["skipped"]:
        print(f"skipped {len(manifest['skipped'])} files:")
        for entry in manifest["skipped"]:
            print(f"  {entry['path']}: {entry['reason']}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """``policyqa index --verify``: check the index in force and print what was checked."""
    from policyqa.indexer.index import verify_index

    if len(args.paths) > 1 or (args.paths and args.index_dir):
        raise ConfigurationError("--verify checks one index: give its folder as PATH or as --index-dir")
    if args.paths:
        args.index_dir = args.paths[0]
    index_dir = _settings(args).resolved_index_dir
    report = verify_index(index_dir)
    print(
        f"index at {index_dir} is intact: version {report['version']}, {report['files']} files "
        f"({report['bytes'] / 1e6:,.1f} MB) match their checksums, SQLite integrity ok, vectors finite and "
        f"of unit length ({report['seconds']:.2f} s)"
    )
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Search and print the hits as text or JSON."""
    from policyqa.indexer.demo import ensure_demo_index
    from policyqa.indexer.index import PolicyIndex, validate_query

    settings = _settings(args)
    validate_query(args.query, args.mode, args.k, settings.max_query_chars)  # before the slow load
    index = PolicyIndex.load(ensure_demo_index(settings), settings)
    filters = filters_from_args(args)
    hits = index.search(args.query, mode=args.mode, k=args.k, filters=filters, home_region=args.home_region)
    if args.json:
        payload = {"query": args.query, "mode": args.mode, "hits": [hit_json(hit) for hit in hits]}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        _print_hits(args.query, hits)
    return 0


def hit_json(hit: Hit) -> dict:
    """The JSON form of a hit."""
    return {
        "clause_id": hit.clause.id,
        "score": hit.score,
        "relevance": hit.relevance,
        "document": listed_metadata(hit.document),
        "path": list(hit.clause.path),
        "number": hit.clause.number,
        "heading": hit.clause.heading,
        "text": hit.clause.text,
        "ranks": hit.ranks,
        "scores": hit.scores,
        "validity": validity_json(hit.validity),
    }


def validity_json(validity: Validity | None) -> dict | None:
    """The JSON form of a version's validity (the API's ``validity``)."""
    return (
        None
        if validity is None
        else asdict(validity) | {"versions": list(validity.versions), "repeals": list(validity.repeals)}
    )


def _print_hits(query: str, hits: list[Hit]) -> None:
    if not hits:
        print(f"no clause found for {query!r}")
        return
    for rank, hit in enumerate(hits, start=1):
        snippet = _SPACE.sub(" ", hit.clause.text).strip()
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS] + "…"
        relevance = "" if hit.relevance is None else f"相关度 {hit.relevance:.2f}  "
        status = f"[{hit.validity.status}] " if hit.validity is not None else ""
        where = f"{status}{hit.document.cited_title} {' › '.join(hit.clause.path)}"
        print(f"{rank:>2}. {hit.score:.4f}  {relevance}{where}")
        print(f"    {snippet}")
