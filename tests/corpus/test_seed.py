"""The seed policy document (江苏 2018 高新区“一区一战略产业”意见) parses into its 18 clauses."""

import pytest

from policyqa.corpus import parse_file
from policyqa.corpus.parse import parse_text
from policyqa.text import int_to_chinese

CHROME = ("EN", "政策纵览", "Policy Overview", "返回列表")


@pytest.fixture(scope="module")
def seed(seed_path):
    return parse_file(seed_path)


def test_metadata(seed, seed_path):
    document = seed.document
    assert document.title == "关于加快培育发展高新技术产业开发区“一区一战略产业”的意见"
    assert document.date == "2018-10-17"
    assert document.doc_type == "意见"
    assert document.doc_number is None  # the 文号 in the body are citations
    # the prefix 【地区】 is a placeholder, not a place; the body's places (江苏, 苏州, 南京 …) and how it
    # speaks (经省政府同意, 全省) make it a 江苏 provincial document
    assert (document.region, document.region_basis, document.issuer_level) == ("江苏", "inferred", "省级")
    assert document.source == seed_path.name
    assert "国家高新区“十三五”发展规划" in document.references
    assert "国科发高〔2017〕90号" in document.references  # printed without its 〕 in the text
    assert "苏发〔2017〕19号" in document.references


def test_parts_and_clauses(seed):
    numbered = [clause for clause in seed.clauses if clause.number]
    assert [clause.number for clause in numbered] == [f"（{int_to_chinese(n)}）" for n in range(1, 19)]
    parts = {clause.path[0] for clause in numbered}
    assert len(parts) == 6
    assert [c.path for c in numbered if c.number == "（十二）"] == [
        ("四、健全科技服务体系,构建良好创新创业生态", "（十二）发展创新型孵化器")
    ]
    fifteen = next(clause for clause in numbered if clause.number == "（十五）")
    assert fifteen.heading == "推进“放管服”改革"
    assert fifteen.text.startswith("(十五)推进“放管服”改革。落实国家开发区全链条审批赋权清单")


def test_headings_are_the_texts_own(seed):
    for clause in seed.clauses:
        if clause.number:
            assert clause.text.startswith(f"({clause.number[1:-1]}){clause.heading}。")


def test_preamble_is_its_own_clause(seed):
    preamble = seed.clauses[0]
    assert (preamble.number, preamble.heading, preamble.path) == ("", "前言", ("前言",))
    assert preamble.text.startswith("为充分发挥高新技术产业开发区")


def test_offsets_point_into_document_text(seed):
    for clause in seed.clauses:
        assert clause.text == seed.document.text[clause.start : clause.end]
        assert clause.document_id == seed.document.id


def test_nothing_of_the_body_is_lost(seed, uncovered):
    assert uncovered(seed) == []


def test_no_page_chrome(seed):
    for clause in seed.clauses:
        for chrome in CHROME:
            assert chrome not in clause.text
    assert not any(line.strip() in CHROME for line in seed.document.text.split("\n"))


def test_ids_are_stable(seed, seed_path):
    again = parse_text(seed_path.read_text(encoding="utf-8"), str(seed_path))
    assert [c.id for c in again.clauses] == [c.id for c in seed.clauses]
    assert len({c.id for c in seed.clauses}) == len(seed.clauses)
    assert seed.clauses[0].id.startswith(seed.document.id)
