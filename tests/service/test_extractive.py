"""Extractive answers on hand-made clauses: sentence splitting, quoting, composing, refusing."""

from dataclasses import replace

from policyqa.corpus.model import Clause, Document
from policyqa.indexer.sentences import Sentence, quotable_sentences, split_sentences
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.service.answers import NO_ANSWER_TEXT, clause_label
from policyqa.service.extractive import (
    Candidate,
    compose_answer,
    score_candidates,
    term_weights,
)
from policyqa.text import normalize

DOC = Document(id="d1", title="关于加快培育发展高新技术产业开发区的意见", text="", date="2018-10-17")
INCUBATOR = Clause(
    id="d1-12",
    document_id="d1",
    path=("四、健全创新创业服务体系", "（十二）发展创新型孵化器"),
    number="（十二）",
    heading="发展创新型孵化器",
    text="（十二）发展创新型孵化器。鼓励高新区建设专业化众创空间和孵化器；对新认定的国家级孵化器给予奖励。\n完善“创业苗圃+孵化器+加速器”孵化链条。",
    start=100,
    end=170,
)
TALENT = Clause(
    id="d1-13",
    document_id="d1",
    path=("四、健全创新创业服务体系", "（十三）集聚创新人才"),
    number="（十三）",
    heading="集聚创新人才",
    text="（十三）集聚创新人才。支持高新区引进高层次人才！人才公寓按规定给予补贴？",
    start=170,
    end=210,
)
ARTICLE = Clause(
    id="law-24",
    document_id="law",
    path=("第二章 劳动合同的订立", "第二十四条"),
    number="第二十四条",
    heading="",
    text="第二十四条 竞业限制的人员限于用人单位的高级管理人员。",
    start=0,
    end=27,
)
TOKENIZER = Tokenizer(bigrams=False)


def char_similarity(question: str, sentences: list[str]) -> list[float]:
    """A transparent stand-in for embedding similarity: character Jaccard."""
    asked = set(normalize(question))
    return [len(asked & set(normalize(s))) / len(asked | set(normalize(s))) for s in sentences]


def candidates(question: str, hits: list[tuple[Clause, Document]]) -> list[Candidate]:
    def similarity(groups: list[tuple[Clause, list[Sentence]]]) -> list[float]:
        return char_similarity(
            question, [sentence.text for _clause, sentences in groups for sentence in sentences]
        )

    return score_candidates(question, TOKENIZER.tokenize(question), hits, similarity=similarity)


def test_split_sentences_on_chinese_and_half_width_endings_and_line_breaks():
    text = " 第一句。第二句；“引号句！”\n第三句?末句无标点 "
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == ["第一句。", "第二句；", "“引号句！”", "第三句?", "末句无标点"]
    assert all(text[s.start : s.end] == s.text for s in sentences)


def test_split_sentences_drops_punctuation_only_pieces():
    assert split_sentences("。。\n\n；") == []


def test_quotable_sentences_skip_the_bare_heading_and_cut_a_leading_number():
    assert [s.text for s in quotable_sentences(INCUBATOR)] == [
        "鼓励高新区建设专业化众创空间和孵化器；",
        "对新认定的国家级孵化器给予奖励。",
        "完善“创业苗圃+孵化器+加速器”孵化链条。",
    ]
    assert [s.text for s in quotable_sentences(ARTICLE)] == ["竞业限制的人员限于用人单位的高级管理人员。"]
    half_width = replace(TALENT, text=TALENT.text.replace("（十三）", "(十三)"))
    assert quotable_sentences(half_width)[0].text == "支持高新区引进高层次人才！"
    for clause in (INCUBATOR, TALENT, ARTICLE):
        assert all(clause.text[s.start : s.end] == s.text for s in quotable_sentences(clause))


def test_term_weights_favour_the_words_few_sentences_share():
    sentences = ["苏州高新区发展医疗器械。", "各高新区发展特色产业。", "高新区建设孵化器。"]
    weights = term_weights(["苏州", "高新区", "高新区", "醫療"], sentences)
    assert set(weights) == {"苏州", "高新区", "医疗"}  # distinct, in search form
    assert weights["苏州"] > 0 == weights["高新区"]  # in one sentence vs in all three
    assert term_weights([], sentences) == {}


def test_the_sentence_with_the_question_s_specific_words_is_quoted():
    industries = replace(
        INCUBATOR,
        number="（三）",
        heading="培育特色战略产业",
        text="（三）培育特色战略产业。各高新区要重点培育具有先发优势的特色战略产业,努力抢占特色战略产业发展制高点。"
        "特色战略产业已经明确的高新区,支持其布局建设重大创新平台。"
        "推进无锡高新区物联网、常州高新区光伏、苏州高新区医疗器械等产业加快发展。"
        "特色战略产业还不明确的高新区,要尽快确定产业发展主攻点。",
    )
    answer = compose_answer(
        candidates("苏州高新区的特色战略产业是什么？", [(industries, DOC)]), confidence=0.9
    )
    assert any("医疗器械" in quote.text for quote in answer.quotes)


