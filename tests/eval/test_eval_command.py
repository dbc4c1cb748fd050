"""``policyqa eval`` end to end on a real seed-only index."""

from __future__ import annotations

import json

import pytest

from policyqa.cli import main
from policyqa.eval.labels import HeadingLabel
from policyqa.eval.queries import SEED_QUESTIONS, EvalQuery, load_queries
from policyqa.eval.runner import evaluate_mode, unresolved_labels
from policyqa.indexer import PolicyIndex

METRIC_NAMES = {
    "recall@1",
    "recall@5",
    "recall@10",
    "recall@100",
    "mrr@10",
    "ndcg@10",
    "latency_ms_p50",
    "latency_ms_p95",
}


@pytest.fixture(scope="module")
def seed_index_loaded(seed_index, index_settings, embedder) -> PolicyIndex:
    return PolicyIndex.load(seed_index, index_settings, embedder=embedder)


def test_seed_questions_cover_every_clause_twice():
    queries = load_queries(SEED_QUESTIONS)
    assert len(queries) >= 40
    headings = [label.heading for query in queries for label in query.relevant]
    assert all(isinstance(label, HeadingLabel) for query in queries for label in query.relevant)
    assert len(set(headings)) == 18
    assert min(headings.count(heading) for heading in set(headings)) >= 2


def test_eval_json_and_report(seed_index, tmp_path, capsys):
    report = tmp_path / "report.md"
    code = main(
        [
            "eval",
            "--queries",
            str(SEED_QUESTIONS),
            "--index-dir",
            str(seed_index),
            "--limit",
            "2",
            "--json",
            "--report",
            str(report),
            "--no-progress",
        ]
    )
    assert code == 0
    output = json.loads(capsys.readouterr().out)
    assert output["queries"] == 2
    assert output["unresolved_labels"] == 0
    assert set(output["metrics"]) == {"bm25", "dense", "hybrid"}
    for metrics in output["metrics"].values():
        assert set(metrics) == METRIC_NAMES
        assert all(0 <= metrics[name] <= 1 for name in METRIC_NAMES if not name.startswith("latency"))
        assert metrics["recall@1"] <= metrics["recall@5"] <= metrics["recall@10"] <= metrics["recall@100"]
        assert 0 < metrics["latency_ms_p50"] <= metrics["latency_ms_p95"]
    text = report.read_text(encoding="utf-8")
    assert "| mode | recall@1 |" in text
    assert "## Worst misses — hybrid" in text


def test_eval_inside_one_document(seed_index, seed_index_loaded, capsys):
    arguments = ["eval", "--queries", str(SEED_QUESTIONS), "--index-dir", str(seed_index), "--mode", "bm25"]
    arguments += ["--limit", "5", "--json", "--no-progress"]
    seed_id = seed_index_loaded.documents()[0].id
    assert main([*arguments, "--document", seed_id]) == 0
    inside = json.loads(capsys.readouterr().out)["metrics"]["bm25"]
    assert main(arguments) == 0
    everywhere = json.loads(capsys.readouterr().out)["metrics"]["bm25"]
    assert inside["mrr@10"] == everywhere["mrr@10"]  # the seed is the only document in this index
    assert main([*arguments, "--document", "no-such-document"]) == 1
    assert capsys.readouterr().err.strip() == "policyqa: error: no document with id 'no-such-document'"


def test_seed_set_scores_are_plausible(seed_index_loaded):
    """Every seed clause is reachable and keyword search ranks most right clauses near the top
    (a sanity check of labels and harness, not the quality targets)."""
    queries = load_queries(SEED_QUESTIONS)
    assert unresolved_labels(seed_index_loaded, queries) == []
    summary = evaluate_mode(seed_index_loaded, queries, "bm25", progress=False).summary()
    assert summary["recall@100"] == 1.0  # 19 clauses: every label is somewhere in the top 100
    assert summary["recall@10"] >= 0.6
    assert summary["mrr@10"] >= 0.4


def test_unresolvable_label_is_reported_and_scores_zero(seed_index_loaded):
    query = EvalQuery(
        id="x", question="孵化器有什么扶持？", relevant=(HeadingLabel("（九十九）不存在的条款"),)
    )
    assert unresolved_labels(seed_index_loaded, [query]) == [(query, query.relevant[0])]
    result = evaluate_mode(seed_index_loaded, [query], "bm25", progress=False).results[0]
    assert result.first_relevant_rank is None
    assert result.metrics["recall@100"] == 0.0


def test_malformed_query_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "question": "问", "relevant": []}\n', encoding="utf-8")
    code = main(["eval", "--queries", str(bad), "--index-dir", str(tmp_path / "index")])
    error = capsys.readouterr().err
    assert code == 1
    assert error.startswith("policyqa: error: ")
    assert "bad.jsonl:1" in error
    assert "Traceback" not in error


def test_missing_index_is_a_clear_error(tmp_path, capsys):
    code = main(["eval", "--queries", str(SEED_QUESTIONS), "--index-dir", str(tmp_path / "none")])
    assert code == 1
    assert "no index at" in capsys.readouterr().err


def test_unknown_mode_is_a_clear_error(tmp_path, capsys):
    code = main(["eval", "--queries", str(SEED_QUESTIONS), "--index-dir", str(tmp_path), "--mode", "fuzzy"])
    assert code == 1
    assert "unknown mode 'fuzzy'" in capsys.readouterr().err


def test_unwritable_report_is_a_clear_error(tmp_path, capsys):
    """Checked before the (possibly long) evaluation starts."""
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    code = main(
        [
            "eval",
            "--queries",
            str(SEED_QUESTIONS),
            "--index-dir",
            str(tmp_path / "index"),
            "--report",
            str(blocker / "report.md"),
        ]
    )
    assert code == 1
    assert "cannot write" in capsys.readouterr().err
