"""``policyqa train ranker``: train the learned ranker (``policyqa.indexer.learned_ranker``) of the index's
embedding model on the train part of the split, and measure it on the validation part.

Every question is searched as hybrid search runs it with the learned ranker — each retriever ``depth`` deep,
the ranker's answered candidates added, fused and adjusted — but not re-ordered; each fused candidate that
is an article (the kind the ranker re-orders) becomes a row of the ranker's features, relevant when it
satisfies one of the question's labels. How often an article answered the train questions is one of the
features (the model file keeps the counts); a train question's own row leaves its own labels out of that
count and of its answered candidates (leave one out), so the model learns what the count says of a question
it was not made from, which is what a validation question, or a user's, is. LightGBM's ``lambdarank``
objective learns from the train questions' rows, one group per question; the number of trees is chosen by
``FOLDS``-fold cross-validation over the train questions (mean nDCG@10), never by the validation part. One
thread and fixed seeds make a run reproducible. The validation questions are ranked twice — fused, and with
the trained model re-ordering the articles exactly as search does — and judged like ``policyqa eval``.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policyqa.eval.errors import EvalError
from policyqa.eval.files import write_text_atomic
from policyqa.eval.labels import ArticleLabel, judge
from policyqa.eval.metrics import mean_metrics, query_metrics
from policyqa.eval.queries import EvalQuery, load_queries
from policyqa.eval.runner import label_ids
from policyqa.eval.split import STARD_SPLIT, load_split, select
from policyqa.eval.training import elapsed, sha256
from policyqa.indexer import PolicyIndex
from policyqa.indexer.index import dated
from policyqa.indexer.learned_ranker import (
    FEATURES,
    RANKER_DIR,
    RankerModel,
    answer_counts,
    answer_key,
    answer_keys,
    answered_passages,
    candidate_features,
    is_article,
    reorder_articles,
    widen_dense,
)
from policyqa.indexer.records import SearchRequest
from policyqa.indexer.relevance import model_file
from policyqa.indexer.settings import IndexSettings

FOLDS = 5
MAX_TREES = 600
REPORTED = ("recall@1", "recall@10", "recall@100", "mrr@10", "ndcg@10")
PARAMS = {  # LightGBM's; one thread and deterministic histograms: the same trees on every machine
    "objective": "lambdarank",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,
    "metric": "ndcg",
    "eval_at": [10],
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}


@dataclass(frozen=True)
class RankerConfig:
    """What ``policyqa train ranker`` trains on and where it writes."""

    queries: Path  # labelled questions (STARD-train)
    index_dir: Path  # an index built with the embedding model the ranker is for
    out: Path | None = None  # None: the package's file for the index's model
    split_file: Path = STARD_SPLIT
    depth: int = 300
    answered_candidates: int = 50  # answered articles nearest the question added to the dense ranking
    trees: int | None = None  # None: chosen by cross-validation
    seed: int = 20261201
    progress: bool = True


@dataclass(frozen=True)
class Candidates:
    """One question's fused candidates: their features, fused order and judgement."""

    query: EvalQuery
    ranking: list[tuple[str, float]]
    features: np.ndarray  # candidates × FEATURES
    articles: list[bool]
    judged: list[str]  # "label:i" for a candidate satisfying label i, else "clause:<id>" (as policyqa eval)

    @property
    def relevant(self) -> np.ndarray:
        return np.array([name.startswith("label:") for name in self.judged])


def labelled_answers(query: EvalQuery) -> Counter[str]:
    """The ``answer_key`` of each article the question is labelled with."""
    return Counter(
        key
        for label in query.relevant
        if isinstance(label, ArticleLabel) and (key := answer_key(label.title, label.article))
    )


