"""Fitting the relevance model and the /ask threshold, on hand-made questions whose features are known."""

from __future__ import annotations

import numpy as np

from policyqa.eval.train_relevance import (
    Asked,
    choose_threshold,
    cross_validated,
    decide,
    fitted_model,
    rates,
    top_relevance,
)


def asked(index: str, number: int, in_scope: bool, cosine: float, coverage: float) -> Asked:
    """A question: its top hit has these features (relevant when in scope), two weaker hits are not."""
    features = np.array([[cosine, coverage], [cosine - 0.03, coverage / 2], [cosine - 0.05, 0.0]])
    return Asked(index, f"q{number}", f"问题{number}", in_scope, features, np.array([in_scope, False, False]))


def questions() -> list[Asked]:
    rng = np.random.default_rng(7)
    items = []
    for number in range(60):
        in_scope = number % 2 == 0
        cosine = (0.90 if in_scope else 0.83) + rng.normal(0, 0.01)
        coverage = (0.7 if in_scope else 0.15) + rng.normal(0, 0.05)
        items.append(asked("demo" if number < 30 else "full", number, in_scope, cosine, coverage))
    return items


def test_the_fitted_relevance_separates_covered_from_uncovered_questions() -> None:
    items = questions()
    model = fitted_model(items, "m")
    assert all(coefficient > 0 for coefficient in model.coefficients)
    scored = [(item, top_relevance(model, item)) for item in items]
    covered = min(score for item, score in scored if item.in_scope)
    uncovered = max(score for item, score in scored if not item.in_scope)
    assert uncovered < model.threshold < covered
    for index in ("demo", "full"):
        assert rates(decide(scored, model.threshold), index).summary()["false_answers"] == 0


def test_the_threshold_sits_in_the_middle_of_the_widest_gap_of_equally_good_ones() -> None:
    items = [asked("demo", 1, True, 0.9, 0.5), asked("full", 2, False, 0.8, 0.1)]
    scored = [(items[0], 0.8), (items[1], 0.2)]
    assert choose_threshold(scored) == 0.5


def test_rates_count_false_answers_and_false_refusals_per_index() -> None:
    items = [asked("demo", 1, True, 0.9, 0.5), asked("demo", 2, False, 0.8, 0.1)]
    items.append(asked("full", 3, True, 0.9, 0.0))
    result = rates([(items[0], False), (items[1], True), (items[2], False)], "demo")
    assert (result.false_answers, result.out_of_scope, result.false_refusals, result.in_scope) == (1, 1, 1, 1)
    assert (result.false_answer_rate, result.false_refusal_rate) == (1.0, 1.0)


def test_cross_validation_decides_every_question_once_per_index() -> None:
    validated = cross_validated(questions(), "m")
    assert validated["demo"].in_scope + validated["demo"].out_of_scope == 30
    assert validated["full"].in_scope + validated["full"].out_of_scope == 30
    assert validated["demo"].false_answer_rate <= 0.1 and validated["full"].false_refusal_rate <= 0.1
