"""Write index versions: full builds from files, incremental adds/replacements and removals."""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policyqa.corpus.errors import DocumentError
from policyqa.corpus.model import ParsedDocument
from policyqa.corpus.parse import iter_document_files
from policyqa.corpus.worker import ParseWorker
from policyqa.indexer import store
from policyqa.indexer.bm25 import BM25Index, BM25Params
from policyqa.indexer.embedder import Embedder, PassageEmbeddings
from policyqa.indexer.errors import IndexWriteError, NothingToIndexError, StorageFullError, UnknownIdError
from policyqa.indexer.integrity import check_vectors, verify_files
from policyqa.indexer.manifest import (
    FORMAT_VERSION,
    check_format,
    check_model,
    manifest_backend,
    manifest_tokenizer,
    manifest_vector_store,
)
from policyqa.indexer.passages import clause_passages
from policyqa.indexer.sentence_vectors import FILES as SENTENCE_FILES
from policyqa.indexer.sentence_vectors import (
    MANIFEST_KEY,
    Span,
    StoredSentenceVectors,
    passage_sentence_spans,
    stack,
)
from policyqa.indexer.sentence_vectors import save as save_sentence_vectors
from policyqa.indexer.settings import IndexSettings
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.indexer.vector_store import build_vector_store

logger = logging.getLogger(__name__)

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_SQLITE_WRITE_FAILURES = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM")


def build_index(
    paths: Sequence[Path],
    index_dir: Path,
    settings: IndexSettings,
    *,
    embedder: Embedder | None = None,
    progress: bool = True,
) -> dict:
    """Parse ``paths`` (files or folders, recursively) into a new index version and swap it in.

    Files that cannot be parsed, or are over the parse limits of ``settings``, are logged and skipped (listed
    in the manifest's ``skipped``). Returns the manifest. With ``POLICYQA_STORE=milvus`` the folder version
    is then copied into a new Milvus collection put in force behind the alias (the folder keeps the
    manifest and is what ``policyqa migrate`` reads); the Milvus manifest is returned.
    """
    started = time.perf_counter()
    files = list(iter_document_files([Path(path) for path in paths]))
    skipped: list[dict] = []
    tokenizer = Tokenizer(bigrams=settings.bm25_bigrams)
    index_dir = Path(index_dir)
    with _writing(index_dir), store.writer_lock(index_dir):
        version = store.new_version(index_dir)
        try:
            store.create_database(version)
            with (
                closing(store.connect(version)) as connection,
                connection,
                ParseWorker(settings.parse_limits) as worker,
            ):
                indexed: dict[str, Path] = {}  # document id → its file: documents are written one by one
                for path in tqdm(files, desc="parsing", unit="file", disable=not progress):
                    parsed = _parse_or_skip(path, worker.parse, skipped)
                    if parsed is None:
                        continue
                    if (first := indexed.get(parsed.document.id)) is not None:
                        _skip(path, f"same document as {first} (id {parsed.document.id})", skipped)
                        continue
                    indexed[parsed.document.id] = path
                    embedder = embedder or Embedder.from_settings(settings, progress=progress)
                    _insert(connection, parsed, embedder, tokenizer)
            if not indexed:
                raise NothingToIndexError(
                    f"no document could be indexed from {', '.join(map(str, paths))} "
                    f"({len(files)} files, {len(skipped)} skipped); the index in force is unchanged"
                )
            manifest = _finish_version(
                version,
                embedder=embedder,
                model_setting=settings.model,
                tokenizer=tokenizer,
                bm25_params=BM25Params(settings.bm25_k1, settings.bm25_b),
                vector_store=settings.vector_store,
                ann=settings.ann,
                previous=Previous({}, {}),
                extra={"update": "build", "skipped": skipped},
                started=started,
            )
            store.publish(index_dir, version)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
    if settings.store == "milvus":
        from policyqa.indexer.milvus_store import migrate_folder

        return {**migrate_folder(index_dir, settings, progress=progress), "skipped": skipped}
    return manifest


