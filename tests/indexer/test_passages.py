"""Passage texts (exact contract format) and windows for clauses over the token budget."""

from __future__ import annotations

from policyqa.corpus.model import Clause, Document
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.passages import PROMPT_MARGIN, clause_passages, passage_prefix


def clause(clause_id: str, path: tuple[str, ...], text: str) -> Clause:
    return Clause(
        id=clause_id, document_id="d", path=path, number="", heading="", text=text, start=0, end=len(text)
    )


DOCUMENT = Document(id="d", title="标题", text="")


def count_characters(texts: list[str]) -> list[int]:
    return [len(text) for text in texts]


def test_passage_text_format() -> None:
    nested = clause(
        "c1", ("四、健全科技服务体系", "（十二）发展创新型孵化器"), "（十二）发展创新型孵化器。支持…"
    )
    top = clause("c2", ("第一条",), "第一条 为了规范…")
    deep = clause("c3", ("第一编 总则", "第一章 基本规定", "第三条"), "第三条 …")
    passages = clause_passages(DOCUMENT, [nested, top, deep], count_characters, 10_000)
    assert [p.text for p in passages] == [
        "《标题》\n（十二）发展创新型孵化器。支持…",
        "《标题》\n第一条 为了规范…",
        "《标题》\n第三条 …",
    ]
    assert [p.lexical_text for p in passages] == [  # BM25 also sees the ancestor headings
        "《标题》 四、健全科技服务体系\n（十二）发展创新型孵化器。支持…",
        "《标题》\n第一条 为了规范…",
        "《标题》 第一编 总则 第一章 基本规定\n第三条 …",
    ]
    assert [(p.clause_id, p.window) for p in passages] == [("c1", 0), ("c2", 0), ("c3", 0)]
    split_law = Document(id="w", title="中华人民共和国民法典", text="", subtitle="物权编")
    assert passage_prefix(split_law) == "《中华人民共和国民法典》物权编\n"


def test_long_clause_is_split_into_windows_citing_it() -> None:
    sentences = [f"第{i}句规定了一项具体的扶持措施。" for i in range(40)]
    long_clause = clause("long", ("一、总则", "（一）扶持"), "".join(sentences))
    budget = 100 + PROMPT_MARGIN
    passages = clause_passages(DOCUMENT, [long_clause], count_characters, budget)
    assert len(passages) > 1
    assert {p.clause_id for p in passages} == {"long"}
    assert [p.window for p in passages] == list(range(len(passages)))
    prefix = "《标题》\n"
    assert all(p.text.startswith(prefix) and len(p.text) <= 100 for p in passages)
    assert "".join(p.text.removeprefix(prefix) for p in passages) == long_clause.text
    assert all(p.lexical_text == "《标题》 一、总则\n" + p.text.removeprefix(prefix) for p in passages)
    assert all(p.text.endswith("。") for p in passages)  # cut at sentence ends


def test_sentence_longer_than_budget_is_cut_mid_sentence() -> None:
    text = "甲" * 500
    passages = clause_passages(
        DOCUMENT, [clause("c", ("第一条",), text)], count_characters, 100 + PROMPT_MARGIN
    )
    assert all(len(p.text) <= 100 for p in passages)
    assert "".join(p.text.removeprefix("《标题》\n") for p in passages) == text


def test_windows_fit_the_real_model_budget(embedder: Embedder) -> None:
    text = "".join(
        f"（{i}）县级以上人民政府应当为入驻孵化器的科技型中小企业提供场地租金减免和贷款贴息。"
        for i in range(60)
    )
    passages = clause_passages(
        Document(id="law", title="中华人民共和国示范促进法", text=""),
        [clause("c", ("第二十四条",), text)],
        embedder.count_tokens,
        embedder.max_tokens,
    )
    assert len(passages) > 1
    assert max(embedder.count_tokens([p.text for p in passages])) <= embedder.max_tokens - PROMPT_MARGIN
