"""The committed train/validation split of STARD-train and ``policyqa eval --split``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policyqa.cli import main
from policyqa.eval import runner
from policyqa.eval.errors import EvalError
from policyqa.eval.queries import SEED_QUESTIONS, EvalQuery, load_queries
from policyqa.eval.split import STARD_SPLIT, Split, load_split, make_split, select

STARD_TRAIN = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "stard-train.jsonl"


def test_committed_split_is_disjoint_and_80_20():
    split = load_split(STARD_SPLIT)
    assert split.source == "stard-train.jsonl"
    assert not split.ids("train") & split.ids("validation")
    total = len(split.train) + len(split.validation)
    assert total == 1235
    assert abs(len(split.validation) - 0.2 * total) <= 1
    assert list(split.train) == sorted(split.train)
    assert list(split.validation) == sorted(split.validation)


@pytest.mark.skipif(not STARD_TRAIN.is_file(), reason="needs ../shared/eval/stard-train.jsonl")
def test_regenerating_gives_the_committed_file():
    assert make_split(STARD_TRAIN).to_json() == STARD_SPLIT.read_text(encoding="utf-8")
    ids = {json.loads(line)["id"] for line in STARD_TRAIN.read_text(encoding="utf-8").splitlines()}
    split = load_split(STARD_SPLIT)
    assert set(split.train) | set(split.validation) == ids


def test_split_of_string_ids_covers_every_question(tmp_path):
    split = make_split(SEED_QUESTIONS, seed=7)
    ids = {query.id for query in load_queries(SEED_QUESTIONS)}
    assert split.ids("train") | split.ids("validation") == ids
    assert not split.ids("train") & split.ids("validation")
    assert abs(len(split.validation) - 0.2 * len(ids)) <= 1
    assert make_split(SEED_QUESTIONS, seed=7) == split
    assert make_split(SEED_QUESTIONS, seed=8) != split
    path = tmp_path / "split.json"
    path.write_text(split.to_json(), encoding="utf-8")
    assert load_split(path) == split


def test_select_keeps_one_part_and_tolerates_absent_ids():
    queries = [EvalQuery(str(i), f"问题{i}", ()) for i in (1, 2, 3)]
    split = Split("q.jsonl", 1, train=(1, 2, 99), validation=(3, 100))
    assert [query.id for query in select(queries, split, "train")] == ["1", "2"]
    assert [query.id for query in select(queries, split, "validation")] == ["3"]
    with pytest.raises(EvalError, match="no question of the validation part"):
        select(queries[:2], split, "validation")


def test_an_overlapping_split_file_is_refused(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(
        json.dumps({"source": "q", "seed": 1, "train": [1, 2], "validation": [2]}), encoding="utf-8"
    )
    with pytest.raises(EvalError, match="share question ids"):
        load_split(path)
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(EvalError, match="not a split file"):
        load_split(path)


def test_eval_split_validation_evaluates_only_validation_ids(seed_index, tmp_path, capsys, monkeypatch):
    split = make_split(SEED_QUESTIONS, seed=3)
    split_file = tmp_path / "split.json"
    split_file.write_text(split.to_json(), encoding="utf-8")
    seen: list[str] = []
    evaluate_mode = runner.evaluate_mode

    def recording(index, queries, mode, **kwargs):
        seen.extend(query.id for query in queries)
        return evaluate_mode(index, queries, mode, **kwargs)

    monkeypatch.setattr(runner, "evaluate_mode", recording)
    arguments = ["eval", "--queries", str(SEED_QUESTIONS), "--index-dir", str(seed_index), "--mode", "bm25"]
    arguments += ["--json", "--no-progress", "--split-file", str(split_file)]
    assert main([*arguments, "--split", "validation"]) == 0
    assert json.loads(capsys.readouterr().out)["queries"] == len(split.validation)
    assert sorted(seen) == sorted(split.ids("validation"))

    other = tmp_path / "other.json"
    other.write_text(Split("x.jsonl", 1, train=("a",), validation=("b",)).to_json(), encoding="utf-8")
    assert main([*arguments, "--split-file", str(other), "--split", "validation"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "no question of the validation part" in error
