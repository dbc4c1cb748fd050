"""Eval test fixtures: labelled question files with their train/validation split, as training reads them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from policyqa.eval.split import Split

QuestionRow = tuple[int, str, list[dict]]  # id, question, labels
WriteQuestions = Callable[[str, Sequence[QuestionRow], tuple[int, ...], tuple[int, ...]], tuple[Path, Path]]


@pytest.fixture(scope="session")
def write_questions(tmp_path_factory: pytest.TempPathFactory) -> WriteQuestions:
    """``write(name, rows, train_ids, validation_ids)`` → (questions.jsonl, split.json) in a fresh folder."""

    def write(
        name: str, rows: Sequence[QuestionRow], train: tuple[int, ...], validation: tuple[int, ...]
    ) -> tuple[Path, Path]:
        folder = tmp_path_factory.mktemp(name)
        path = folder / "questions.jsonl"
        path.write_text(
            "".join(
                json.dumps({"id": i, "question": q, "relevant": r}, ensure_ascii=False) + "\n"
                for i, q, r in rows
            ),
            encoding="utf-8",
        )
        split = folder / "split.json"
        split.write_text(Split(path.name, 1, train=train, validation=validation).to_json())
        return path, split

    return write