def add_documents(
    index_dir: Path,
    documents: Sequence[ParsedDocument],
    settings: IndexSettings,
    *,
    embedder: Embedder | None = None,
) -> dict:
    """Add documents to the index in force (a document whose id is indexed already is replaced).

    Only passages whose text is new get embedded; BM25 and FAISS are rebuilt from stored tokens and
    vectors. Atomic. Returns the new manifest. With ``POLICYQA_STORE=milvus`` the documents' passages are
    replaced in the Milvus collection instead (``index_dir`` is not written).
    """
    if settings.store == "milvus":
        from policyqa.indexer import milvus_store

        return milvus_store.add_documents(documents, settings, embedder=embedder)
    started = time.perf_counter()
    index_dir = Path(index_dir)
    with _writing(index_dir), store.writer_lock(index_dir):
        current = store.current_version(index_dir)
        manifest = store.read_manifest(current)
        check_format(index_dir, manifest)
        embedder = embedder or Embedder.from_settings(settings, progress=False)
        check_model(index_dir, manifest, embedder, settings)
        return _update(
            index_dir,
            current,
            manifest,
            lambda connection, tokenizer: _replace(connection, documents, embedder, tokenizer),
            kind="add",
            embedder=embedder,
            started=started,
        )


def remove_documents(
    index_dir: Path, document_ids: Sequence[str], settings: IndexSettings, *, embedder: Embedder | None = None
) -> dict:
    """Remove documents (with their clauses and passages) from the index in force.

    UnknownIdError when an id is not indexed. Nothing is embedded; ``embedder`` is accepted for
    symmetry with :func:`add_documents`. Atomic. Returns the new manifest. With ``POLICYQA_STORE=milvus``
    they are deleted from the Milvus collection instead.
    """
    if settings.store == "milvus":
        from policyqa.indexer import milvus_store

        return milvus_store.remove_documents(document_ids, settings)
    started = time.perf_counter()
    index_dir = Path(index_dir)
    with _writing(index_dir), store.writer_lock(index_dir):
        current = store.current_version(index_dir)
        manifest = store.read_manifest(current)
        check_format(index_dir, manifest)
        with closing(store.connect(current)) as connection:
            unknown = sorted(set(document_ids) - store.document_ids(connection))
        if unknown:
            raise UnknownIdError(f"no document with id {', '.join(map(repr, unknown))}")
        return _update(
            index_dir,
            current,
            manifest,
            lambda connection, _tokenizer: store.delete_documents(connection, document_ids),
            kind="remove",
            embedder=embedder,
            started=started,
        )


@contextmanager
def _writing(index_dir: Path) -> Iterator[None]:
    """Turn a failed write (read-only folder, no permission, full disk: OSError, or SQLite's own disk
    errors) into one IndexWriteError line; the index in force is unchanged, since a version is put in
    force only once complete."""
    try:
        yield
    except OSError as error:
        raise _write_error(index_dir, error.strerror or str(error), error.errno in _FULL) from error
    except sqlite3.OperationalError as error:
        name = getattr(error, "sqlite_errorname", "")
        if name == "SQLITE_FULL":
            raise _write_error(index_dir, str(error), full=True) from error
        if name.startswith(_SQLITE_WRITE_FAILURES):
            raise _write_error(index_dir, str(error), full=False) from error
        raise


def _write_error(index_dir: Path, reason: str, full: bool) -> IndexWriteError:
    error = StorageFullError if full else IndexWriteError
    return error(f"cannot write the index at {index_dir}: {reason}; the index in force is unchanged")


def _parse_or_skip(
    path: Path, parse_file: Callable[[Path], ParsedDocument], skipped: list[dict]
) -> ParsedDocument | None:
    try:
        parsed = parse_file(path)
    except DocumentError as error:
        reason = error.reason
    else:
        if parsed.clauses:
            return parsed
        reason = "no clauses found"
    _skip(path, reason, skipped)
    return None


def _skip(path: Path, reason: str, skipped: list[dict]) -> None:
    logger.warning("skipped %s: %s", path, reason)
    skipped.append({"path": str(path), "reason": reason})


