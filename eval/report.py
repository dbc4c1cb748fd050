"""Plain-text and Markdown renderings of evaluation results."""

from __future__ import annotations

from policyqa.eval.labels import Label
from policyqa.eval.queries import EvalQuery
from policyqa.eval.runner import ModeResult, QueryResult

METRIC_COLUMNS = (
    "recall@1",
    "recall@5",
    "recall@10",
    "recall@100",
    "mrr@10",
    "ndcg@10",
    "latency_ms_p50",
    "latency_ms_p95",
)


def metrics_table(
    summaries: dict[str, dict[str, float]],
    *,
    row_label: str = "mode",
    columns: tuple[str, ...] = METRIC_COLUMNS,
) -> str:
    """A Markdown table, one row per mode (or whatever ``row_label`` names), one column per metric."""
    lines = [
        f"| {row_label} | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, summary in summaries.items():
        cells = [_format(column, summary[column]) for column in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _format(name: str, value: float) -> str:
    return f"{value:.1f}" if name.startswith("latency") else f"{value:.3f}"


def rank_profile(result: ModeResult) -> str:
    """How many queries have a relevant clause first, in the top 3, and nowhere in the top 100."""
    ranks = [r.first_relevant_rank for r in result.results]
    total = len(ranks)
    first = sum(rank == 1 for rank in ranks)
    top3 = sum(rank is not None and rank <= 3 for rank in ranks)
    missing = sum(rank is None for rank in ranks)
    return (
        f"{result.mode}: relevant first {first}/{total} ({first / total:.0%}), "
        f"within top 3 {top3}/{total} ({top3 / total:.0%}), not in top 100 {missing}/{total}"
    )


def worst_misses(result: ModeResult, limit: int) -> list[QueryResult]:
    """Queries whose first relevant clause ranks worst (absent first), excluding those ranked first."""
    misses = [r for r in result.results if r.first_relevant_rank != 1]
    misses.sort(key=lambda r: (r.first_relevant_rank is not None, -(r.first_relevant_rank or 0), r.query.id))
    return misses[:limit]


def _describe_top_hit(result: QueryResult) -> str:
    hit = result.top_hit
    if hit is None:
        return "(no hits)"
    return f"《{hit.document.title}》{hit.clause.number}{hit.clause.heading}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(
    title: str,
    results: list[ModeResult],
    *,
    unresolved: list[tuple[EvalQuery, Label]],
    misses: int = 10,
) -> str:
    """The full report: metrics table, rank profile, unresolved labels and the worst misses per mode."""
    query_count = len(results[0].results)
    parts = [
        f"# {title}",
        "",
        f"{query_count} queries; each searched once per mode for its top 100 clauses. "
        "Latency is per query, in process, in milliseconds, first pass (steady state: `policyqa bench`).",
        "",
        metrics_table({result.mode: result.summary() for result in results}),
        "",
        *[f"- {rank_profile(result)}" for result in results],
        "",
    ]
    if unresolved:
        parts += [f"## Labels no clause in the index satisfies ({len(unresolved)})", ""]
        parts += [f"- {query.id}: {label.describe()}" for query, label in unresolved[:50]]
        if len(unresolved) > 50:
            parts.append(f"- … and {len(unresolved) - 50} more")
        parts.append("")
    for result in results:
        worst = worst_misses(result, misses)
        parts += [f"## Worst misses — {result.mode}", ""]
        if not worst:
            parts += ["Every query has a relevant clause first.", ""]
            continue
        parts += ["| id | question | expected | rank | first hit |", "|---|---|---|---:|---|"]
        for miss in worst:
            expected = "; ".join(label.describe() for label in miss.query.relevant)
            rank = "—" if miss.first_relevant_rank is None else str(miss.first_relevant_rank)
            parts.append(
                f"| {_cell(miss.query.id)} | {_cell(miss.query.question)} | {_cell(expected)} | {rank} "
                f"| {_cell(_describe_top_hit(miss))} |"
            )
        parts.append("")
    return "\n".join(parts)
