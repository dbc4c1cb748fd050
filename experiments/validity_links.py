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

from policyqa.corpus.metadata import is_national
from policyqa.corpus.model import ParsedDocument
from policyqa.corpus.parse import iter_document_files, parse_paths
from policyqa.corpus.places import infer_place
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.references import Link
from policyqa.text import DOC_NUMBER, fold

MEASURED = ("本法第X条", "《…》第X条, cited work indexed")
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


def region_inference(parsed: list[ParsedDocument]) -> None:
    """The body-only inference (``infer_place``) on the local regulations whose province is known (the
    DLC/<省>地方法规 folders: the title names the place, the inference is not shown it), and how often it
    would give a region to the other documents it may run on (no place in title or issuer, not national)."""
    right = wrong = silent = 0
    errors: Counter[str] = Counter()
    others = 0
    given: Counter[str] = Counter()
    for entry in parsed:
        source = Path(entry.document.source or "")
        known = next(
            (part.removesuffix("地方法规") for part in _folders(entry) if part.endswith("地方法规")), None
        )
        inferred = infer_place(entry.document.text)
        if known is not None:
            if inferred is None:
                silent += 1
            elif inferred.region == known:
                right += 1
            else:
                wrong += 1
                errors[f"{known}→{inferred.region}"] += 1
        elif entry.document.region is None and not is_national(entry.document.title, entry.document.issuer):
            others += 1
            if inferred is not None:
                given[inferred.region] += 1
                print(f"INFERRED {inferred.region} {inferred.level} for {source.name}")
    total = right + wrong + silent
    print(
        f"local regulations with a known province: {total}; inferred right {right} ({right / total:.1%}), "
        f"wrong {wrong} ({wrong / total:.1%}), no inference {silent} ({silent / total:.1%}); "
        f"precision {right / max(1, right + wrong):.1%}"
    )
    print(f"wrong: {dict(errors.most_common(10))}")
    print(
        f"documents without a place in title or issuer and not national: {others}; "
        f"given a region: {dict(given)}"
    )


def _folders(entry: ParsedDocument) -> tuple[str, ...]:
    return _SOURCES.get(entry.document.id, ())


_SOURCES: dict[str, tuple[str, ...]] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--sample", type=int, default=50, help="resolved links to list for checking")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--misses", type=int, default=0, help="unresolved article references to list")
    args = parser.parse_args()
    parsed, _errors = parse_paths(args.paths)
    for path in iter_document_files(args.paths):
        _SOURCES.setdefault(path.name, path.parts)
    for entry in parsed:
        _SOURCES[entry.document.id] = _SOURCES.get(entry.document.source or "", ())
    region_inference(parsed)
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
    misses = [
        link for link in all_links if link.target_clause_id is None and _group(link, catalogue)[0] in MEASURED
    ]
    for link in random.Random(args.seed).sample(misses, min(args.misses, len(misses))):
        source = catalogue.clause(link.source_clause_id)
        document = catalogue.document(source.document_id)
        print(f"MISS {document.cited_title}({document.date}){source.number}: {link.text}")
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
