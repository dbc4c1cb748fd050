"""Regenerate eval/RESULTS.md: quality on STARD's validation split and the seed set (all modes; the seed set
also as a 江苏 deployment asks it), plus the benchmark over unique STARD questions, and the README's speed
table from that benchmark.

    POLICYQA_HOME=data/home .venv/bin/python -m experiments.make_results --index-dir data/lawref-index

Needs an index of the full lawrefbook plus the seed document (eval/build_lawref_index.sh builds it).
Writes the Markdown atomically and prints it; ``--reports DIR`` also writes one report per question set
with its worst misses. The README's table (between its speed markers) is rewritten too, unless ``--no-http``
(no HTTP figures) or ``--limit`` (a quick check) is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from policyqa.errors import PolicyQAError
from policyqa.eval.bench import BenchConfig, bench_table, machine, run_bench
from policyqa.eval.errors import EvalError
from policyqa.eval.files import write_text_atomic
from policyqa.eval.labels import Label
from policyqa.eval.queries import SEED_QUESTIONS, EvalQuery, load_queries
from policyqa.eval.report import markdown_report, metrics_table, rank_profile
from policyqa.eval.runner import ModeResult, evaluate_mode, unresolved_labels
from policyqa.eval.split import STARD_SPLIT, load_split, select
from policyqa.indexer import PolicyIndex
from policyqa.indexer.records import SEARCH_MODES
from policyqa.indexer.settings import load_settings
from policyqa.logs import configure_logging

REPO = Path(__file__).resolve().parents[1]
STARD_TRAIN = REPO.parent / "shared" / "eval" / "stard-train.jsonl"
HOME_REGION = "江苏"  # the seed document's province: how a 江苏 portal asks the seed questions
STARD_VALIDATION = "STARD validation split (real questions from the public, never trained on)"
README = REPO / "README.md"
SPEED_START = "<!-- speed: rewritten by python -m experiments.make_results -->"
SPEED_END = "<!-- end speed -->"
STARD_REFERENCE_ROWS = (
    "| target (hybrid, full lawrefbook) | — | — | ≥ 0.80 | ≥ 0.95 | ≥ 0.60 | — | — | — |",
)


@dataclass(frozen=True)
class QuestionSet:
    """One evaluated question file."""

    name: str
    path: Path
    queries: list[EvalQuery]
    results: list[ModeResult]
    unresolved: list[tuple[EvalQuery, Label]]

    def section(self, extra_rows: tuple[str, ...] = ()) -> list[str]:
        """Heading, table (plus ``extra_rows``) and rank profile."""
        return [
            f"## {self.name}",
            "",
            f"`{self.path.name}`: {len(self.queries)} questions; {len(self.unresolved)} labels match "
            "no clause in the index.",
            "",
            metrics_table({result.mode: result.summary() for result in self.results}),
            *extra_rows,
            "",
            *[f"- {rank_profile(result)}" for result in self.results],
            "",
        ]


def evaluate_set(index: PolicyIndex, name: str, path: Path, queries: list[EvalQuery]) -> QuestionSet:
    """Evaluate the questions of one file in every mode."""
    results = [evaluate_mode(index, queries, mode) for mode in SEARCH_MODES]
    return QuestionSet(name, path, queries, results, unresolved_labels(index, queries))


def render(command: str, manifest: dict, sets: list[tuple[QuestionSet, tuple[str, ...]]], bench: dict) -> str:
    """The whole RESULTS.md."""
    info = machine()
    lines = [
        "# policyqa results",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `{command}`.",
        "",
        f"Machine: {info['cpus']} CPU cores, {info['memory_gib']} GiB RAM, CPU only (no GPU), shared "
        f"with other jobs; {info['platform']}, Python {info['python']}.",
        f"Index: {manifest['documents']} documents, {manifest['clauses']} clauses, "
        f"{manifest['passages']} passages; model `{manifest['model']}`.",
        "Recall@k: share of a question's relevant clauses in its top k (averaged); MRR@10 and nDCG@10 with "
        "binary relevance; latency per query, in process, in milliseconds, first pass over the questions "
        "(steady-state latency: see the benchmark below).",
        "",
    ]
    for question_set, extra_rows in sets:
        lines += question_set.section(extra_rows)
    lines += [
        "## Speed and memory (`policyqa bench`, unique STARD questions)",
        "",
        bench_table(bench),
        "",
    ]
    return "\n".join(lines)


def speed_table(manifest: dict, bench: dict) -> str:
    """The README's speed table: cold load, in-process hybrid latency and both endpoints under load."""
    cold, hybrid, http = bench["cold_load"], bench["query"]["hybrid"], bench["http"]
    clients = http["/search"]["concurrency"]
    cells = [
        f"{cold['load_s']:.1f} s / {cold['peak_rss_mib']:,.0f} MiB",
        f"{hybrid['latency_ms_p50']:.0f} / {hybrid['latency_ms_p95']:.0f} ms",
        *(
            f"{row['requests_per_second']:.1f} req/s, p50 {row['latency_ms_p50']:,.0f} ms"
            for row in (http["/search"], http["/ask"])
        ),
    ]
    return "\n".join(
        [
            f"Full lawrefbook + seed ({manifest['clauses']:,} clauses), {bench['machine']['cpus']} cores, "
            f"one server process, backend {bench['backend']}, unique STARD questions, query cache off "
            "([all figures](eval/RESULTS.md#speed-and-memory-policyqa-bench-unique-stard-questions)):",
            "",
            "| cold load / peak RSS | hybrid in process p50 / p95 "
            f"| `/search`, {clients} clients | `/ask`, {clients} clients |",
            "|---:|---:|---:|---:|",
            f"| {' | '.join(cells)} |",
        ]
    )


