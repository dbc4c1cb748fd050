"""Lexical search inside Milvus: our tokens (hex term codes through a splitting analyzer) or Milvus's jieba
analyzer with our dictionary and stop words — which reproduces the folder store's BM25?

    POLICYQA_HOME=data/home .venv/bin/python -m experiments.milvus_lexical --index-dir data/lawref-index \
        --milvus-uri data/milvus/lawref.db --milvus-collection lawref \
        --queries ../shared/eval/stard-train.jsonl --split validation

Needs the folder index and its copy in Milvus (``policyqa migrate --to milvus``). Fills a second
collection (``<collection>_jieba``, dropped afterwards) whose lexical field is each passage's lexical text as
BM25 would read it (title, headings, clause text), analysed by Milvus's jieba tokenizer with
``indexer/resources/policy_dict.txt`` as its dictionary and ``stopwords.txt`` as a stop filter, BM25 with the
index's k1 and b. Then runs the BM25 mode of the folder index, of the Milvus store and of the jieba variant
over the questions, and prints, per variant, Recall@10/100 and MRR@10 and the share of questions whose first
clause is the folder store's: the numbers behind docs/decisions/2026-12-01-milvus-store.md.
"""

from __future__ import annotations

import argparse
from contextlib import closing
from importlib import resources
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policyqa.eval.queries import load_queries
from policyqa.eval.report import metrics_table
from policyqa.eval.runner import evaluate_mode
from policyqa.eval.split import STARD_SPLIT, load_split, select
from policyqa.indexer import PolicyIndex
from policyqa.indexer import store as folder_store
from policyqa.indexer.milvus_index import MilvusDenseRetriever, filter_expression
from policyqa.indexer.milvus_store import BATCH_ROWS, MilvusStore, passage_key
from policyqa.indexer.passages import lexical_prefix, passage_prefix
from policyqa.indexer.records import Query, Ranking, SearchFilters
from policyqa.indexer.settings import load_settings

COLUMNS = ("recall@10", "recall@100", "mrr@10")


def jieba_analyzer() -> dict:
    """Milvus's jieba tokenizer with our dictionary words and stop words."""
    folder = resources.files("policyqa.indexer") / "resources"
    words = [
        line.split()[0]
        for line in (folder / "policy_dict.txt").read_text("utf-8").splitlines()
        if line.split()
    ]
    stop_words = (folder / "stopwords.txt").read_text("utf-8").split()
    return {
        "tokenizer": {"type": "jieba", "dict": words, "mode": "search"},
        "filter": [{"type": "stop", "stop_words": stop_words}],
    }


def lexical_texts(index_dir: Path) -> list[tuple[int, str]]:
    """(passage id in Milvus, lexical text) of every passage of the folder index in force."""
    version = folder_store.current_version(index_dir)
    with closing(folder_store.connect(version)) as connection:
        documents = {document.id: document for document in folder_store.read_documents(connection)}
        clauses = {clause.id: clause for clause in folder_store.read_clauses(connection)}
        passages = folder_store.read_passages(connection)
    windows: dict[str, int] = {}
    rows = []
    for passage in passages:
        clause = clauses[passage.clause_id]
        document = documents[clause.document_id]
        window = windows.get(clause.id, 0)
        windows[clause.id] = window + 1
        piece = passage.text[len(passage_prefix(document)) :]
        rows.append((passage_key(clause.id, window), lexical_prefix(document, clause.path) + piece))
    return rows


def fill_jieba_collection(
    milvus: MilvusStore, name: str, rows: list[tuple[int, str]], k1: float, b: float
) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    if milvus.client.has_collection(name):
        milvus.client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("passage_id", DataType.INT64, is_primary=True)
    schema.add_field(
        "lexical", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, analyzer_params=jieba_analyzer()
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["lexical"],
            output_field_names=["sparse"],
        )
    )
    index_params = milvus.client.prepare_index_params()
    index_params.add_index(
        "sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params={"params": {"bm25_k1": k1, "bm25_b": b}},
    )
    milvus.client.create_collection(name, schema=schema, index_params=index_params)
    for start in tqdm(range(0, len(rows), BATCH_ROWS), desc="jieba collection", unit="batch"):
        batch = rows[start : start + BATCH_ROWS]
        milvus.client.insert(name, [{"passage_id": passage, "lexical": text} for passage, text in batch])
    milvus.client.flush(name)


class JiebaBM25Retriever:
    """BM25 mode over the jieba collection: the raw question, analysed by Milvus."""

    name = "bm25"

    def __init__(self, milvus: MilvusStore, collection: str, catalogue):
        self.milvus = milvus
        self.collection = collection
        self.catalogue = catalogue

    def search(self, query: Query, depth: int, filters: SearchFilters | None) -> Ranking:
        expression = filter_expression(filters, self.catalogue) or ""
        found = self.milvus.client.search(
            self.collection,
            data=[query.text],
            anns_field="sparse",
            limit=depth,
            filter=expression,
            output_fields=["passage_id"],
            search_params={"metric_type": "BM25"},
        )[0]
        ids = np.array([int(hit["passage_id"]) for hit in found], dtype=np.int64)
        scores = np.abs(np.array([float(hit["distance"]) for hit in found], dtype=np.float32))
        return self.catalogue.fold_known(ids, scores)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--milvus-uri", required=True)
    parser.add_argument("--milvus-collection", default="policyqa")
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument(
        "--split", help="only this part of the split (validation for the decision); default all"
    )
    parser.add_argument("--split-file", type=Path, default=STARD_SPLIT)
    args = parser.parse_args()

    queries = load_queries(args.queries)
    if args.split:
        queries = select(queries, load_split(args.split_file), args.split)
    folder_settings = load_settings(index_dir=args.index_dir)
    settings = load_settings(
        index_dir=args.index_dir,
        store="milvus",
        milvus_uri=args.milvus_uri,
        milvus_collection=args.milvus_collection,
    )
    folder = PolicyIndex.load(args.index_dir, folder_settings)
    ours = PolicyIndex.load(args.index_dir, settings, embedder=folder.embedder)
    milvus = MilvusStore.connect(settings)
    name = f"{args.milvus_collection}_jieba"
    fill_jieba_collection(milvus, name, lexical_texts(args.index_dir), **ours.manifest["bm25"])
    try:
        jieba = PolicyIndex(
            manifest=ours.manifest,
            settings=settings,
            embedder=ours.embedder,
            tokenizer=ours.tokenizer,
            catalogue=ours.catalogue,
            retrievers=[
                JiebaBM25Retriever(milvus, name, ours.catalogue),
                MilvusDenseRetriever(ours.vector_store),
            ],
            vector_store=ours.vector_store,
        )
        results = {
            label: evaluate_mode(index, queries, "bm25")
            for label, index in (("folder", folder), ("milvus, our terms", ours), ("milvus, jieba", jieba))
        }
    finally:
        milvus.client.drop_collection(name)
    print(metrics_table({label: result.summary() for label, result in results.items()}, columns=COLUMNS))
    reference = [entry.top_hit.clause.id if entry.top_hit else None for entry in results["folder"].results]
    for label, result in results.items():
        tops = [entry.top_hit.clause.id if entry.top_hit else None for entry in result.results]
        same = sum(a == b for a, b in zip(tops, reference, strict=True)) / len(tops)
        print(f"{label}: first clause the folder store's for {same:.1%} of {len(tops)} questions")


if __name__ == "__main__":
    main()
