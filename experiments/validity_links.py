"""Versions, repeals and cross-references measured on a parsed corpus (no embedding: the catalogue is built in
memory from the parsed documents, as a loaded index builds it).

    flock /work/heavy.lock python -m experiments.validity_links ../shared/corpus/lawrefbook --sample 50

Prints the number of version chains and repeal relations, the share of 本法第X条 references resolved to a
clause, the share of 《…》第X条 references resolved where the cited work is indexed, and a random sample of
resolved links (for checking by hand) as a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter
from pathlib import Path

from policyqa.corpus.parse import parse_paths
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.references import Link
from policyqa.text import DOC_NUMBER, fold

_SELF_LAW = re.compile(r"^本[^第]{1,4}第")
_ARTICLE = re.compile(r"第\s*\S+?\s*条")


def _group(link: Link, catalogue: Catalogue) -> tuple[str, bool]:
    """The kind of reference a link is, for the report, and whether it is resolved."""
    if link.kind == "self":
        first = _SELF_LAW.match(fold(link.text)) is not None
        return (
            "本法第X条" if first else "本法第X条、第Y条 (continuation)"
        ), link.target_clause_id is not None
    if link.kind != "titled":
        return link.kind, link.target_clause_id is not None
    source = catalogue.document(catalogue.clause(link.source_clause_id).document_id)
    indexed = any(
        name and catalogue.validity.find_work(name, near=source) is not None
        for name in (link.title, _doc_number(link.text))
    )
    where = "cited work indexed" if indexed else "cited work not indexed"
    if _ARTICLE.search(link.text):
        return f"《…》第X条, {where}", link.target_clause_id is not None
    return f"《…》(文号), {where}", link.target_document_id is not None


def _doc_number(text: str) -> str | None:
    match = re.search(DOC_NUMBER, fold(text))
    return match.group(0) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--sample", type=int, default=50, help="resolved links to list for checking")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    parsed, _errors = parse_paths(args.paths)
    catalogue = Catalogue(
        [entry.document for entry in parsed], [clause for entry in parsed for clause in entry.clauses], []
    )
    validity, links = catalogue.validity, catalogue.links
    chains = validity.chains()
    repeals = validity.repeal_relations()
    stated = sum(document.effective_date is not None for document in catalogue.documents())
    print(f"documents {len(catalogue.documents())}, 施行 date stated in {stated}")
    print(
        f"version chains {len(chains)} (versions in them {sum(map(len, chains))}), "
        f"repeal relations {len(repeals)}"
    )
    named = sum(len(document.repeals) for document in catalogue.documents())
    print(f"names before 同时废止: {named}; matched to an indexed document: {len(repeals)} relations")
    kinds: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    all_links = [link for clause_links in links.outgoing.values() for link in clause_links]
    for link in all_links:
        group, done = _group(link, catalogue)
        kinds[group] += 1
        resolved[group] += done
    for group, total in sorted(kinds.items()):
        print(f"{group}: {resolved[group]}/{total} resolved ({resolved[group] / total:.2%})")
    sample = random.Random(args.seed).sample(
        [link for link in all_links if link.target_clause_id], args.sample
    )
    print("\n| # | citing clause | reference | resolved to |\n|---|---|---|---|")
    for number, link in enumerate(sample, start=1):
        source = catalogue.clause(link.source_clause_id)
        target = catalogue.clause(link.target_clause_id)
        where = lambda clause: (  # noqa: E731
            f"{catalogue.document(clause.document_id).cited_title}({catalogue.document(clause.document_id).date})"
            f"{clause.number or clause.path[-1]}"
        )
        print(f"| {number} | {where(source)} | {link.text} | {where(target)} |")


if __name__ == "__main__":
    main()
