"""``policyqa train relevance``: fit the relevance model of the configured embedding model and the /ask
threshold, on a demo index (one document) and a full index (the law corpus) at once, so that one threshold
holds on both.

Questions, and whether each is in scope on each index:

| questions | demo index | full index |
|---|---|---|
| seed questions (about the demo document) | in scope | in scope |
| STARD validation part (labelled law articles) | out of scope | in scope |
| ``eval/data/ood_questions.jsonl`` | out of scope | out of scope unless ``answered_by_law`` |

Every question is searched as /ask searches it; each of its top ``FIT_DEPTH`` hits is one example, labelled
relevant when it is a labelled clause (out-of-scope questions have none). A logistic regression over the
hits' features (``policyqa.indexer.relevance.FEATURES``) gives the relevance. The threshold is chosen on
what /ask decides — it answers when the best relevance among its top ``DEFAULT_ASK_K`` hits reaches the
threshold — minimising false answers (out-of-scope questions answered) plus false refusals (in-scope ones
refused) summed over both indexes, in the middle of the widest gap among equally good thresholds.

In-sample rates use the model fitted on every question; cross-validated rates fit the model and the
threshold without a fold's questions (``FOLDS`` folds by question id, the same question in the same fold on
both indexes) and decide that fold's questions with them.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from policyqa.eval.errors import EvalError
from policyqa.eval.files import write_text_atomic
from policyqa.eval.labels import Label, judge
from policyqa.eval.queries import OOD_QUESTIONS, SEED_QUESTIONS, load_out_of_scope, load_queries
from policyqa.eval.split import STARD_SPLIT, load_split, select
from policyqa.indexer import PolicyIndex
from policyqa.indexer.relevance import FEATURES, RELEVANCE_DIR, RelevanceModel, model_file
from policyqa.service.answers import DEFAULT_ASK_K

FIT_DEPTH = 10  # hits per question that become examples (the /search default k)
FOLDS = 5
SEED = 20261201
INDEXES = ("demo", "full")


@dataclass(frozen=True)
class RelevanceConfig:
    """What ``policyqa train relevance`` fits on and where it writes."""

    stard: Path  # labelled law questions (STARD-train); only the validation part of the split is used
    index_dir: Path  # the full index
    demo_index_dir: Path
    split_file: Path = STARD_SPLIT
    seed_questions: Path = SEED_QUESTIONS
    out_of_scope: Path = OOD_QUESTIONS
    out_dir: Path = RELEVANCE_DIR
    progress: bool = True


@dataclass(frozen=True)
class Asked:
    """One question searched on one index: whether it is in scope there, and its top hits' features and
    labels (relevant or not), in search order."""

    index: str
    question_id: str
    question: str
    in_scope: bool
    features: np.ndarray  # hits × FEATURES
    relevant: np.ndarray  # bool per hit


@dataclass(frozen=True)
class Rates:
    """What /ask decides on one index's questions at one threshold."""

    false_answers: int
    out_of_scope: int
    false_refusals: int
    in_scope: int

    @property
    def false_answer_rate(self) -> float:
        return self.false_answers / self.out_of_scope if self.out_of_scope else 0.0

    @property
    def false_refusal_rate(self) -> float:
        return self.false_refusals / self.in_scope if self.in_scope else 0.0

    def summary(self) -> dict[str, float | int]:
        return {
            "false_answer_rate": round(self.false_answer_rate, 4),
            "false_answers": self.false_answers,
            "out_of_scope": self.out_of_scope,
            "false_refusal_rate": round(self.false_refusal_rate, 4),
            "false_refusals": self.false_refusals,
            "in_scope": self.in_scope,
        }


