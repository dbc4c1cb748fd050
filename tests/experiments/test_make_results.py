"""make_results' README speed table: rendered from a benchmark result, written between the markers."""

from __future__ import annotations

import pytest

from experiments.make_results import README, SPEED_END, SPEED_START, speed_table, with_speed_table
from policyqa.eval.errors import EvalError

BENCH = {
    "backend": "onnx",
    "machine": {"cpus": 2},
    "cold_load": {"load_s": 2.61, "peak_rss_mib": 917.4},
    "query": {"hybrid": {"latency_ms_p50": 21.7, "latency_ms_p95": 27.2}},
    "http": {
        "/search": {"concurrency": 16, "requests_per_second": 48.26, "latency_ms_p50": 321.0},
        "/ask": {"concurrency": 16, "requests_per_second": 12.04, "latency_ms_p50": 1234.0},
    },
}


def test_the_table_shows_the_benchmark_s_figures() -> None:
    table = speed_table({"clauses": 73353}, BENCH)
    assert "(73,353 clauses), 2 cores" in table and "backend onnx" in table
    assert table.splitlines()[-1] == (
        "| 2.6 s / 917 MiB | 22 / 27 ms | 48.3 req/s, p50 321 ms | 12.0 req/s, p50 1,234 ms |"
    )


def test_only_the_text_between_the_markers_is_replaced() -> None:
    readme = f"# title\n\n{SPEED_START}\nold table\n{SPEED_END}\n\n## next\n"
    assert (
        with_speed_table(readme, "new table")
        == f"# title\n\n{SPEED_START}\nnew table\n{SPEED_END}\n\n## next\n"
    )
    with pytest.raises(EvalError, match="no speed markers"):
        with_speed_table("# title\n", "new table")


def test_the_readme_has_its_speed_markers() -> None:
    readme = README.read_text(encoding="utf-8")
    assert readme.count(SPEED_START) == readme.count(SPEED_END) == 1
    assert "\n| table |\n" in with_speed_table(readme, "| table |")
