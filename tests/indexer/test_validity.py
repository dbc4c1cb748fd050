"""Versions, status on a day, repeals and cross-references, derived from a catalogue's documents (no model:
the catalogue is built in memory from parsed documents)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policyqa.corpus.model import Document, ParsedDocument
from policyqa.corpus.parse import parse_file, parse_text
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.records import SearchFilters
from policyqa.indexer.validity import ValidityTable, title_key

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
LAWREF = SHARED / "corpus" / "lawrefbook"


def version(title: str, date: str, effective: str | None = None, **fields: object) -> Document:
    return Document(id=f"{title}-{date}", title=title, text="", date=date, effective_date=effective, **fields)


OLD = version("中华人民共和国公司法", "2018-10-26", "2006-01-01")  # an amended text keeps its first 施行 date
NEW = version("中华人民共和国公司法", "2023-12-29", "2024-07-01")


@pytest.mark.parametrize(
    ("day", "old", "new"),
    [
        ("2018-10-25", "尚未施行", "尚未施行"),
        ("2018-10-26", "现行有效", "尚未施行"),
        ("2024-06-30", "现行有效", "尚未施行"),  # the day before 施行: adopted, not yet in force
        ("2024-07-01", "已被修订", "现行有效"),  # the day of 施行
        ("2024-07-02", "已被修订", "现行有效"),  # the day after
    ],
)
def test_status_of_two_versions_on_boundary_days(day: str, old: str, new: str) -> None:
    table = ValidityTable([NEW, OLD])
    assert (table.on(OLD.id, day).status, table.on(NEW.id, day).status) == (old, new)


def test_a_version_chain_and_its_dates() -> None:
    table = ValidityTable([NEW, OLD])
    old, new = table.on(OLD.id, "2025-01-01"), table.on(NEW.id, "2025-01-01")
    assert table.chains() == [(OLD.id, NEW.id)]
    assert (old.effective_from, old.effective_from_inferred, old.effective_to) == (
        "2018-10-26",
        True,
        "2024-07-01",
    )
    assert (new.effective_from, new.effective_from_inferred, new.effective_to) == ("2024-07-01", False, None)
    assert (old.superseded_by, new.supersedes, new.versions) == (NEW.id, OLD.id, (OLD.id, NEW.id))


def test_same_title_in_another_region_is_another_work() -> None:
    jiangsu = version("物业管理条例", "2020-01-01", region="江苏")
    zhejiang = version("物业管理条例", "2021-01-01", region="浙江")
    assert ValidityTable([jiangsu, zhejiang]).chains() == []


def test_expiry_and_undated_documents() -> None:
    expiring = version("关于支持X的若干措施", "2020-01-01", expires="2022-12-31")
    undated = Document(id="undated", title="某某说明", text="")
    table = ValidityTable([expiring, undated])
    assert table.on(expiring.id, "2022-12-31").status == "现行有效"
    assert table.on(expiring.id, "2023-01-01").status == "已失效"
    assert table.on(expiring.id, "2023-01-01").effective_to == "2023-01-01"
    assert table.on(undated.id, "1990-01-01").status == "现行有效"


def test_repeal_by_title_without_the_state_prefix() -> None:
    repealed = version("中华人民共和国行政监察法", "2010-06-25")
    repealing = version("中华人民共和国监察法", "2018-03-20", "2018-03-20", repeals=("行政监察法",))
    table = ValidityTable([repealed, repealing])
    assert table.on(repealed.id, "2018-03-19").status == "现行有效"
    assert table.on(repealed.id, "2018-03-20").status == "已废止"
    assert table.on(repealed.id, "2018-03-20").repealed_by == repealing.id
    assert table.on(repealing.id, "2018-03-20").repeals == (repealed.id,)
    assert table.repeal_relations() == [(repealing.id, repealed.id)]


def test_repeal_by_doc_number() -> None:
    repealed = version("苏州市人才公寓管理办法", "2016-03-01", doc_number="苏府规字〔2016〕3号")
    repealing = version(
        "苏州市人才安居办法", "2020-01-01", "2020-02-01", repeals=("苏府规字[2016]3号",), region="苏州市"
    )
    table = ValidityTable([repealed, repealing])
    assert table.on(repealed.id, "2020-01-31").status == "现行有效"
    assert table.on(repealed.id, "2020-02-01").status == "已废止"


def test_naming_an_earlier_version_of_itself_is_a_revision_not_a_repeal() -> None:
    old = version("苏州市人才公寓管理办法", "2016-03-01")
    new = version("苏州市人才公寓管理办法", "2020-01-01", repeals=("苏州市人才公寓管理办法",))
    table = ValidityTable([old, new])
    assert table.on(old.id, "2021-01-01").status == "已被修订"
    assert table.repeal_relations() == []


def test_title_key_matches_how_titles_are_cited() -> None:
    assert title_key("《中华人民共和国行政监察法》") == title_key("行政监察法")
    assert title_key("中华人民共和国公司法（2018年修正）") == title_key("公司法")
    assert title_key("民事诉讼法（试行）") != title_key("民事诉讼法")


def catalogue_of(*parsed: ParsedDocument) -> Catalogue:
    return Catalogue(
        [entry.document for entry in parsed], [clause for entry in parsed for clause in entry.clauses], []
    )


def test_the_search_mask_keeps_the_versions_in_force_on_the_day() -> None:
    old = parse_text("示范条例\n时间:2010-01-01\n\n第一条 旧的规定。\n第二条 本条例自公布之日起施行。\n")
    new = parse_text("示范条例\n时间:2020-01-01\n\n第一条 新的规定。\n第二条 本条例自2020年6月1日起施行。\n")
    catalogue = Catalogue(
        [old.document, new.document],
        [*old.clauses, *new.clauses],
        [(row, clause.id) for row, clause in enumerate([*old.clauses, *new.clauses], start=1)],
    )
    on = lambda day: list(catalogue.allowed_passages(SearchFilters(as_of=day)))  # noqa: E731
    assert on("2020-05-31") == [True, True, False, False]
    assert on("2020-06-01") == [False, False, True, True]
    every_version = SearchFilters(as_of="2020-06-01", include_history=True)
    assert catalogue.allowed_passages(every_version) is None  # nothing excluded


def test_references_resolve_within_the_version_and_to_the_cited_work_in_force() -> None:
    law_2010 = parse_text("中华人民共和国示范法\n时间:2010-01-01\n\n第一条 旧。\n第二条 旧的第二条。\n")
    law_2020 = parse_text("中华人民共和国示范法\n时间:2020-01-01\n\n第一条 新。\n第二条 新的第二条。\n")
    citing = parse_text(
        "示范法实施条例\n时间:2015-01-01\n\n第一条 依照《示范法》第二条，制定本条例。\n"
        "第二条 本条例第一条、第三条所称……前款规定的，依照前条处理；《未收录法》第九条。\n"
    )
    links = catalogue_of(law_2010, law_2020, citing).links
    first, second = (clause.id for clause in citing.clauses)
    (external,) = links.references_out(first)
    assert external.target_document_id == law_2010.document.id  # in force on the citing version's 施行 date
    assert external.target_clause_id == law_2010.clauses[1].id
    found = {link.text: link for link in links.references_out(second)}
    assert found["本条例第一条"].target_clause_id == first
    assert (found["第三条"].target_clause_id, found["第三条"].target_document_id) == (None, None)
    assert found["前款"].target_clause_id == second
    assert found["前条"].target_clause_id == first
    assert (found["《未收录法》第九条"].target_document_id, found["《未收录法》第九条"].target_clause_id) == (
        None,
        None,
    )
    assert links.cited_by(first) == [second]
    assert links.cited_by(law_2010.clauses[1].id) == [first]


@pytest.mark.skipif(not LAWREF.is_dir(), reason="needs ../shared/corpus/lawrefbook")
def test_the_company_law_of_2023_cites_its_own_articles() -> None:
    parsed = parse_file(LAWREF / "民法商法" / "公司法(2023-12-29).md")
    links = catalogue_of(parsed).links
    articles = {clause.number: clause.id for clause in parsed.clauses}
    resolved = [
        link
        for clause in parsed.clauses
        for link in links.references_out(clause.id)
        if link.kind == "self" and link.text.startswith("本法第")
    ]
    assert resolved and all(link.target_clause_id for link in resolved)
    sample = next(link for link in resolved if link.text == "本法第七十五条")  # in 第六十七条
    assert sample.source_clause_id == articles["第六十七条"]
    assert sample.target_clause_id == articles["第七十五条"]
    assert sample.source_clause_id in links.cited_by(articles["第七十五条"])


def test_an_amendment_cites_the_law_it_amends_and_is_cited_by_its_items() -> None:
    law = parse_text("中华人民共和国示范法\n\n第一条 总则。\n第二条 罚则。\n第三条 本法自公布之日起施行。\n")
    amendment = parse_text(
        "中华人民共和国示范法修正案（二）\n\n一、将第二条修改为：“违反本法第一条的，处罚款。”\n二、本修正案自公布之日起施行。\n"
    )
    ruling = parse_text("关于执行示范法的规定\n\n第一条 《示范法修正案（二）》第一条规定的行为，依法处理。\n")
    links = catalogue_of(law, amendment, ruling).links
    (inside,) = links.references_out(amendment.clauses[0].id)
    assert inside.target_clause_id == law.clauses[0].id  # 本法 in the amended text is the law it amends
    (item,) = links.references_out(ruling.clauses[0].id)
    assert item.target_clause_id == amendment.clauses[0].id  # 第一条 of a 修正案 is its 一、