def _insert(
    connection: sqlite3.Connection, parsed: ParsedDocument, embedder: Embedder, tokenizer: Tokenizer
) -> None:
    passages = clause_passages(parsed.document, parsed.clauses, embedder.count_tokens, embedder.max_tokens)
    store.insert_document(
        connection, parsed, [(passage, tokenizer.tokenize(passage.lexical_text)) for passage in passages]
    )


def _replace(
    connection: sqlite3.Connection,
    documents: Sequence[ParsedDocument],
    embedder: Embedder,
    tokenizer: Tokenizer,
) -> None:
    latest = {parsed.document.id: parsed for parsed in documents}  # the same id twice: the last one wins
    store.delete_documents(connection, latest)
    for parsed in latest.values():
        _insert(connection, parsed, embedder, tokenizer)


def _update(
    index_dir: Path,
    current: Path,
    manifest: dict,
    change: Callable[[sqlite3.Connection, Tokenizer], None],
    *,
    kind: str,
    embedder: Embedder | None,
    started: float,
) -> dict:
    """Copy the version in force, apply ``change(connection, tokenizer)``, rebuild the retrievers, swap.
    The files copied from the version in force are checked against its checksums first: a damaged one is
    refused, not carried into the next version."""
    verify_files(current, manifest, only=(store.DATABASE, store.VECTORS, *SENTENCE_FILES))
    tokenizer = manifest_tokenizer(manifest)
    version = store.new_version(index_dir)
    try:
        store.copy_database(current, version)
        with closing(store.connect(version)) as connection, connection:
            store.upgrade(connection)
            change(connection, tokenizer)
        new_manifest = _finish_version(
            version,
            embedder=embedder,
            model_setting=manifest["model_setting"],
            tokenizer=tokenizer,
            bm25_params=BM25Params(**manifest["bm25"]),
            vector_store=manifest_vector_store(manifest),
            ann=manifest["ann_requested"],
            previous=_previous(current, manifest),
            extra={"update": kind},
            started=started,
            model=(
                manifest["model"],
                manifest["dimension"],
                manifest["max_tokens"],
                manifest_backend(manifest),
            ),
        )
        store.publish(index_dir, version)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    return new_manifest


@dataclass(frozen=True)
class Previous:
    """What a new version can take from the one it replaces, by passage text: the passage vectors and (None
    when that version has none: the new one then has none either) the sentence vectors."""

    vectors: dict[str, np.ndarray]
    sentences: dict[str, np.ndarray] | None


def _previous(version: Path, manifest: dict) -> Previous:
    """The stored vectors of a version (what an update can reuse without embedding)."""
    vectors = np.load(version / store.VECTORS)
    stored = StoredSentenceVectors.load(version, manifest)
    with closing(store.connect(version)) as connection:
        passages = store.read_passage_texts(connection)
    if stored is not None and not stored.fits(len(passages)):
        stored = None
    sentences = None
    if stored is not None:
        sentences = {
            text: stored.vectors[stored.rows[row] : stored.rows[row + 1]]
            for row, (_, text) in enumerate(passages)
        }
    return Previous({text: vectors[row] for row, (_, text) in enumerate(passages)}, sentences)


def _passages_and_spans(connection: sqlite3.Connection) -> tuple[list[tuple[int, str]], list[list[Span]]]:
    """``(passage id, text)`` of every passage, ordered by id, and the spans of the sentences each holds."""
    passages: list[tuple[int, str]] = []
    spans: list[list[Span]] = []
    for _clause_id, group in groupby(store.iter_passage_clauses(connection), key=lambda row: row[2].id):
        rows = list(group)
        passages.extend((passage_id, text) for passage_id, text, _clause in rows)
        spans.extend(passage_sentence_spans(rows[0][2], [text for _, text, _clause in rows]))
    return passages, spans