def with_speed_table(readme: str, table: str) -> str:
    """``readme`` with the text between its speed markers replaced by ``table``."""
    start, end = readme.find(SPEED_START), readme.find(SPEED_END)
    if start < 0 or end < start:
        raise EvalError(f"the README has no speed markers ({SPEED_START} … {SPEED_END})")
    return f"{readme[: start + len(SPEED_START)]}\n{table}\n{readme[end:]}"


def main(argv: list[str] | None = None) -> int:
    """Run :func:`make_results`; expected failures print one line and exit 1."""
    try:
        return make_results(argv)
    except PolicyQAError as error:
        print(f"make_results: error: {error}", file=sys.stderr)
        return 1


def make_results(argv: list[str] | None = None) -> int:
    """Evaluate both question sets, run the benchmark, write and print RESULTS.md."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.make_results", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--index-dir", type=Path, required=True, help="full lawrefbook + seed index")
    parser.add_argument("--stard", type=Path, default=STARD_TRAIN, help="STARD-train query file")
    parser.add_argument("--split-file", type=Path, default=STARD_SPLIT, help="its train/validation split")
    parser.add_argument("--seed", type=Path, default=SEED_QUESTIONS, help="seed question file")
    parser.add_argument("--limit", type=int, help="only the first N validation questions (a quick check)")
    parser.add_argument("--output", type=Path, default=REPO / "eval" / "RESULTS.md")
    parser.add_argument("--readme", type=Path, default=README, help="README whose speed table to rewrite")
    parser.add_argument("--reports", type=Path, help="also write per-set reports with the worst misses here")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of HTTP load per endpoint")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP load test")
    args = parser.parse_args(argv)
    configure_logging(0)

    settings = load_settings()
    index = PolicyIndex.load(args.index_dir, settings)
    manifest = index.manifest
    validation = select(load_queries(args.stard), load_split(args.split_file), "validation")[: args.limit]
    stard = evaluate_set(index, STARD_VALIDATION, args.stard, validation)
    seed_questions = load_queries(args.seed)
    seed = evaluate_set(
        index, "Seed document (plain-language questions, clause labels)", args.seed, seed_questions
    )
    local = index.with_settings(settings.model_copy(update={"home_region": HOME_REGION}))
    seed_local = evaluate_set(local, f"Seed document, home region {HOME_REGION}", args.seed, seed_questions)
    del index, local
    if args.reports:
        for key, question_set in (("stard", stard), ("seed", seed), ("seed-local", seed_local)):
            report = markdown_report(
                f"Retrieval evaluation: {question_set.path.name}",
                question_set.results,
                unresolved=question_set.unresolved,
            )
            write_text_atomic(args.reports / f"{key}.md", report)
    bench = run_bench(
        BenchConfig(
            paths=(),
            index_dir=args.index_dir,
            queries=args.stard,
            modes=SEARCH_MODES,
            duration=args.duration,
            http=not args.no_http,
        )
    )
    command = "python -m experiments.make_results " + " ".join(argv if argv is not None else sys.argv[1:])
    sets = [(stard, STARD_REFERENCE_ROWS), (seed, ()), (seed_local, ())]
    text = render(command, manifest, sets, bench)
    write_text_atomic(args.output, text)
    if "http" in bench and args.limit is None:
        write_text_atomic(
            args.readme,
            with_speed_table(args.readme.read_text(encoding="utf-8"), speed_table(manifest, bench)),
        )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
