"""The shared lawrefbook corpus: every file parses, the articles found are exactly the 第X条 paragraphs of the
files, article text matches the source, and every STARD (title, article) label exists. A fast sample and a
slow full run; both skip when ../shared is absent."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from policyqa.corpus import iter_document_files, parse_file, parse_paths
from policyqa.text import article_key

# Independent of corpus/: a line-initial article label followed by whitespace, as lawrefbook writes them.
ARTICLE_LINE = re.compile(r"^(第[一二三四五六七八九十百千零〇两\d]+条(?:之[一二三四五六七八九十]+)?)\s", re.M)
SAMPLE_SIZE = 30
SPOT_CHECKS = 300


def _document_files(root: Path) -> list[Path]:
    return list(iter_document_files([root]))


def _check_files(files: list[Path], root: Path) -> tuple[int, int, dict[str, set[str]]]:
    """Parse ``files``; assert per file that the articles found equal the independent count and that
    clause text is a verbatim slice of the source. Returns (articles in sources, articles found, titles)."""
    in_sources = found = 0
    articles_by_title: dict[str, set[str]] = {}
    rng = random.Random(20181017)
    for path in files:
        parsed = parse_file(path)
        source = path.read_text(encoding="utf-8")
        expected = Counter(article_key(m.group(1)) for m in ARTICLE_LINE.finditer(source))
        articles = [c for c in parsed.clauses if article_key(c.number)]
        assert Counter(article_key(c.number) for c in articles) == expected, path.relative_to(root)
        in_sources += sum(expected.values())
        found += len(articles)
        articles_by_title.setdefault(parsed.document.title, set()).update(
            article_key(c.number) for c in articles
        )
        first_heading = re.search(r"^# (.+?)\s*$", source, re.M).group(1)
        assert parsed.document.title == first_heading
        for clause in rng.sample(articles, min(len(articles), 2)):
            assert clause.text in source, (path.relative_to(root), clause.number)
            assert clause.text.startswith(clause.text.split()[0])
    return in_sources, found, articles_by_title


def test_folder_load_skips_indexes_and_hidden_pages(lawrefbook):
    files = _document_files(lawrefbook)
    names = {path.name for path in files}
    assert "_index.md" not in names and "README.md" not in names and "法律法规模版.md" not in names
    assert len(files) == len(list(lawrefbook.rglob("*.md"))) - 14 - 2
    assert files == sorted(files)


def test_sample_of_files(lawrefbook):
    files = random.Random(7).sample(_document_files(lawrefbook), SAMPLE_SIZE)
    in_sources, found, _ = _check_files(files, lawrefbook)
    assert found == in_sources > 0


def test_split_law_has_title_and_subtitle(lawrefbook, uncovered):
    parsed = parse_file(lawrefbook / "民法典" / "物权编.md")
    assert (parsed.document.title, parsed.document.subtitle) == ("中华人民共和国民法典", "物权编")
    first = parsed.clauses[0]
    assert first.path == ("第一分编 通则", "第一章 一般规定", "第二百零五条")
    assert "INFO END" not in parsed.document.text and "施行" not in parsed.document.text[:50]
    assert uncovered(parsed) == []
    other = parse_file(lawrefbook / "民法典" / "合同编.md")
    assert other.document.title == parsed.document.title and other.document.id != parsed.document.id


@pytest.mark.slow
def test_full_corpus_and_stard_coverage(lawrefbook, stard_path, uncovered):
    files = _document_files(lawrefbook)
    in_sources, found, articles_by_title = _check_files(files, lawrefbook)
    assert found == in_sources
    documents, errors = parse_paths([lawrefbook])
    assert all("same document as" in error.reason for error in errors)
    assert len(documents) + len(errors) == len(files)
    assert len({parsed.document.id for parsed in documents}) == len(documents)
    assert len({clause.id for parsed in documents for clause in parsed.clauses}) == sum(
        len(parsed.clauses) for parsed in documents
    )
    assert [str(parsed.document.source) for parsed in documents if uncovered(parsed)] == []
    labels = [
        (relevant["title"], relevant["article"])
        for line in stard_path.read_text(encoding="utf-8").splitlines()
        for relevant in json.loads(line)["relevant"]
    ]
    missing = [label for label in labels if article_key(label[1]) not in articles_by_title.get(label[0], ())]
    coverage = 1 - len(missing) / len(labels)
    print(f"lawrefbook: {len(files)} files, {found} articles (sources: {in_sources}); STARD {coverage:.2%}")
    assert coverage >= 0.99, missing[:20]


@pytest.mark.slow
def test_spot_check_random_articles_verbatim(lawrefbook):
    files = _document_files(lawrefbook)
    rng = random.Random(1)
    checked = 0
    for path in rng.sample(files, 150):
        parsed = parse_file(path)
        source = path.read_text(encoding="utf-8")
        articles = [c for c in parsed.clauses if article_key(c.number)]
        for clause in rng.sample(articles, min(2, len(articles))):
            paragraph_start = source.index(clause.text)
            assert paragraph_start == 0 or source[paragraph_start - 1] == "\n"
            assert parsed.document.text[clause.start : clause.end] == clause.text
            checked += 1
    print(f"spot check: {checked} random articles match their source paragraph verbatim")
    assert checked >= SPOT_CHECKS - 50