def _finish_version(
    version: Path,
    *,
    embedder: Embedder | None,
    model_setting: str,
    tokenizer: Tokenizer,
    bm25_params: BM25Params,
    vector_store: str,
    ann: str,
    previous: Previous,
    extra: dict,
    started: float,
    model: tuple[str, int, int, str] | None = None,
) -> dict:
    """Write BM25 (tokens streamed from the database), then embed what is new, write the vectors and the
    FAISS files and the manifest of a version folder. Each step frees what it held before the next: the
    peak is the model with one batch, or BM25's two int32 per token, not their sum."""
    with closing(store.connect(version)) as connection:
        counts = {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("documents", "clauses")
        }
        BM25Index.build(store.iter_passage_tokens(connection), bm25_params).save(version / "bm25")
        passages, spans = _passages_and_spans(connection)
    sentences = previous.sentences
    new_rows = [
        row
        for row, (_, text) in enumerate(passages)
        if text not in previous.vectors
        or (sentences is not None and len(sentences.get(text, ())) != len(spans[row]))
    ]
    if new_rows and embedder is None:
        raise RuntimeError("passages without stored vectors need an embedder")
    model_id, dimension, max_tokens, backend = model or (
        embedder.model_id,
        embedder.dimension,
        embedder.max_tokens,
        embedder.encoder.backend,
    )
    new = None
    if new_rows:
        backend = embedder.encoder.backend
        new = embedder.embed_passages_and_sentences(
            [passages[row][1] for row in new_rows],
            [spans[row] for row in new_rows] if sentences is not None else None,
        )
        if new.sentence_vectors is None:
            sentences = None
    if new is not None and len(new_rows) == len(passages):  # nothing to reuse: the embeddings are the vectors
        vectors, sentence_vectors, sentence_rows = new.vectors, new.sentence_vectors, new.sentence_rows
    else:
        vectors, sentence_vectors, sentence_rows = _assembled(
            passages, new_rows, new, previous, dimension, sentences is not None
        )
    check_vectors(vectors)
    np.save(version / store.VECTORS, vectors)
    sentence_entry = {}
    if sentence_vectors is not None:
        sentence_entry = {MANIFEST_KEY: save_sentence_vectors(version, sentence_vectors, sentence_rows)}
    passage_ids = np.array([passage_id for passage_id, _ in passages], dtype=np.int64)
    dense = build_vector_store(vector_store, vectors, passage_ids, ann)
    dense.save(version / "dense")
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": model_id,
        "model_setting": model_setting,
        "backend": backend,  # the inference backend that embedded the latest passages
        "dimension": dimension,
        "max_tokens": max_tokens,
        "tokenizer": tokenizer.config,
        "dictionary_hash": tokenizer.dictionary_hash,
        "bm25": {"k1": bm25_params.k1, "b": bm25_params.b},
        "vector_store": vector_store,
        "ann": dense.ann,
        "ann_requested": ann,
        "documents": counts["documents"],
        "clauses": counts["clauses"],
        "passages": len(passages),
        "embedded": len({passages[row][1] for row in new_rows}),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 3),
        "version": version.name,
        **sentence_entry,
        **extra,
    }
    return store.write_manifest(version, manifest)


def _assembled(
    passages: list[tuple[int, str]],
    new_rows: list[int],
    new: PassageEmbeddings | None,
    previous: Previous,
    dimension: int,
    with_sentences: bool,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Every passage's vector (and sentence vectors), from the new embeddings or the previous version."""
    fresh = dict(zip(new_rows, range(len(new_rows)), strict=True))
    vectors = np.empty((len(passages), dimension), dtype=np.float32)
    for row, (_, text) in enumerate(passages):
        vectors[row] = new.vectors[fresh[row]] if row in fresh else previous.vectors[text]
    if not with_sentences:
        return vectors, None, None
    matrices = []
    for row, (_, text) in enumerate(passages):
        if row in fresh:
            start, end = new.sentence_rows[fresh[row] : fresh[row] + 2]
            matrices.append(new.sentence_vectors[start:end])
        else:
            matrices.append(previous.sentences[text])
    return vectors, *stack(matrices, dimension)