@dataclass(frozen=True)
class Answers:
    """How many train questions each article answered: by ``answer_key`` (what the model file keeps) and by
    clause row of one index, with the rows each key names."""

    counts: Counter[str]
    by_row: np.ndarray
    rows: dict[str, np.ndarray]

    @classmethod
    def of(cls, train: Sequence[EvalQuery], index: PolicyIndex) -> Answers:
        counts: Counter[str] = Counter()
        for query in train:
            counts.update(labelled_answers(query))
        keys = answer_keys(index.catalogue)
        rows: dict[str, list[int]] = {}
        for row, key in enumerate(keys):
            if key in counts:
                rows.setdefault(key, []).append(row)
        by_row = answer_counts(keys, counts)
        return cls(counts, by_row, {key: np.array(found) for key, found in rows.items()})

    def without(self, query: EvalQuery) -> np.ndarray:
        """``by_row`` less the question's own labels (for a question that was counted)."""
        own = labelled_answers(query)
        if not own:
            return self.by_row
        left = self.by_row.copy()
        for key, times in own.items():
            if key in self.rows:
                left[self.rows[key]] -= times
        return left


def collect(
    index: PolicyIndex,
    queries: Sequence[EvalQuery],
    config: RankerConfig,
    answers: Answers,
    *,
    counted: bool,
) -> list[Candidates]:
    """Each question's candidates, searched as hybrid search does with the learned ranker (its answered
    candidates added, then fused and adjusted); ``counted``: the questions are among those ``answers``
    counted (their own labels are left out of their rows and their answered candidates)."""
    fused = index.with_settings(index.settings.model_copy(update={"rerank": "off"}))
    filters = dated(None, index.settings)
    found = []
    for query in tqdm(queries, desc="search", unit="q", disable=not config.progress):
        request = SearchRequest(fused.query(query.question), "hybrid", config.depth, filters)
        counts = answers.without(query) if counted else answers.by_row
        rankings = widen_dense(
            index.vector_store,
            index.catalogue,
            request,
            fused.pipeline.rankings(request),
            answered_passages(index.catalogue, counts),
            config.answered_candidates,
        )
        ranking = list(fused.pipeline.combine(request, rankings))
        clauses = [index.catalogue.clause(clause_id) for clause_id, _score in ranking]
        judged = []
        for clause in clauses:
            label = judge(clause, index.catalogue.document(clause.document_id), query.relevant)
            judged.append(f"clause:{clause.id}" if label is None else f"label:{label}")
        found.append(
            Candidates(
                query=query,
                ranking=ranking,
                features=candidate_features(ranking, rankings, index.catalogue, config.depth, counts),
                articles=[is_article(clause.number) for clause in clauses],
                judged=judged,
            )
        )
    return found


