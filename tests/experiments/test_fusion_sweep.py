"""The fusion sweep reproduces hybrid search exactly for the settings the index runs with."""

from __future__ import annotations

from pathlib import Path

from experiments.fusion_sweep import COLUMNS, FusionVariant, main, sweep
from policyqa.eval.queries import SEED_QUESTIONS, load_queries
from policyqa.eval.runner import evaluate_mode
from policyqa.eval.split import make_split
from policyqa.indexer import Embedder, IndexSettings, PolicyIndex


def test_each_variant_matches_hybrid_search_with_those_settings(
    seed_index: Path, index_settings: IndexSettings, embedder: Embedder
) -> None:
    queries = load_queries(SEED_QUESTIONS)[:8]
    variants = [FusionVariant("default", "minmax"), FusionVariant("rrf", "rrf", bm25_weight=2.0, rrf_k=10)]
    index = PolicyIndex.load(seed_index, index_settings, embedder=embedder)
    swept = sweep(index, queries, variants, progress=False)
    rrf_settings = index_settings.model_copy(update={"fusion": "rrf", "bm25_weight": 2.0, "rrf_k": 10})
    for name, settings in (("default", index_settings), ("rrf", rrf_settings)):
        hybrid = evaluate_mode(
            PolicyIndex.load(seed_index, settings, embedder=embedder), queries, "hybrid", progress=False
        ).summary()
        assert {column: swept[name][column] for column in COLUMNS} == {
            column: hybrid[column] for column in COLUMNS
        }
    assert swept["default"] != swept["rrf"]  # the variants really differ on these questions


def test_command_prints_one_row_per_variant(seed_index: Path, capsys) -> None:
    assert main(["--queries", str(SEED_QUESTIONS), "--index-dir", str(seed_index), "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| fusion | recall@1 | recall@10 | recall@100 | mrr@10 |"
    assert lines[2].startswith("| min-max, equal weights | ") and len(lines) == 2 + 16


def test_split_keeps_only_that_part_of_the_questions(seed_index: Path, tmp_path: Path, capsys) -> None:
    split = tmp_path / "split.json"
    split.write_text(make_split(SEED_QUESTIONS, validation_share=0.1).to_json(), encoding="utf-8")
    arguments = ["--queries", str(SEED_QUESTIONS), "--index-dir", str(seed_index), "--split-file", str(split)]
    assert main([*arguments, "--split", "validation", "--limit", "1"]) == 0
    assert main([*arguments, "--split", "validation"]) == 0  # 4 of the 43: quick
    assert len(capsys.readouterr().out.splitlines()) == 2 * (2 + 16)
    assert main(["--queries", str(SEED_QUESTIONS), "--index-dir", str(seed_index), "--split", "train"]) == 1
    assert "no question" in capsys.readouterr().err  # the STARD split names none of the seed questions


def test_a_missing_index_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["--queries", str(SEED_QUESTIONS), "--index-dir", str(tmp_path / "none")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("fusion_sweep: error: ") and "Traceback" not in error
