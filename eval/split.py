"""A fixed train/validation split of a question file, by question id, made once and committed.

Training learns from the train part only and chooses its best checkpoint on the validation part; ``policyqa
eval --split validation`` then measures on questions no model has learnt from. The split is written once
(``python -m policyqa.eval.split QUESTIONS``) and committed, so every run and every developer use the same
one; regenerating it from the same file and seed gives the same JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from policyqa.eval.errors import EvalError, QueryFileError
from policyqa.eval.files import write_text_atomic
from policyqa.eval.queries import DATA, EvalQuery

STARD_SPLIT = DATA / "stard_split.json"  # of ../shared/eval/stard-train.jsonl
SEED = 20261201
VALIDATION_SHARE = 0.2

Part = Literal["train", "validation"]
PARTS: tuple[Part, ...] = ("train", "validation")

QuestionId = int | str


@dataclass(frozen=True)
class Split:
    """Question ids of each part (sorted, disjoint), the file they came from and the seed."""

    source: str
    seed: int
    train: tuple[QuestionId, ...]
    validation: tuple[QuestionId, ...]

    def ids(self, part: Part) -> frozenset[str]:
        """The ids of ``part`` as ``EvalQuery.id`` spells them (strings)."""
        if part not in PARTS:
            raise EvalError(f"unknown split part {part!r}; choose one of {', '.join(PARTS)}")
        return frozenset(str(question_id) for question_id in getattr(self, part))

    def to_json(self) -> str:
        """The committed form: one JSON object, ids sorted, a trailing newline."""
        data = {"source": self.source, "seed": self.seed, "train": self.train, "validation": self.validation}
        return json.dumps(data, ensure_ascii=False) + "\n"


def make_split(questions: Path, *, seed: int = SEED, validation_share: float = VALIDATION_SHARE) -> Split:
    """Shuffle the sorted question ids of ``questions`` with ``random.Random(seed)``; the first
    ``round(share · n)`` become the validation part, the rest the train part."""
    ids = _sorted_ids(question_ids(questions))
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)
    size = round(validation_share * len(shuffled))
    return Split(
        source=Path(questions).name,
        seed=seed,
        train=tuple(_sorted_ids(shuffled[size:])),
        validation=tuple(_sorted_ids(shuffled[:size])),
    )


def question_ids(questions: Path) -> list[QuestionId]:
    """The ``id`` of every line of a question file, as written (an integer or a string)."""
    try:
        lines = Path(questions).read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise QueryFileError(f"{questions}: cannot read ({error.strerror})") from None
    ids = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question_id = json.loads(line)["id"]
        except (ValueError, KeyError, TypeError):
            raise QueryFileError(f"{questions}:{number}: not a JSON object with an id") from None
        ids.append(question_id)
    if len(set(map(str, ids))) != len(ids):
        raise QueryFileError(f"{questions}: duplicate question ids")
    if not ids:
        raise QueryFileError(f"{questions}: no questions")
    return ids


def load_split(path: Path) -> Split:
    """A split file written by :func:`make_split`; EvalError naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        split = Split(
            source=str(data["source"]),
            seed=int(data["seed"]),
            train=tuple(data["train"]),
            validation=tuple(data["validation"]),
        )
    except FileNotFoundError:
        raise EvalError(f"{path}: no such split file") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EvalError(f"{path}: not a split file ({type(error).__name__}: {error})") from None
    if split.ids("train") & split.ids("validation"):
        raise EvalError(f"{path}: the train and validation parts share question ids")
    return split


def select(queries: Sequence[EvalQuery], split: Split, part: Part) -> list[EvalQuery]:
    """The queries of ``part``, in file order. Ids of the split missing from ``queries`` are fine (a subset
    of the file); none of the part at all is an EvalError."""
    wanted = split.ids(part)
    selected = [query for query in queries if query.id in wanted]
    if not selected:
        raise EvalError(
            f"no question of the {part} part of the split (of {split.source}) is in the query file"
        )
    return selected


def _sorted_ids(ids: Sequence[QuestionId]) -> list[QuestionId]:
    """Numbers in numeric order; any string id makes the order textual."""
    if all(isinstance(question_id, int) for question_id in ids):
        return sorted(ids)
    return sorted(ids, key=str)


def main(argv: list[str] | None = None) -> int:
    """``python -m policyqa.eval.split QUESTIONS [--out FILE] [--seed N]``: write a split file."""
    parser = argparse.ArgumentParser(
        prog="python -m policyqa.eval.split", description="Split a question file into train/validation."
    )
    parser.add_argument("questions", type=Path, help="JSONL question file")
    parser.add_argument("--out", type=Path, default=STARD_SPLIT, help=f"split file (default {STARD_SPLIT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"shuffle seed (default {SEED})")
    args = parser.parse_args(argv)
    try:
        split = make_split(args.questions, seed=args.seed)
        write_text_atomic(args.out, split.to_json())
    except EvalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(split.train)} train, {len(split.validation)} validation questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