def training_data(found: Sequence[Candidates]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Rows, labels and group sizes of the articles of the questions with a relevant article."""
    rows, labels, groups = [], [], []
    for item in found:
        mask = np.array(item.articles, dtype=bool)
        relevant = item.relevant[mask]
        if relevant.any():
            rows.append(item.features[mask])
            labels.append(relevant.astype(int))
            groups.append(int(mask.sum()))
    if not rows:
        raise EvalError("no train question has a labelled article among its candidates")
    return np.concatenate(rows), np.concatenate(labels), groups


def choose_trees(found: Sequence[Candidates], seed: int, *, progress: bool) -> tuple[int, float]:
    """The number of trees with the best mean cross-validated nDCG@10 over the train questions (folds by
    question), and that nDCG."""
    import lightgbm

    order = list(range(len(found)))
    random.Random(seed).shuffle(order)
    curves = []
    for fold in tqdm(range(FOLDS), desc="cross-validation", unit="fold", disable=not progress):
        held_out = {position for rank, position in enumerate(order) if rank % FOLDS == fold}
        test_items = [item for i, item in enumerate(found) if i in held_out]
        if not any(item.relevant[np.array(item.articles, dtype=bool)].any() for item in test_items):
            continue  # nothing to measure on this fold
        train = training_data([item for i, item in enumerate(found) if i not in held_out])
        test = training_data(test_items)
        history: dict = {}
        lightgbm.train(
            {**PARAMS, "seed": seed},
            lightgbm.Dataset(train[0], train[1], group=train[2]),
            MAX_TREES,
            valid_sets=[lightgbm.Dataset(test[0], test[1], group=test[2])],
            callbacks=[lightgbm.record_evaluation(history)],
        )
        curves.append(history["valid_0"]["ndcg@10"])
    if not curves:
        raise EvalError("too few labelled questions to cross-validate the number of trees; pass --trees")
    mean = np.mean(curves, axis=0)
    best = int(np.argmax(mean))
    return best + 1, float(mean[best])


def evaluate(found: Sequence[Candidates], booster) -> dict[str, dict[str, float]]:
    """Mean metrics of the fused order and of the ranker's order over ``found``."""
    fused, learned = [], []
    for item in found:
        relevant = label_ids(item.query)
        fused.append(query_metrics(item.judged, relevant))
        scores = booster.predict(item.features, num_threads=1) if len(item.ranking) else np.zeros(0)
        position = {clause_id: i for i, (clause_id, _score) in enumerate(item.ranking)}
        reordered = reorder_articles(item.ranking, scores, item.articles)
        learned.append(query_metrics([item.judged[position[c]] for c, _s in reordered], relevant))
    return {
        name: {metric: round(value, 4) for metric, value in mean_metrics(rows).items() if metric in REPORTED}
        for name, rows in (("fused", fused), ("learned", learned))
    }


def train_ranker(config: RankerConfig, settings: IndexSettings) -> tuple[RankerModel, Path]:
    """Train, measure, write the model file; returns the model and where it went."""
    import lightgbm

    started = time.perf_counter()
    # the fused order is what the ranker learns from: the shipped ranker is not loaded (it may be of an
    # older format, the reason to train anew)
    index = PolicyIndex.load(config.index_dir, settings.model_copy(update={"rerank": "off"}))
    queries = load_queries(config.queries)
    split = load_split(config.split_file)
    train, validation = select(queries, split, "train"), select(queries, split, "validation")
    if not train:
        raise EvalError(f"{config.queries}: no question of the split's train part")
    answers = Answers.of(train, index)
    train_found = collect(index, train, config, answers, counted=True)
    validation_found = collect(index, validation, config, answers, counted=False)
    if config.trees is None:
        trees, cv_ndcg = choose_trees(train_found, config.seed, progress=config.progress)
    else:
        trees, cv_ndcg = config.trees, None
    rows, labels, groups = training_data(train_found)
    booster = lightgbm.train(
        {**PARAMS, "seed": config.seed}, lightgbm.Dataset(rows, labels, group=groups), trees
    )
    measured = evaluate(validation_found, booster) if validation_found else {}
    model_id = index.embedder.model_id
    model = RankerModel(
        model_id=model_id,
        depth=config.depth,
        booster=booster.model_to_string(),
        answers=dict(answers.counts),
        answered_candidates=config.answered_candidates,
        provenance={
            "command": "policyqa train ranker --queries STARD-TRAIN --index-dir INDEX"
            + (f" --trees {config.trees}" if config.trees is not None else ""),
            "split_sha256": sha256(config.split_file),
            "index": {
                "documents": int(index.manifest["documents"]),
                "clauses": int(index.manifest["clauses"]),
            },
            "questions": {"train": len(train), "validation": len(validation)},
            "train_rows": len(labels),
            "train_relevant_rows": int(labels.sum()),
            "answered_articles": len(answers.counts),
            "params": {**PARAMS, "seed": config.seed},
            "trees": trees,
            "cross_validated_ndcg@10": None if cv_ndcg is None else round(cv_ndcg, 4),
            "validation": measured,
            "seconds": round(time.perf_counter() - started),
        },
    )
    out = config.out or model_file(model_id, RANKER_DIR)
    write_text_atomic(out, model.to_json())
    print(f"trained in {elapsed(started)}", file=sys.stderr)
    return model, out


def report(model: RankerModel, out: Path) -> str:
    """The trained ranker, its measurement and where it went, for the terminal."""
    provenance = model.provenance
    lines = [
        f"learned ranker for {model.model_id}: {provenance['trees']} trees over {len(FEATURES)} features, "
        f"{provenance['train_rows']} article rows of {provenance['questions']['train']} train questions",
    ]
    for name, metrics in provenance["validation"].items():
        shown = ", ".join(f"{metric} {value:.3f}" for metric, value in metrics.items())
        lines.append(f"  validation ({provenance['questions']['validation']} questions), {name}: {shown}")
    lines.append(f"  written to {out}")
    return "\n".join(lines)
