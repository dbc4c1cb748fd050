"""The index folder: immutable version folders, an atomically replaced ``CURRENT`` pointer, SQLite rows.

Layout::

    index_dir/
      CURRENT                  name of the version in force (replaced with os.replace)
      .lock                    writers hold an exclusive flock while building or updating
      versions/<stamp>/
        manifest.json          format, model, dimension, tokenizer, counts, build time, ann type, and the
                               size and sha256 of every other file of the version (``files``)
        index.sqlite           documents, clauses, passages (with BM25 tokens), metadata
        vectors.npy            passage embeddings, row i = passage id rows.npy[i]
        dense/dense.faiss, dense/rows.npy
        bm25/weights.npz, bm25/vocab.json, bm25/params.json

A version folder is complete before ``CURRENT`` points at it, so readers never see a half-written
index; after a swap only the new and the previous version are kept.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, get_args, get_origin, get_type_hints

import numpy as np

from policyqa.corpus.metadata import validity_facts
from policyqa.corpus.model import Clause, Document, ParsedDocument, Span
from policyqa.indexer.clause_table import ClauseTable
from policyqa.indexer.errors import IndexNotFoundError
from policyqa.indexer.integrity import file_checksums
from policyqa.indexer.passages import Passage
from policyqa.text import TextReference, find_references

DATABASE = "index.sqlite"
MANIFEST = "manifest.json"
VECTORS = "vectors.npy"
_CURRENT = "CURRENT"
_VERSIONS = "versions"


def _document_columns() -> list[tuple[str, str, bool]]:
    """``(field, column, is_json)`` of each ``Document`` field (a tuple is JSON in ``<field>_json``)."""
    hints = get_type_hints(Document)
    return [
        (entry.name, f"{entry.name}_json" if is_json else entry.name, is_json)
        for entry in fields(Document)
        for is_json in [get_origin(hints[entry.name]) is tuple]
    ]


def _document_table() -> str:
    """The documents table, derived from the ``Document`` fields (the first one, ``id``, is the key)."""
    hints = get_type_hints(Document)
    definitions = [
        f"{column} TEXT"
        + (" PRIMARY KEY" if name == "id" else "" if type(None) in get_args(hints[name]) else " NOT NULL")
        for name, column, _is_json in _document_columns()
    ]
    return f"CREATE TABLE documents ({', '.join(definitions)});"


# The references found in each clause's text (policyqa.text.find_references), once, when it is indexed.
_REFERENCES_TABLE = """
CREATE TABLE clause_references (
    clause_id TEXT NOT NULL REFERENCES clauses(id) ON DELETE CASCADE, position INTEGER NOT NULL,
    text TEXT NOT NULL, start_offset INTEGER NOT NULL, end_offset INTEGER NOT NULL, kind TEXT NOT NULL,
    title TEXT, doc_number TEXT, article TEXT, article_end TEXT, paragraph INTEGER, item INTEGER,
    PRIMARY KEY (clause_id, position)
);
"""
_REFERENCE_FIELDS = (
    "text", "start", "end", "kind", "title", "doc_number", "article", "article_end", "paragraph", "item",
)  # fmt: skip

_SCHEMA = f"""
{_document_table()}
CREATE TABLE clauses (
    id TEXT PRIMARY KEY, document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, path_json TEXT NOT NULL, number TEXT NOT NULL, heading TEXT NOT NULL,
    text TEXT NOT NULL, start_offset INTEGER NOT NULL, end_offset INTEGER NOT NULL, parts_json TEXT NOT NULL
);
CREATE INDEX clauses_by_document ON clauses(document_id, position);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, clause_id TEXT NOT NULL REFERENCES clauses(id) ON DELETE CASCADE,
    window_index INTEGER NOT NULL, text TEXT NOT NULL, tokens_json TEXT NOT NULL
);
CREATE INDEX passages_by_clause ON passages(clause_id);
CREATE TABLE metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL);
{_REFERENCES_TABLE}
"""


# ---- version folders -------------------------------------------------------------------------------


def current_version(index_dir: Path) -> Path:
    """The folder of the version in force; IndexNotFoundError (with a hint) when there is none."""
    name = version_in_force(index_dir)
    version = index_dir / _VERSIONS / name if name is not None else None
    if version is None or not (version / MANIFEST).is_file():
        raise IndexNotFoundError(
            f"no index at {index_dir}; build one with `policyqa index PATH --index-dir {index_dir}`"
        )
    return version


def version_in_force(index_dir: Path) -> str | None:
    """The name of the version in force as its pointer says (a few microseconds), None without one."""
    try:
        return (index_dir / _CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def new_version(index_dir: Path) -> Path:
    """A fresh, empty version folder (not yet in force)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = index_dir / _VERSIONS / f"{stamp}-{os.getpid()}"
    folder.mkdir(parents=True)
    return folder


