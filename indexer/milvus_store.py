"""The Milvus store (``POLICYQA_STORE=milvus``): the whole index in one Milvus collection, so that several
stateless service replicas share it (docs/milvus.md).

One row per passage holds everything a search answers with: the passage id (an int64 derived from the
clause id and the window, so any replica can write), the dense vector, the BM25 field, the clause (JSON)
and its document's metadata (JSON, without the body; filterable columns beside it). ``POLICYQA_MILVUS_URI``
is a ``.db`` path (milvus-lite in process) or ``http://host:19530`` (milvus-lite's gRPC server, Milvus
Standalone or Distributed); ``POLICYQA_MILVUS_COLLECTION`` names an alias: a full build or migration fills a
new collection, switches the alias atomically and drops the old one. Beside it, ``<alias>_meta`` holds the
manifest and a generation token that every write replaces, which is how a replica knows its cached
catalogue is stale.

Lexical search runs inside Milvus with our tokens: the jieba/文号/条号 terms of ``Tokenizer`` are written
as hex codes (``term_codes``), so that any Milvus analyzer that splits on white space and keeps runs of
ASCII letters and digits (milvus-lite's and Milvus's ``standard``) sees exactly our terms, and Milvus's
BM25 function with our k1 and b scores them as ``indexer/bm25.py`` does (the decision:
docs/decisions/2026-12-01-milvus-store.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from policyqa.corpus.model import Clause, Document, ParsedDocument, Span
from policyqa.indexer import store
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import IndexNotFoundError, IndexWriteError, StoreUnavailableError, UnknownIdError
from policyqa.indexer.integrity import check_vectors, verify_files
from policyqa.indexer.jurisdiction import place_key
from policyqa.indexer.manifest import check_format, check_model, manifest_tokenizer
from policyqa.indexer.passages import clause_passages
from policyqa.indexer.settings import IndexSettings

logger = logging.getLogger(__name__)

BATCH_ROWS = 500  # rows per insert request
MAX_TEXT_BYTES = 65_535  # Milvus's longest VARCHAR
HNSW_NEIGHBOURS = 32
ANALYZER = {"tokenizer": "standard"}  # splits on white space; keeps our hex term codes whole
_META_SUFFIX = "_meta"
_MANIFEST_KEY = "manifest"
_GENERATION_KEY = "generation"
_CATALOGUE_FIELDS = ["passage_id", "document_order", "position", "clause_json", "document_json"]
# document metadata columns beside the JSON, for filters (and for people reading the collection)
_DOCUMENT_COLUMNS = {
    "title": 2048,
    "date": 16,
    "issuer": 1024,
    "doc_number": 512,
    "region": 256,
    "doc_type": 64,
}


def passage_key(clause_id: str, window: int) -> int:
    """The passage id of window ``window`` of clause ``clause_id``: the same on every replica, so writes
    need no shared counter (63 bits of SHA-256)."""
    digest = hashlib.sha256(f"{clause_id}\0{window}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def term_codes(tokens: Sequence[str]) -> str:
    """Our BM25 terms as the lexical field's text: each term's UTF-8 bytes in hex, separated by spaces
    (``苏政发〔2018〕123号`` stays one term whatever Milvus's analyzer makes of brackets and Chinese)."""
    return " ".join(token.encode("utf-8").hex() for token in tokens)


def _client(settings: IndexSettings) -> Any:
    from pymilvus import MilvusClient

    # pymilvus warns on every query iterator that milvus-lite has no server timestamp; errors still show
    logging.getLogger("pymilvus").setLevel(logging.ERROR)

    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    return MilvusClient(
        uri=settings.resolved_milvus_uri,
        token=token,
        db_name=settings.milvus_db or "",
        # pymilvus pings every 10 s even when idle; a gRPC server with default limits (milvus-lite's) answers
        # GOAWAY "too_many_pings" and the client reconnects in the middle of a search: ping during calls only
        grpc_options={"grpc.keepalive_permit_without_calls": False},
    )


class MilvusStore:
    """A connection to the collection alias ``settings.milvus_collection`` and its meta collection."""

    def __init__(self, client: Any, alias: str, where: str):
        self.client = client
        self.alias = alias
        self.meta = alias + _META_SUFFIX
        self.where = where  # the URI, for messages (never the token)

    @classmethod
    def connect(cls, settings: IndexSettings) -> MilvusStore:
        """Connect to the configured Milvus (a .db file is opened by milvus-lite in this process) and load
        the index's collections into memory (Milvus searches loaded collections only; a database opened
        again starts with them released)."""
        from pymilvus.exceptions import MilvusException

        where = settings.resolved_milvus_uri
        try:
            milvus = cls(_client(settings), settings.milvus_collection, where)
            for name in (milvus.meta, milvus.alias):
                if milvus.client.has_collection(name):
                    milvus.client.load_collection(name)
        except MilvusException as error:
            raise StoreUnavailableError(f"cannot use Milvus at {where}: {error.message}") from None
        return milvus

    # ---- reading ---------------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the alias names a collection that holds an index."""
        return self.client.has_collection(self.meta) and self._meta_value(_MANIFEST_KEY) is not None

    def manifest(self) -> dict:
        """The manifest of the collection in force; IndexNotFoundError (with the fix) when there is none."""
        value = self._meta_value(_MANIFEST_KEY) if self.client.has_collection(self.meta) else None
        if value is None:
            raise IndexNotFoundError(
                f"no index in Milvus collection {self.alias!r} at {self.where}; build one with "
                "`policyqa index PATH --store milvus` or copy a folder index in with "
                "`policyqa migrate --to milvus`"
            )
        return json.loads(value)

    def generation(self) -> str:
        """A token every write replaces: a replica whose token differs has a stale catalogue."""
        return self._meta_value(_GENERATION_KEY) or ""

    def catalogue(self) -> Catalogue:
        """Every document, clause and passage id of the collection (what a replica caches)."""
        documents: dict[str, tuple[int, Document]] = {}
        clauses: dict[str, tuple[str, int, Clause]] = {}
        passages: list[tuple[int, str]] = []
        for row in self._rows(_CATALOGUE_FIELDS):
            clause = _clause_from_json(row["clause_json"])
            documents.setdefault(
                clause.document_id, (row["document_order"], _document_from_json(row["document_json"]))
            )
            clauses[clause.id] = (clause.document_id, row["position"], clause)
            passages.append((int(row["passage_id"]), clause.id))
        order = sorted(documents, key=lambda document_id: (documents[document_id][0], document_id))
        rank = {document_id: position for position, document_id in enumerate(order)}
        ordered = sorted(clauses.values(), key=lambda entry: (rank[entry[0]], entry[1]))
        return Catalogue(
            [documents[document_id][1] for document_id in order],
            [clause for _document, _position, clause in ordered],
            sorted(passages),
        )

    def count(self, expression: str = "") -> int:
        """Rows of the collection in force matching ``expression`` (all rows when empty)."""
        rows = self.client.query(self.alias, filter=expression, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def search_dense(
        self, vector: np.ndarray, k: int, expression: str, ann: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` passages nearest ``vector`` (inner product) passing ``expression``, best first."""
        params: dict = {"metric_type": "IP"}
        if ann == "hnsw":
            params["params"] = {"ef": max(64, 2 * k)}
        elif ann == "ivf":
            params["params"] = {"nprobe": 32}
        found = self.client.search(
            self.alias,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=k,
            filter=expression,
            output_fields=["passage_id"],
            search_params=params,
        )[0]
        return _ids_and_scores(found)

    def search_bm25(self, tokens: Sequence[str], k: int, expression: str) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` passages with the best BM25 score for ``tokens`` passing ``expression``, best first."""
        if not tokens:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        found = self.client.search(
            self.alias,
            data=[term_codes(tokens)],
            anns_field="sparse",
            limit=k,
            filter=expression,
            output_fields=["passage_id"],
            search_params={"metric_type": "BM25"},
        )[0]
        # milvus-lite reports BM25 as a negated distance, Milvus as the score itself: both order alike
        passage_ids, scores = _ids_and_scores(found)
        return passage_ids, np.abs(scores)

    def _meta_value(self, key: str) -> str | None:
        rows = self.client.query(self.meta, filter=f"key == {json.dumps(key)}", output_fields=["value"])
        return rows[0]["value"] if rows else None

    def _rows(self, output_fields: list[str]) -> Iterator[dict]:
        iterator = self.client.query_iterator(
            self.alias, batch_size=2000, filter="", output_fields=output_fields
        )
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    # ---- writing -----------------------------------------------------------------------------------------

    def create_version(self, dimension: int, ann: str, k1: float, b: float, passages: int) -> str:
        """A new, empty collection for a full build (not yet in force); returns its name."""
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        name = f"{self.alias}_{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("passage_id", DataType.INT64, is_primary=True)
        schema.add_field("document_id", DataType.VARCHAR, max_length=128)
        schema.add_field("clause_id", DataType.VARCHAR, max_length=256)
        schema.add_field("window_index", DataType.INT64)
        schema.add_field("position", DataType.INT64)
        schema.add_field("document_order", DataType.INT64)
        for column, length in _DOCUMENT_COLUMNS.items():
            schema.add_field(column, DataType.VARCHAR, max_length=length)
        schema.add_field("region_key", DataType.VARCHAR, max_length=256)
        schema.add_field("heading", DataType.VARCHAR, max_length=2048)
        schema.add_field("clause_json", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("document_json", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field(
            "lexical",
            DataType.VARCHAR,
            max_length=MAX_TEXT_BYTES,
            enable_analyzer=True,
            analyzer_params=ANALYZER,
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["lexical"],
                output_field_names=["sparse"],
            )
        )
        index_params = self.client.prepare_index_params()
        index_params.add_index("vector", metric_type="IP", **_dense_index(ann, passages))
        index_params.add_index(
            "sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params=_legacy({"bm25_k1": k1, "bm25_b": b}),
        )
        for column in ("document_id", "region_key", "doc_type", "issuer", "date"):
            index_params.add_index(column, index_type="INVERTED")
        self.client.create_collection(name, schema=schema, index_params=index_params)
        return name

    def insert(self, collection: str, rows: Iterable[dict]) -> int:
        """Insert ``rows`` into ``collection`` in batches; returns how many."""
        count = 0
        for batch in _batches(rows, BATCH_ROWS):
            self.client.insert(collection, batch)
            count += len(batch)
        return count

    def publish(self, collection: str, manifest: dict) -> None:
        """Put ``collection`` in force: switch the alias to it atomically, record ``manifest``, drop the
        collection it replaced."""
        self._ensure_meta()
        previous = None
        if collection != self.alias and self.alias in self.client.list_aliases().get("aliases", []):
            previous = self.client.describe_alias(self.alias)["collection_name"]
            self.client.alter_alias(collection, self.alias)
        else:
            self.client.create_alias(collection, self.alias)
        self.write_manifest(manifest)
        if previous and previous != collection:
            self.client.drop_collection(previous)

    def write_manifest(self, manifest: dict) -> None:
        """Record ``manifest`` and a new generation token (every replica reloads its catalogue)."""
        self.client.upsert(
            self.meta,
            [
                {
                    "key": _MANIFEST_KEY,
                    "value": json.dumps(manifest, ensure_ascii=False),
                    "vector": [0.0, 0.0],
                },
                {"key": _GENERATION_KEY, "value": uuid.uuid4().hex, "vector": [0.0, 0.0]},
            ],
        )

    def delete_documents(self, document_ids: Sequence[str]) -> None:
        """Delete every passage of these documents from the collection in force."""
        self.client.delete(
            self.alias, filter=f"document_id in {json.dumps(list(document_ids), ensure_ascii=False)}"
        )

    def _ensure_meta(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.meta):
            return
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus requires a vector field
        index_params = self.client.prepare_index_params()
        index_params.add_index("vector", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.meta, schema=schema, index_params=index_params)


def _dense_index(ann: str, passages: int) -> dict:
    """The Milvus index for ``ann`` (the same choices as the FAISS store's)."""
    if ann == "hnsw":
        return {"index_type": "HNSW", "params": _legacy({"M": HNSW_NEIGHBOURS, "efConstruction": 80})}
    if ann == "ivf":
        return {"index_type": "IVF_FLAT", "params": _legacy({"nlist": max(1, round(passages**0.5))})}
    return {"index_type": "FLAT"}


def _legacy(params: dict) -> dict:
    """Index parameters as one JSON ``params`` entry: what every Milvus reads (pymilvus 3 otherwise sends
    each as its own key, which milvus-lite ignores, silently building BM25 with its default k1 and b)."""
    return {"params": params}


def _ids_and_scores(found: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([int(hit["passage_id"]) for hit in found], dtype=np.int64),
        np.array([float(hit["distance"]) for hit in found], dtype=np.float32),
    )


def _batches(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---- rows ----------------------------------------------------------------------------------------------


def _document_json(document: Document) -> str:
    return json.dumps(asdict(replace(document, text="")), ensure_ascii=False)


def _document_from_json(text: str) -> Document:
    values = json.loads(text)
    return Document(
        **{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
    )


def _clause_json(clause: Clause) -> str:
    return json.dumps(asdict(clause), ensure_ascii=False)


def _clause_from_json(text: str) -> Clause:
    values = json.loads(text)
    values["path"] = tuple(values["path"])
    values["parts"] = tuple(Span(**part) for part in values["parts"])
    return Clause(**values)


def passage_rows(
    document: Document,
    document_order: int,
    clauses: Sequence[tuple[int, Clause]],
    passages: Sequence[tuple[str, int, list[str], np.ndarray]],
) -> Iterator[dict]:
    """The rows of one document: ``clauses`` as (position, clause), ``passages`` as (clause id, window,
    BM25 tokens, vector)."""
    document_json = _document_json(document)
    by_id = {clause.id: (position, clause) for position, clause in clauses}
    metadata = {column: getattr(document, column) or "" for column in _DOCUMENT_COLUMNS}
    region_key = place_key(document.region) if document.region else ""
    for clause_id, window, tokens, vector in passages:
        position, clause = by_id[clause_id]
        row = {
            "passage_id": passage_key(clause_id, window),
            "document_id": document.id,
            "clause_id": clause_id,
            "window_index": window,
            "position": position,
            "document_order": document_order,
            **metadata,
            "region_key": region_key,
            "heading": clause.heading,
            "clause_json": _clause_json(clause),
            "document_json": document_json,
            "lexical": term_codes(tokens),
            "vector": np.asarray(vector, dtype=np.float32).tolist(),
        }
        for name in ("clause_json", "document_json", "lexical"):
            if len(row[name].encode("utf-8")) > MAX_TEXT_BYTES:
                raise IndexWriteError(
                    f"clause {clause_id} of {document.source or document.id} is too long for Milvus "
                    f"({name} over {MAX_TEXT_BYTES:,} bytes); the index in force is unchanged"
                )
        yield row


def _folder_rows(version: Path) -> Iterator[dict]:
    """The rows of a folder index version, with the vectors it stores (nothing is embedded)."""
    vectors = np.load(version / store.VECTORS, mmap_mode="r")
    with closing(store.connect(version)) as connection:
        documents = store.read_documents(connection)
        clauses = store.read_clauses(connection)
        passages = store.read_passages(connection)
    if len(vectors) != len(passages):
        raise IndexWriteError(
            f"index version {version.name} has {len(vectors):,} vectors for {len(passages):,} passages"
        )
    document_clauses: dict[str, list[tuple[int, Clause]]] = {document.id: [] for document in documents}
    for clause in clauses:
        entries = document_clauses[clause.document_id]
        entries.append((len(entries), clause))
    clause_document = {clause.id: clause.document_id for clause in clauses}
    document_passages: dict[str, list[tuple[str, int, list[str], np.ndarray]]] = {d.id: [] for d in documents}
    windows: dict[str, int] = {}
    for row, passage in enumerate(passages):
        window = windows.get(passage.clause_id, 0)
        windows[passage.clause_id] = window + 1
        document_passages[clause_document[passage.clause_id]].append(
            (passage.clause_id, window, passage.tokens, vectors[row])
        )
    for order, document in enumerate(documents):
        yield from passage_rows(
            document, order, document_clauses[document.id], document_passages[document.id]
        )


def _stored_manifest(manifest: dict, settings: IndexSettings, **changes: object) -> dict:
    """The manifest recorded in Milvus: the folder's, less its file checksums and skipped files."""
    kept = {key: value for key, value in manifest.items() if key not in ("files", "skipped", "vector_store")}
    return {**kept, "store": "milvus", "milvus_collection": settings.milvus_collection, **changes}


def migrate_folder(index_dir: Path, settings: IndexSettings, *, progress: bool = False) -> dict:
    """Copy the folder index in force at ``index_dir`` into a new Milvus collection and put it in force
    behind the alias (the old collection is dropped). The vectors are read from the folder (nothing is
    embedded) and the folder is only read. Returns the manifest recorded in Milvus."""
    from tqdm import tqdm

    started = time.perf_counter()
    version = store.current_version(Path(index_dir))
    manifest = store.read_manifest(version)
    check_format(Path(index_dir), manifest)
    verify_files(version, manifest, only=(store.DATABASE, store.VECTORS))
    milvus = MilvusStore.connect(settings)
    collection = milvus.create_version(
        manifest["dimension"],
        manifest["ann"],
        manifest["bm25"]["k1"],
        manifest["bm25"]["b"],
        manifest["passages"],
    )
    try:
        rows = tqdm(
            _folder_rows(version),
            total=manifest["passages"],
            desc="milvus",
            unit="passage",
            disable=not progress,
        )
        inserted = milvus.insert(collection, rows)
        milvus.client.flush(collection)
        stored = _stored_manifest(
            manifest,
            settings,
            passages=inserted,
            update="migrate",
            migrated_from=version.name,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            seconds=round(time.perf_counter() - started, 3),
        )
        milvus.publish(collection, stored)
    except BaseException:
        milvus.client.drop_collection(collection)
        raise
    return stored


def connect_checked(
    settings: IndexSettings, embedder: Embedder | None = None
) -> tuple[MilvusStore, dict, Embedder]:
    """The configured collection, its manifest and the embedder (``embedder`` or the configured one), after
    checking that this policyqa reads the index and that the embedder built it (IndexMismatchError)."""
    milvus = MilvusStore.connect(settings)
    manifest = milvus.manifest()
    where = f"{milvus.where} (collection {milvus.alias})"
    check_format(where, manifest)
    embedder = embedder or Embedder.from_settings(settings, progress=False)
    check_model(where, manifest, embedder, settings)
    return milvus, manifest, embedder


def add_documents(
    documents: Sequence[ParsedDocument], settings: IndexSettings, *, embedder: Embedder | None = None
) -> dict:
    """Add (or replace: the same id) documents in the Milvus collection in force; returns its manifest."""
    milvus, manifest, embedder = connect_checked(settings, embedder)
    tokenizer = manifest_tokenizer(manifest)
    latest = {parsed.document.id: parsed for parsed in documents}  # the same id twice: the last one wins
    rows: list[dict] = []
    embedded = 0
    for parsed in latest.values():
        passages = clause_passages(
            parsed.document, parsed.clauses, embedder.count_tokens, embedder.max_tokens
        )
        vectors = embedder.embed_passages([passage.text for passage in passages])
        check_vectors(vectors)
        embedded += len(passages)
        rows.extend(
            passage_rows(
                parsed.document,
                time.time_ns(),
                list(enumerate(parsed.clauses)),
                [
                    (passage.clause_id, passage.window, tokenizer.tokenize(passage.lexical_text), vector)
                    for passage, vector in zip(passages, vectors, strict=True)
                ],
            )
        )
    milvus.delete_documents(list(latest))
    milvus.insert(milvus.alias, rows)
    return _after_write(milvus, manifest, settings, "add", embedded)


def remove_documents(document_ids: Sequence[str], settings: IndexSettings) -> dict:
    """Remove documents from the Milvus collection in force; UnknownIdError for an id not indexed."""
    milvus = MilvusStore.connect(settings)
    manifest = milvus.manifest()
    unknown = [
        document_id
        for document_id in sorted(set(document_ids))
        if not milvus.count(f"document_id == {json.dumps(document_id, ensure_ascii=False)}")
    ]
    if unknown:
        raise UnknownIdError(f"no document with id {', '.join(map(repr, unknown))}")
    milvus.delete_documents(list(document_ids))
    return _after_write(milvus, manifest, settings, "remove", 0)


def _after_write(
    milvus: MilvusStore, manifest: dict, settings: IndexSettings, kind: str, embedded: int
) -> dict:
    """Record the counts after a write with a new generation; returns the new manifest."""
    updated = _stored_manifest(
        manifest,
        settings,
        documents=milvus.count("window_index == 0 and position == 0"),
        clauses=milvus.count("window_index == 0"),
        passages=milvus.count(),
        update=kind,
        embedded=embedded,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    milvus.write_manifest(updated)
    return updated