def test_answer_quotes_the_best_sentences_exactly_and_names_the_clause():
    question = "新认定的国家级孵化器有什么奖励？"
    answer = compose_answer(candidates(question, [(INCUBATOR, DOC), (TALENT, DOC)]), confidence=0.8)
    assert not answer.no_answer
    assert answer.confidence == 0.8
    assert answer.quotes[0].clause is INCUBATOR
    assert answer.quotes[0].text == "对新认定的国家级孵化器给予奖励。"
    assert answer.text.startswith(
        "根据《关于加快培育发展高新技术产业开发区的意见》四、（十二）发展创新型孵化器："
    )
    assert "对新认定的国家级孵化器给予奖励。[1]" in answer.text
    for quote in answer.quotes:
        assert quote.clause.text[quote.start : quote.end] == quote.text


def test_adjacent_chosen_sentences_merge_into_one_quote():
    scored = candidates("孵化器", [(INCUBATOR, DOC)])
    answer = compose_answer(scored, confidence=0.9)
    quote_texts = [quote.text for quote in answer.quotes]
    assert len(quote_texts) == 1
    assert quote_texts[0].startswith("鼓励高新区") and quote_texts[0].endswith("孵化链条。")


def test_quotes_from_a_second_clause_are_introduced_and_numbered():
    scored = [
        Candidate(INCUBATOR, DOC, 0, quotable_sentences(INCUBATOR)[1], similarity=0.9, overlap=0.9),
        Candidate(TALENT, DOC, 1, quotable_sentences(TALENT)[0], similarity=0.85, overlap=0.9),
    ]
    answer = compose_answer(scored, confidence=0.9)
    assert [quote.clause.id for quote in answer.quotes] == ["d1-12", "d1-13"]
    assert "给予奖励。[1]另据该文件四、（十三）集聚创新人才：支持高新区引进高层次人才！[2]" in answer.text
    other = replace(TALENT, id="d2-1", document_id="d2")
    other_document = replace(DOC, id="d2", title="人才新政")
    scored[1] = replace(scored[1], clause=other, document=other_document)
    answer = compose_answer(scored, confidence=0.9)
    assert answer.text.endswith("[1]另据《人才新政》四、（十三）集聚创新人才：支持高新区引进高层次人才！[2]")


def test_a_split_law_is_named_with_its_subtitle():
    civil_code = Document(id="cc", title="中华人民共和国民法典", text="", subtitle="物权编")
    article = replace(ARTICLE, id="cc-1", document_id="cc")
    scored = [Candidate(article, civil_code, 0, quotable_sentences(article)[0], similarity=0.9, overlap=0.9)]
    assert compose_answer(scored, confidence=0.9).text.startswith("根据《中华人民共和国民法典》物权编第二章")


def test_no_sentence_to_quote_is_a_no_answer_with_the_given_confidence():
    answer = compose_answer([], confidence=0.03)
    assert answer.no_answer
    assert answer.text == NO_ANSWER_TEXT
    assert answer.quotes == ()
    assert answer.confidence == 0.03


def test_a_sentence_far_below_the_best_score_is_not_quoted():
    sentences = quotable_sentences(INCUBATOR)
    scored = [
        Candidate(INCUBATOR, DOC, 0, sentences[0], similarity=0.90, overlap=1.0),
        Candidate(INCUBATOR, DOC, 0, sentences[2], similarity=0.85, overlap=0.2),
    ]
    assert [quote.text for quote in compose_answer(scored, confidence=0.9).quotes] == [sentences[0].text]


def test_clause_label_uses_ancestor_numbers():
    assert clause_label(INCUBATOR) == "四、（十二）发展创新型孵化器"
    assert clause_label(ARTICLE) == "第二章第二十四条"
    in_a_part = ("第四分编 担保物权", "第十七章 抵押权", "第一节 一般抵押权", "第四百一十一条")
    assert clause_label(replace(ARTICLE, path=in_a_part)) == "第四分编第十七章第一节第四百一十一条"


def test_separate_sentences_of_one_clause_are_joined_by_an_ellipsis():
    sentences = quotable_sentences(INCUBATOR)
    scored = [
        Candidate(INCUBATOR, DOC, 0, sentences[0], similarity=0.9, overlap=0.5),
        Candidate(INCUBATOR, DOC, 0, sentences[2], similarity=0.9, overlap=0.5),
    ]
    answer = compose_answer(scored, confidence=0.9)
    assert [quote.text for quote in answer.quotes] == [sentences[0].text, sentences[2].text]
    assert answer.text.endswith(f"：{sentences[0].text}[1]……{sentences[2].text}[2]")