def publish(index_dir: Path, version: Path) -> None:
    """Make ``version`` the one in force atomically, then delete all versions but it and the previous."""
    _fsync_tree(version)
    try:
        previous = current_version(index_dir).name
    except IndexNotFoundError:
        previous = None
    pointer = index_dir / _CURRENT
    staged = index_dir / f".{_CURRENT}.{os.getpid()}"
    with open(staged, "w", encoding="utf-8") as handle:
        handle.write(version.name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, pointer)
    _fsync_directory(index_dir)
    for folder in (index_dir / _VERSIONS).iterdir():
        if folder.name not in (version.name, previous):
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Serialise writers of one index folder (builds and incremental updates)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(version: Path) -> dict:
    """The manifest of a version folder."""
    return json.loads((version / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(version: Path, manifest: dict) -> dict:
    """Mirror ``manifest`` into the database's metadata table, then write ``manifest.json`` with the size
    and checksum of every other file of the version added (``files``: the version's last write); returns
    the manifest written."""
    with closing(connect(version)) as connection, connection:
        connection.executemany(
            "INSERT OR REPLACE INTO metadata(key, value) VALUES (?, ?)",
            [(key, json.dumps(value, ensure_ascii=False)) for key, value in manifest.items()],
        )
    manifest = {**manifest, "files": file_checksums(version, exclude=(MANIFEST,))}
    text = json.dumps(manifest, ensure_ascii=False, indent=2)
    (version / MANIFEST).write_text(text + "\n", encoding="utf-8")
    return manifest


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        else:
            _fsync_directory(path)
    _fsync_directory(folder)


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ---- SQLite rows -----------------------------------------------------------------------------------


def connect(version: Path) -> sqlite3.Connection:
    """A connection to the version's database (foreign keys on, so deletes cascade)."""
    connection = sqlite3.connect(version / DATABASE)
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def create_database(version: Path) -> None:
    """An empty database with the index schema."""
    with closing(connect(version)) as connection:
        connection.executescript(_SCHEMA)


def copy_database(source: Path, target: Path) -> None:
    """Copy the database of version ``source`` into version ``target`` (consistent SQLite backup)."""
    with closing(connect(source)) as original, closing(connect(target)) as copy:
        original.backup(copy)


def insert_document(
    connection: sqlite3.Connection, parsed: ParsedDocument, passages: Iterable[tuple[Passage, list[str]]]
) -> None:
    """Store a document, its clauses and its (passage, tokens) pairs."""
    document = parsed.document
    columns = _document_columns()
    connection.execute(
        f"INSERT INTO documents ({', '.join(column for _name, column, _json in columns)})"
        f" VALUES ({', '.join('?' * len(columns))})",
        [
            json.dumps(list(getattr(document, name)), ensure_ascii=False)
            if is_json
            else getattr(document, name)
            for name, _column, is_json in columns
        ],
    )
    connection.executemany(
        "INSERT INTO clauses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                clause.id,
                document.id,
                position,
                json.dumps(list(clause.path), ensure_ascii=False),
                clause.number,
                clause.heading,
                clause.text,
                clause.start,
                clause.end,
                json.dumps([[span.label, span.start, span.end] for span in clause.parts], ensure_ascii=False),
            )
            for position, clause in enumerate(parsed.clauses)
        ],
    )
    _insert_references(connection, parsed.clauses)
    connection.executemany(
        "INSERT INTO passages(clause_id, window_index, text, tokens_json) VALUES (?, ?, ?, ?)",
        [
            (passage.clause_id, passage.window, passage.text, json.dumps(tokens, ensure_ascii=False))
            for passage, tokens in passages
        ],
    )


