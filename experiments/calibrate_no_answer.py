"""Calibrate the /ask no-answer threshold (``POLICYQA_ANSWER_THRESHOLD``, ServiceSettings.answer_threshold).

For every development question — in-domain ones about the demo document (eval/data/seed_questions.jsonl)
and out-of-domain ones it does not cover (eval/data/ood_questions.jsonl) — run the service's own answer
pipeline (hybrid search, the top 3 clauses split into sentences, each scored against the question) and take
the refusal score: the best sentence's embedding similarity to the question. The chosen threshold
minimises false-answer rate (out-of-domain questions answered) + false-refusal rate (in-domain questions
refused); among equally good thresholds the one in the widest gap between observed scores wins, and it
sits in the middle of that gap. For comparison the script shows how mixing in term overlap would separate
the two sets, and how often an answered in-domain question quotes a relevant clause first.

    .venv/bin/python -m experiments.calibrate_no_answer [--index-dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from policyqa.eval.labels import Label, judge
from policyqa.eval.queries import OOD_QUESTIONS, SEED_QUESTIONS, load_queries
from policyqa.indexer import PolicyIndex
from policyqa.indexer.demo import ensure_demo_index
from policyqa.service.answers import DEFAULT_ASK_K
from policyqa.service.extractive import Candidate, ExtractiveAnswerer, compose_answer
from policyqa.service.settings import load_settings

OVERLAP_MIXES = (0.0, 0.1, 0.25, 0.5, 1.0)  # share of term overlap in the compared refusal scores


@dataclass(frozen=True)
class Scored:
    """A development question with its candidate sentences."""

    question: str
    candidates: tuple[Candidate, ...]
    relevant: tuple[Label, ...] = ()

    def refusal_score(self, overlap_share: float = 0.0) -> float:
        """Best (1 - share) * similarity + share * overlap over the candidates (share 0: the service's)."""
        return max(
            ((1 - overlap_share) * c.similarity + overlap_share * c.overlap for c in self.candidates),
            default=0.0,
        )


@dataclass(frozen=True)
class Calibration:
    threshold: float
    false_answer_rate: float
    false_refusal_rate: float
    gap: float  # width of the score gap the threshold sits in


def choose_threshold(in_scores: list[float], out_scores: list[float]) -> Calibration:
    """The threshold with the fewest errors (false answers + false refusals, as rates), widest gap first."""
    cuts = sorted({*in_scores, *out_scores})
    candidates = [((low + high) / 2, high - low) for low, high in itertools.pairwise(cuts)]
    candidates += [(cuts[0] - 1e-3, 0.0), (cuts[-1] + 1e-3, 0.0)]  # refuse everything / answer everything
    best: tuple[float, float, Calibration] | None = None
    for threshold, gap in candidates:
        false_answer, false_refusal = error_rates(threshold, in_scores, out_scores)
        key = (false_answer + false_refusal, -gap)
        if best is None or key < best[:2]:
            best = (*key, Calibration(threshold, false_answer, false_refusal, gap))
    assert best is not None
    return best[2]


def error_rates(threshold: float, in_scores: list[float], out_scores: list[float]) -> tuple[float, float]:
    """(share of out-of-domain questions answered, share of in-domain questions refused)."""
    false_answer = sum(score >= threshold for score in out_scores) / len(out_scores)
    false_refusal = sum(score < threshold for score in in_scores) / len(in_scores)
    return false_answer, false_refusal


def distribution(scores: list[float]) -> str:
    deciles = statistics.quantiles(scores, n=10)
    return (
        f"n={len(scores)} min={min(scores):.3f} p10={deciles[0]:.3f} "
        f"median={statistics.median(scores):.3f} p90={deciles[-1]:.3f} max={max(scores):.3f}"
    )


def load_questions(path: Path) -> list[str]:
    """The questions of a JSON Lines file (out-of-domain files have no relevance labels)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, help="index to calibrate on (default: the demo index)")
    parser.add_argument("--in-domain", type=Path, default=SEED_QUESTIONS)
    parser.add_argument("--out-of-domain", type=Path, default=OOD_QUESTIONS)
    args = parser.parse_args(argv)

    settings = load_settings(index_dir=args.index_dir)
    index_dir = ensure_demo_index(settings, embedder=None)
    index = PolicyIndex.load(index_dir, settings)
    answerer = ExtractiveAnswerer.from_settings(settings, index.embedder)

    def scored(question: str, relevant: tuple[Label, ...] = ()) -> Scored:
        retrieval = index.retrieve(question, k=DEFAULT_ASK_K)  # what /ask searches
        return Scored(question, tuple(answerer.candidates(retrieval.query, retrieval.hits)), relevant)

    inside = [scored(query.question, query.relevant) for query in load_queries(args.in_domain)]
    outside = [scored(question) for question in load_questions(args.out_of_domain)]
    print(f"index: {index_dir} ({index.manifest['clauses']} clauses), model {index.embedder.model_id}")
    print(f"questions: {len(inside)} in-domain ({args.in_domain.name}), {len(outside)} out-of-domain")

    print("\nrefusal score = (1 - s) * best-sentence similarity + s * term overlap:")
    for share in OVERLAP_MIXES:
        result = choose_threshold(
            [q.refusal_score(share) for q in inside], [q.refusal_score(share) for q in outside]
        )
        used = "  <- the service (similarity only)" if share == 0 else ""
        print(
            f"  s={share:.2f}: best threshold {result.threshold:.3f}"
            f"  false answers {result.false_answer_rate:.1%}"
            f"  false refusals {result.false_refusal_rate:.1%}  gap {result.gap:.3f}{used}"
        )

    in_scores = [q.refusal_score() for q in inside]
    out_scores = [q.refusal_score() for q in outside]
    print(f"\nbest-sentence similarity, in-domain:     {distribution(in_scores)}")
    print(f"best-sentence similarity, out-of-domain: {distribution(out_scores)}")
    chosen = choose_threshold(in_scores, out_scores)
    print(f"\nchosen threshold: {chosen.threshold:.3f} (middle of a {chosen.gap:.3f} gap)")
    print(f"  false-answer rate  (out-of-domain answered): {chosen.false_answer_rate:.1%}")
    print(f"  false-refusal rate (in-domain refused):      {chosen.false_refusal_rate:.1%}")
    configured = settings.answer_threshold
    false_answer, false_refusal = error_rates(configured, in_scores, out_scores)
    print(
        f"configured threshold {configured:.3f}: "
        f"false answers {false_answer:.1%}, false refusals {false_refusal:.1%}"
    )

    first_quote_relevant = [
        judge(answer.quotes[0].clause, answer.quotes[0].document, q.relevant) is not None
        for q in inside
        if not (answer := compose_answer(q.candidates, configured)).no_answer
    ]
    print(
        f"answered in-domain questions whose first citation is a relevant clause: "
        f"{sum(first_quote_relevant)}/{len(first_quote_relevant)}"
    )
    _print_extremes("highest out-of-domain", outside, reverse=True, score=Scored.refusal_score)
    _print_extremes("lowest in-domain", inside, reverse=False, score=Scored.refusal_score)
    return 0


def _print_extremes(
    title: str, items: list[Scored], *, reverse: bool, score: Callable[[Scored], float]
) -> None:
    print(f"{title}:")
    for item in sorted(items, key=score, reverse=reverse)[:4]:
        print(f"  {score(item):.3f}  {item.question}")


if __name__ == "__main__":
    raise SystemExit(main())
