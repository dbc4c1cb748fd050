"""Calibrate the grounding check's threshold: the character-bigram containment of each example sentence in
its clause (``eval/data/grounding_examples.jsonl``: sentences an answer may write, labelled supported or
not), and for each threshold the share of supported sentences kept and unsupported ones let through.

    .venv/bin/python -m experiments.calibrate_grounding

An example names a clause of the seed document by its numbered heading (``clause``) or gives the clause's
text (``text``). Prints the examples by containment and a threshold table: the numbers behind
docs/decisions/2026-12-01-chatbot-api.md. Each threshold is shown on containment alone and with the
numbers rule (every number of the sentence occurs in the clause) that the check applies as well.
"""

from __future__ import annotations

import json
from pathlib import Path

from policyqa.corpus.parse import parse_file
from policyqa.service.grounding import NGRAM, SUPPORT_THRESHOLD, containment, numbers_found

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "eval" / "data" / "grounding_examples.jsonl"
SEED = REPO / "corpus" / "samples" / "000_a0c1336e9725a78b.txt"
THRESHOLDS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)


def main() -> None:
    clauses = {clause.path[-1]: clause.text for clause in parse_file(SEED).clauses}
    rows = []
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        example = json.loads(line)
        source = example.get("text") or clauses[example["clause"]]
        value = containment(example["sentence"], source)
        rows.append((value, numbers_found(example["sentence"], source), example["supported"], example))
    rows.sort(key=lambda row: row[0])
    print(f"| containment (n={NGRAM}) | numbers found | supported | kind | sentence |")
    print("|---:|---|---|---|---|")
    for value, numbers, label, example in rows:
        yes = {True: "yes", False: "no"}
        print(f"| {value:.3f} | {yes[numbers]} | {yes[label]} | {example['kind']} | {example['sentence']} |")
    supported = [(value, numbers) for value, numbers, label, _ in rows if label]
    unsupported = [(value, numbers) for value, numbers, label, _ in rows if not label]
    print(f"\n{len(supported)} supported, {len(unsupported)} unsupported examples")
    print("\n| threshold | rule | supported kept | unsupported let through | accuracy |")
    print("|---:|---|---:|---:|---:|")
    for threshold in sorted({*THRESHOLDS, SUPPORT_THRESHOLD}):
        for rule, with_numbers in (("containment", False), ("+ numbers", True)):
            kept = sum(value >= threshold and (n or not with_numbers) for value, n in supported)
            through = sum(value >= threshold and (n or not with_numbers) for value, n in unsupported)
            accuracy = (kept + len(unsupported) - through) / len(rows)
            mark = " (in force)" if threshold == SUPPORT_THRESHOLD and with_numbers else ""
            print(
                f"| {threshold:.2f}{mark} | {rule} | {kept}/{len(supported)} | {through}/{len(unsupported)} "
                f"| {accuracy:.3f} |"
            )
    highest = max(value for value, _ in unsupported)
    lowest = min(value for value, _ in supported)
    print(f"\nhighest unsupported containment: {highest:.3f}; lowest supported: {lowest:.3f}")


if __name__ == "__main__":
    main()