def _insert_references(connection: sqlite3.Connection, clauses: Iterable[Clause]) -> None:
    """Scan each clause's text for references and store them."""
    connection.executemany(
        "INSERT INTO clause_references VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (clause.id, position, *(getattr(reference, name) for name in _REFERENCE_FIELDS))
            for clause in clauses
            for position, reference in enumerate(find_references(clause.text))
        ],
    )


def _columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]


def upgrade(connection: sqlite3.Connection) -> None:
    """Bring a database written by an earlier policyqa up to the current schema, in place (run on the copy
    an update writes, never on the version in force): the document fields it lacks are read from the stored
    text (``validity_facts``), the clause references are scanned."""
    present = set(_columns(connection, "documents"))
    missing = [(name, column) for name, column, _json in _document_columns() if column not in present]
    if missing:
        documents = read_documents(connection)  # before the columns exist: their values read from the text
        for _name, column in missing:
            connection.execute(f"ALTER TABLE documents ADD COLUMN {column} TEXT")
        for document in documents:
            assignments = ", ".join(f"{column} = ?" for _name, column in missing)
            connection.execute(
                f"UPDATE documents SET {assignments} WHERE id = ?",
                [
                    *(
                        json.dumps(list(getattr(document, name)), ensure_ascii=False)
                        if column.endswith("_json")
                        else getattr(document, name)
                        for name, column in missing
                    ),
                    document.id,
                ],
            )
    if "clause_references" not in {
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }:
        connection.executescript(_REFERENCES_TABLE)
        _insert_references(connection, read_clauses(connection))


def _facts(document: Document) -> Document:
    """``document`` with the validity fields read from its stored text (no header lines are stored)."""
    facts = validity_facts((), document.text, document.date)
    return replace(
        document, effective_date=facts.effective_date, expires=facts.expires, repeals=facts.repeals
    )


def delete_documents(connection: sqlite3.Connection, document_ids: Iterable[str]) -> None:
    """Delete documents with their clauses and passages."""
    connection.executemany(
        "DELETE FROM documents WHERE id = ?", [(document_id,) for document_id in document_ids]
    )


def document_ids(connection: sqlite3.Connection) -> set[str]:
    """Ids of every stored document."""
    return {row[0] for row in connection.execute("SELECT id FROM documents")}


def read_documents(connection: sqlite3.Connection) -> list[Document]:
    """Every document, in insertion order. A database written before the validity fields were stored has
    them read from each document's text."""
    present = set(_columns(connection, "documents"))
    columns = [entry for entry in _document_columns() if entry[1] in present]
    rows = connection.execute(
        f"SELECT {', '.join(column for _name, column, _json in columns)} FROM documents ORDER BY rowid"
    )
    documents = [
        Document(
            **{
                name: tuple(json.loads(value)) if is_json else value
                for (name, _column, is_json), value in zip(columns, row, strict=True)
            }
        )
        for row in rows
    ]
    if len(columns) < len(_document_columns()):
        return [_facts(document) for document in documents]
    return documents