def ask_all(
    index: PolicyIndex,
    name: str,
    in_scope: Sequence[tuple[str, str, tuple[Label, ...]]],
    out_of_scope: Sequence[tuple[str, str]],
    *,
    progress: bool = False,
) -> list[Asked]:
    """Search every question on ``index`` (hybrid, top ``FIT_DEPTH``); keep its hits' features and labels."""
    asked = []
    questions = [(*question, True) for question in in_scope] + [(*q, (), False) for q in out_of_scope]
    for number, (question_id, question, labels, covered) in enumerate(questions, start=1):
        retrieval = index.retrieve(question, k=FIT_DEPTH)
        pairs = [(hit.clause, hit.document) for hit in retrieval.hits]
        asked.append(
            Asked(
                index=name,
                question_id=question_id,
                question=question,
                in_scope=covered,
                features=index.relevance.features(retrieval.query, pairs),
                relevant=np.array([judge(c, d, labels) is not None for c, d in pairs], dtype=bool),
            )
        )
        if progress and number % 50 == 0:
            print(f"{name}: {number}/{len(questions)} questions", file=sys.stderr)
    return asked


def fit(asked: Sequence[Asked]) -> tuple[tuple[float, ...], float]:
    """Coefficients (in ``FEATURES`` order) and intercept of a logistic regression of relevant vs not over
    every hit, on standardised features, returned for raw features."""
    features = np.concatenate([item.features for item in asked])
    labels = np.concatenate([item.relevant for item in asked])
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale[scale == 0] = 1.0
    regression = LogisticRegression(C=1.0, max_iter=1000).fit((features - mean) / scale, labels)
    coefficients = regression.coef_[0] / scale
    intercept = float(regression.intercept_[0] - coefficients @ mean)
    return tuple(float(value) for value in coefficients), intercept


def top_relevance(model: RelevanceModel, item: Asked) -> float:
    """What /ask compares with the threshold: the best relevance among its top ``DEFAULT_ASK_K`` hits."""
    top = item.features[:DEFAULT_ASK_K]
    return float(model.relevance(top).max()) if len(top) else 0.0


def rates(decided: Sequence[tuple[Asked, bool]], index: str) -> Rates:
    """False answers and false refusals among ``index``'s (question, answered) decisions."""
    mine = [(item, answered) for item, answered in decided if item.index == index]
    return Rates(
        false_answers=sum(answered for item, answered in mine if not item.in_scope),
        out_of_scope=sum(not item.in_scope for item, _answered in mine),
        false_refusals=sum(not answered for item, answered in mine if item.in_scope),
        in_scope=sum(item.in_scope for item, _answered in mine),
    )


def decide(scored: Sequence[tuple[Asked, float]], threshold: float) -> list[tuple[Asked, bool]]:
    """Whether /ask answers each question: its top relevance reaches ``threshold``."""
    return [(item, score >= threshold) for item, score in scored]


def choose_threshold(scored: Sequence[tuple[Asked, float]]) -> float:
    """The threshold with the fewest errors (false-answer + false-refusal rates summed over the indexes),
    in the middle of the widest gap between observed scores among equally good ones."""
    cuts = sorted({score for _item, score in scored})
    candidates = [((low + high) / 2, high - low) for low, high in itertools.pairwise(cuts)]
    best_key, best = None, 0.5
    for threshold, gap in candidates:
        decided = decide(scored, threshold)
        errors = sum(
            (r := rates(decided, index)).false_answer_rate + r.false_refusal_rate for index in INDEXES
        )
        key = (round(errors, 9), -gap)
        if best_key is None or key < best_key:
            best_key, best = key, threshold
    return best


def fitted_model(asked: Sequence[Asked], model_id: str) -> RelevanceModel:
    """The relevance model fitted on ``asked``, with its threshold."""
    coefficients, intercept = fit(asked)
    model = RelevanceModel(model_id, coefficients, intercept, threshold=0.5, provenance={})
    threshold = choose_threshold([(item, top_relevance(model, item)) for item in asked])
    return RelevanceModel(model_id, coefficients, intercept, round(threshold, 4), provenance={})


