"""The query-file loader and the relevance labels."""

import json

import pytest

from policyqa.corpus.model import Clause, Document
from policyqa.eval.errors import QueryFileError
from policyqa.eval.labels import ArticleLabel, ClauseLabel, HeadingLabel, judge
from policyqa.eval.queries import (
    KEYPHRASE_QUESTIONS,
    OOD_QUESTIONS,
    load_key_phrase_queries,
    load_out_of_scope,
    load_queries,
)


def write_lines(tmp_path, *lines):
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def as_json(data):
    return json.dumps(data, ensure_ascii=False)


def test_loads_all_label_kinds_and_ignores_extra_keys(tmp_path):
    path = write_lines(
        tmp_path,
        as_json(
            {
                "id": 347,
                "question": "环境保护公益诉讼应当提交哪些材料？",
                "relevant": [{"title": "某某解释", "article": "第八条", "file": "司法解释/x.md"}],
            }
        ),
        "",
        as_json({"id": "q2", "question": " 孵化器有扶持吗？ ", "relevant": [{"clause_id": "abc#12"}]}),
        as_json(
            {"id": "q3", "question": "园区能审批吗？", "relevant": [{"heading": "（十五）推进“放管服”改革"}]}
        ),
    )
    first, second, third = load_queries(path)
    assert first.id == "347"
    assert first.relevant == (ArticleLabel("某某解释", "第八条"),)
    assert second.question == "孵化器有扶持吗？"
    assert second.relevant == (ClauseLabel("abc#12"),)
    assert third.relevant == (HeadingLabel("（十五）推进“放管服”改革"),)


def test_duplicate_labels_are_merged(tmp_path):
    label = {"title": "中华人民共和国民法典", "article": "第一条"}
    path = write_lines(tmp_path, as_json({"id": 1, "question": "问", "relevant": [label, label]}))
    assert len(load_queries(path)[0].relevant) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (as_json({"question": "问", "relevant": [{"clause_id": "c"}]}), '"id"'),
        (as_json({"id": 1, "question": "", "relevant": [{"clause_id": "c"}]}), '"question"'),
        (as_json({"id": 1, "question": "问", "relevant": []}), '"relevant"'),
        (as_json({"id": 1, "question": "问"}), '"relevant"'),
        (as_json({"id": 1, "question": "问", "relevant": ["第八条"]}), "must be an object"),
        (as_json({"id": 1, "question": "问", "relevant": [{"file": "x.md"}]}), "needs"),
        (as_json({"id": 1, "question": "问", "relevant": [{"title": "某法"}]}), '"article"'),
        (
            as_json({"id": 1, "question": "问", "relevant": [{"title": "某法", "article": "第八款"}]}),
            "article",
        ),
    ],
)
def test_malformed_lines_name_the_line(tmp_path, line, message):
    path = write_lines(
        tmp_path, as_json({"id": 0, "question": "好问题", "relevant": [{"clause_id": "c"}]}), line
    )
    with pytest.raises(QueryFileError, match=f"queries.jsonl:2: .*{message}"):
        load_queries(path)


def test_file_level_errors(tmp_path):
    with pytest.raises(QueryFileError, match="no such query file"):
        load_queries(tmp_path / "missing.jsonl")
    with pytest.raises(QueryFileError, match="no queries"):
        load_queries(write_lines(tmp_path, ""))
    gbk = tmp_path / "gbk.jsonl"
    gbk.write_bytes(as_json({"id": 1, "question": "问题", "relevant": [{"clause_id": "c"}]}).encode("gbk"))
    with pytest.raises(QueryFileError, match="not UTF-8"):
        load_queries(gbk)
    line = as_json({"id": 1, "question": "问", "relevant": [{"clause_id": "c"}]})
    with pytest.raises(QueryFileError, match="duplicate query id '1'"):
        load_queries(write_lines(tmp_path, line, line))