def read_references(connection: sqlite3.Connection) -> dict[str, list[TextReference]] | None:
    """The stored references of each clause (clauses without any are absent); None for a database written
    before references were stored."""
    try:
        rows = connection.execute(
            "SELECT clause_id, text, start_offset, end_offset, kind, title, doc_number, article, article_end,"
            " paragraph, item FROM clause_references ORDER BY clause_id, position"
        ).fetchall()
    except sqlite3.OperationalError:
        return None
    found: dict[str, list[TextReference]] = {}
    for clause_id, *values in rows:
        found.setdefault(clause_id, []).append(
            TextReference(**dict(zip(_REFERENCE_FIELDS, values, strict=True)))
        )
    return found


_CLAUSE_COLUMNS = (
    "c.id, c.document_id, c.path_json, c.number, c.heading, c.text, c.start_offset, c.end_offset,"
    " c.parts_json"
)
_CLAUSES_IN_ORDER = (
    f"SELECT {_CLAUSE_COLUMNS} FROM clauses c JOIN documents d ON d.id = c.document_id"
    " ORDER BY d.rowid, c.position"
)


def _clause_of(row: tuple) -> Clause:
    """The clause of a row selected with ``_CLAUSE_COLUMNS``."""
    return Clause(
        id=row[0],
        document_id=row[1],
        path=tuple(json.loads(row[2])),
        number=row[3],
        heading=row[4],
        text=row[5],
        start=row[6],
        end=row[7],
        parts=tuple(Span(label, start, end) for label, start, end in json.loads(row[8])),
    )


def read_clauses(connection: sqlite3.Connection) -> list[Clause]:
    """Every clause, grouped by document (insertion order) and in reading order within each."""
    return [_clause_of(row) for row in connection.execute(_CLAUSES_IN_ORDER)]


def read_clause_table(connection: sqlite3.Connection) -> ClauseTable[tuple]:
    """Every clause in the order of :func:`read_clauses`, as a table that builds each clause on first
    access (what a loaded index holds)."""
    rows = connection.execute(_CLAUSES_IN_ORDER).fetchall()
    return ClauseTable(
        rows,
        _clause_of,
        ids=[row[0] for row in rows],
        document_ids=[row[1] for row in rows],
        numbers=[row[3] for row in rows],
        text_lengths=np.fromiter((len(row[5]) for row in rows), np.int64, len(rows)),
    )


class StoredPassage(NamedTuple):
    """A passage row: its id (the dense/BM25 row order key), clause, text and BM25 tokens."""

    id: int
    clause_id: str
    text: str
    tokens: list[str]


def read_passages(connection: sqlite3.Connection) -> list[StoredPassage]:
    """Every passage with text and tokens, ordered by id."""
    rows = connection.execute("SELECT id, clause_id, text, tokens_json FROM passages ORDER BY id")
    return [StoredPassage(row[0], row[1], row[2], json.loads(row[3])) for row in rows]


def read_passage_texts(connection: sqlite3.Connection) -> list[tuple[int, str]]:
    """``(passage id, text)`` of every passage, ordered by id (a build's embedding input, without the
    tokens that would take most of a corpus's memory)."""
    return list(connection.execute("SELECT id, text FROM passages ORDER BY id"))


def iter_passage_clauses(connection: sqlite3.Connection) -> Iterator[tuple[int, str, Clause]]:
    """``(passage id, text, its clause)`` of every passage, ordered by id, one at a time."""
    query = f"SELECT p.id, p.text, {_CLAUSE_COLUMNS} FROM passages p JOIN clauses c ON c.id = p.clause_id"
    for row in connection.execute(query + " ORDER BY p.id"):
        yield row[0], row[1], _clause_of(row[2:])


def iter_passage_tokens(connection: sqlite3.Connection) -> Iterator[list[str]]:
    """The BM25 tokens of every passage, ordered by id, one passage at a time."""
    for (tokens_json,) in connection.execute("SELECT tokens_json FROM passages ORDER BY id"):
        yield json.loads(tokens_json)


def read_passage_clauses(connection: sqlite3.Connection) -> list[tuple[int, str]]:
    """``(passage id, clause id)`` of every passage, ordered by passage id."""
    return list(connection.execute("SELECT id, clause_id FROM passages ORDER BY id"))
