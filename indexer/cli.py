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
from policyqa.indexer.settings import INDEX_STORES, IndexSettings, load_settings
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
        "--ann",
        choices=ANN_TYPES,
        help="vector index: flat (every vector, stored in float16; default), hnsw or ivf (approximate)",
    )
    add_store_arguments(index)
    index.set_defaults(func=run_index)

    migrate = subparsers.add_parser(
        "migrate",
        help="copy a folder index into Milvus (its stored vectors; nothing is re-embedded)",
        description="Copy the folder index in force (--index-dir) into a new Milvus collection, switch the "
        "collection alias (POLICYQA_MILVUS_COLLECTION) to it atomically and drop the collection it replaced. "
        "The folder is only read.",
    )
    migrate.add_argument("--to", choices=["milvus"], required=True, help="the store to copy the index into")
    migrate.add_argument("--index-dir", type=Path, help="folder index to copy (default: POLICYQA_HOME/index)")
    add_store_arguments(migrate, store=False)
    migrate.set_defaults(func=run_migrate)

    search = subparsers.add_parser("search", help="search an index for the clauses that answer a query")
    search.add_argument("query", help="question or keywords, e.g. 创业孵化机构能拿到哪些扶持")
    search.add_argument("--index-dir", type=Path, help="index folder (default: HOME/index, the demo)")
    search.add_argument("--mode", choices=SEARCH_MODES, default="hybrid", help="retriever (default: hybrid)")
    search.add_argument("-k", type=int, default=10, help="number of clauses (default: 10)")
    add_filter_arguments(search)
    add_store_arguments(search)
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
        help="where the asker is (江苏, 苏州市): its documents never step back and step forward (unless the "
        "query names another place); default POLICYQA_HOME_REGION",
    )


def add_store_arguments(parser: argparse.ArgumentParser, *, store: bool = True) -> None:
    """``--store`` (unless ``store`` is False), ``--milvus-uri`` and ``--milvus-collection``: the settings
    of the same names for this command."""
    if store:
        parser.add_argument(
            "--store", choices=INDEX_STORES, help="where the index lives (default: POLICYQA_STORE or folder)"
        )
    parser.add_argument(
        "--milvus-uri",
        metavar="URI",
        help="a .db path (milvus-lite) or http://host:19530 (default: POLICYQA_MILVUS_URI or HOME/milvus.db)",
    )
    parser.add_argument(
        "--milvus-collection",
        metavar="NAME",
        help="Milvus collection alias (default: POLICYQA_MILVUS_COLLECTION or policyqa)",
    )


def store_overrides(args: argparse.Namespace) -> dict:
    """The store settings given on the command line (None where not given)."""
    return {name: getattr(args, name, None) for name in ("store", "milvus_uri", "milvus_collection")}


def filters_from_args(args: argparse.Namespace) -> SearchFilters:
    """The filters given on the command line."""
    return SearchFilters(**{entry.name: getattr(args, entry.name) or None for entry in filter_fields()})


def _settings(args: argparse.Namespace) -> IndexSettings:
    return load_settings(
        **{name: getattr(args, name, None) for name in ("index_dir", "model", "ann")}, **store_overrides(args)
    )


def run_index(args: argparse.Namespace) -> int:
    """Build the index and print a summary (or, with ``--verify``, check it)."""
    from policyqa.indexer.index import build_index

    if args.verify:
        return run_verify(args)
    if not args.paths:
        raise ConfigurationError("give the files or folders to index (PATH ...), or --verify")
    settings = _settings(args)
    manifest = build_index(args.paths, settings.resolved_index_dir, settings)
    where = str(settings.resolved_index_dir)
    if settings.store == "milvus":
        where += f" → Milvus {settings.resolved_milvus_uri} (collection {settings.milvus_collection})"
    print(
        f"indexed {manifest['documents']} documents, {manifest['clauses']} clauses, "
        f"{manifest['passages']} passages in {manifest['seconds']:.1f} s → {where} "
        f"(model {manifest['model']}, ann {manifest['ann']})"
    )
    if manifest["skipped"]:
        print(f"skipped {len(manifest['skipped'])} files:")
        for entry in manifest["skipped"]:
            print(f"  {entry['path']}: {entry['reason']}")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    """``policyqa migrate --to milvus``: copy the folder index in force into Milvus."""
    from policyqa.indexer.milvus_store import migrate_folder

    settings = _settings(args)
    manifest = migrate_folder(settings.resolved_index_dir, settings, progress=True)
    print(
        f"copied {manifest['documents']} documents, {manifest['clauses']} clauses, {manifest['passages']} "
        f"passages (version {manifest['migrated_from']}) in {manifest['seconds']:.1f} s → Milvus "
        f"{settings.resolved_milvus_uri} (collection {settings.milvus_collection})"
    )
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