def cross_validated(asked: Sequence[Asked], model_id: str) -> dict[str, Rates]:
    """Per-index rates of decisions made by models (and thresholds) fitted without the question's fold."""
    ids = sorted({item.question_id for item in asked})
    random.Random(SEED).shuffle(ids)
    fold_of = {question_id: position % FOLDS for position, question_id in enumerate(ids)}
    decided: list[tuple[Asked, bool]] = []
    for fold in range(FOLDS):
        model = fitted_model([item for item in asked if fold_of[item.question_id] != fold], model_id)
        held_out = [item for item in asked if fold_of[item.question_id] == fold]
        decided += decide([(item, top_relevance(model, item)) for item in held_out], model.threshold)
    return {index: rates(decided, index) for index in INDEXES}


def train_relevance(config: RelevanceConfig, settings) -> RelevanceModel:
    """Ask every question on both indexes, fit, measure, and write the model file of the index's model."""
    full = PolicyIndex.load(config.index_dir, settings)
    demo = PolicyIndex.load(config.demo_index_dir, settings, embedder=full.embedder)
    model_id = full.embedder.model_id
    seed = [(q.id, q.question, q.relevant) for q in load_queries(config.seed_questions)]
    stard = [
        (q.id, q.question, q.relevant)
        for q in select(load_queries(config.stard), load_split(config.split_file), "validation")
    ]
    outside = load_out_of_scope(config.out_of_scope)
    not_law = [(q.id, q.question) for q in outside if not q.answered_by_law]
    if not not_law:
        raise EvalError(f'{config.out_of_scope}: no question marked "answered_by_law": false')
    progress = config.progress
    asked = ask_all(
        demo,
        "demo",
        seed,
        [(q.id, q.question) for q in outside] + [(q[0], q[1]) for q in stard],
        progress=progress,
    ) + ask_all(full, "full", seed + stard, not_law, progress=progress)

    model = fitted_model(asked, model_id)
    decided = decide([(item, top_relevance(model, item)) for item in asked], model.threshold)
    in_sample = {index: rates(decided, index) for index in INDEXES}
    validated = cross_validated(asked, model_id)
    provenance = {
        "command": "policyqa train relevance --queries STARD-TRAIN --index-dir FULL --demo-index-dir DEMO",
        "indexes": {
            "demo": {"clauses": int(demo.manifest["clauses"])},
            "full": {"clauses": int(full.manifest["clauses"])},
        },
        "questions": {
            "seed": len(seed),
            "stard_validation": len(stard),
            "out_of_scope": len(outside),
            "out_of_scope_not_answered_by_law": len(not_law),
        },
        "hits_per_question": FIT_DEPTH,
        "decided_on_top": DEFAULT_ASK_K,
        "in_sample": {index: in_sample[index].summary() for index in INDEXES},
        "cross_validated": {index: validated[index].summary() for index in INDEXES},
        "folds": FOLDS,
    }
    model = RelevanceModel(model_id, model.coefficients, model.intercept, model.threshold, provenance)
    write_text_atomic(model_file(model_id, config.out_dir), model.to_json())
    return model


def report(model: RelevanceModel) -> str:
    """The fitted model and its measured rates, for the terminal."""
    lines = [
        f"relevance model for {model.model_id}",
        "  relevance = sigmoid("
        + " + ".join(f"{c:.3f}·{name}" for c, name in zip(model.coefficients, FEATURES, strict=True))
        + f" {model.intercept:+.3f})",
        f"  /ask threshold (POLICYQA_ANSWER_MIN_RELEVANCE default): {model.threshold}",
    ]
    for kind in ("in_sample", "cross_validated"):
        for index in INDEXES:
            r = model.provenance[kind][index]
            lines.append(
                f"  {kind:15s} {index}: false answers {r['false_answer_rate']:.1%} "
                f"({r['false_answers']}/{r['out_of_scope']}), false refusals {r['false_refusal_rate']:.1%} "
                f"({r['false_refusals']}/{r['in_scope']})"
            )
    return "\n".join(lines)