LAW = Document(id="d1", title="中华人民共和国民法典", text="")
POLICY = Document(id="d2", title="关于加快培育发展高新技术产业开发区“一区一战略产业”的意见", text="")


def clause(clause_id, number, heading="", document=LAW):
    return Clause(
        id=clause_id,
        document_id=document.id,
        path=(number,),
        number=number,
        heading=heading,
        text="",
        start=0,
        end=0,
    )


def test_article_label_compares_normalised_numbers_and_titles():
    label = ArticleLabel("中华人民共和国民法典", "第四百五十四条")
    assert label.matches(clause("c1", "第454条"), LAW)
    assert label.matches(
        clause("c1", "第四百五十四條"), Document(id="d3", title="中华人民共和国 民法典", text="")
    )
    assert not label.matches(clause("c1", "第四百五十五条"), LAW)
    assert not label.matches(clause("c1", "第四百五十四条"), POLICY)
    assert not ArticleLabel("某法", "第二十四条").matches(
        clause("c", "第二十四条之一"), Document("x", "某法", "")
    )


def test_heading_label_matches_heading_or_number_plus_heading():
    incubators = clause("c12", "(十二)", "发展创新型孵化器", POLICY)
    assert HeadingLabel("（十二）发展创新型孵化器").matches(incubators, POLICY)
    assert HeadingLabel("发展创新型孵化器。").matches(incubators, POLICY)
    assert not HeadingLabel("（十一）发展创新型孵化器").matches(incubators, POLICY)
    assert not HeadingLabel("发展创新型孵化器", title="别的文件").matches(incubators, POLICY)
    reform = clause("c15", "（十五）", "推进\u201c放管服\u201d改革", POLICY)
    assert HeadingLabel('(十五)推进"放管服"改革').matches(reform, POLICY)
    assert not HeadingLabel("（一）").matches(clause("c1", "（一）", "", POLICY), POLICY)


def test_judge_returns_first_matching_label():
    labels = (ClauseLabel("zzz"), ArticleLabel("中华人民共和国民法典", "第一条"), ClauseLabel("c1"))
    assert judge(clause("c1", "第一条"), LAW, labels) == 1
    assert judge(clause("c2", "第二条"), LAW, labels) is None


def test_out_of_scope_questions_say_whether_a_law_answers_them(tmp_path):
    path = write_lines(
        tmp_path,
        as_json({"id": "o1", "question": "今天天气怎么样？", "relevant": [], "answered_by_law": False}),
        as_json({"id": "o2", "question": "婚假可以休多少天？", "relevant": [], "answered_by_law": True}),
    )
    assert [(q.id, q.answered_by_law) for q in load_out_of_scope(path)] == [("o1", False), ("o2", True)]
    bad = write_lines(tmp_path, as_json({"id": "o3", "question": "天气？", "relevant": []}))
    with pytest.raises(QueryFileError, match=r'queries\.jsonl:1: question o3: "answered_by_law" must be'):
        load_out_of_scope(bad)


def test_key_phrase_queries_need_a_key_phrase(tmp_path):
    line = {"id": "k1", "question": "苏州高新区的特色产业？", "relevant": [{"heading": "（三）"}]}
    [item] = load_key_phrase_queries(write_lines(tmp_path, as_json({**line, "key_phrase": " 医疗器械 "})))
    assert (item.query.id, item.key_phrase) == ("k1", "医疗器械")
    with pytest.raises(QueryFileError, match='query k1: "key_phrase" must be a non-empty string'):
        load_key_phrase_queries(write_lines(tmp_path, as_json(line)))


def test_the_shipped_out_of_scope_and_key_phrase_files_load():
    outside = load_out_of_scope(OOD_QUESTIONS)
    assert len(outside) >= 100 and sum(not q.answered_by_law for q in outside) >= 100
    assert len(load_key_phrase_queries(KEYPHRASE_QUESTIONS)) >= 30
