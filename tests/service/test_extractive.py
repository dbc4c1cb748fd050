"""Extractive answers on hand-made clauses: sentence splitting, quoting, composing, refusing."""

from dataclasses import replace

from policyqa.corpus.model import Clause, Document
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.service.answers import NO_ANSWER_TEXT, clause_label
from policyqa.service.extractive import (
    Candidate,
    answer_confidence,
    compose_answer,
    quotable_sentences,
    score_candidates,
    split_sentences,
    term_overlap,
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
    return score_candidates(
        question, TOKENIZER.tokenize(question), hits, similarity=char_similarity, normalise=normalize
    )


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


def test_term_overlap_weighs_terms_by_length_and_matches_variants():
    assert term_overlap(["孵化器", "奖励"], "對孵化器給予獎勵", normalize) == 1.0
    assert term_overlap(["孵化器", "签证"], "孵化器", normalize) == 0.6
    assert term_overlap([], "孵化器", normalize) == 0.0


def test_answer_quotes_the_best_sentences_exactly_and_names_the_clause():
    question = "新认定的国家级孵化器有什么奖励？"
    answer = compose_answer(candidates(question, [(INCUBATOR, DOC), (TALENT, DOC)]), threshold=0.3)
    assert not answer.no_answer
    assert 0 < answer.confidence <= 1
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
    answer = compose_answer(scored, threshold=0.0)
    quote_texts = [quote.text for quote in answer.quotes]
    assert len(quote_texts) == 1
    assert quote_texts[0].startswith("鼓励高新区") and quote_texts[0].endswith("孵化链条。")


def test_quotes_from_a_second_clause_are_introduced_and_numbered():
    scored = [
        Candidate(INCUBATOR, DOC, 0, quotable_sentences(INCUBATOR)[1], similarity=0.9, overlap=0.9),
        Candidate(TALENT, DOC, 1, quotable_sentences(TALENT)[0], similarity=0.85, overlap=0.9),
    ]
    answer = compose_answer(scored, threshold=0.5)
    assert [quote.clause.id for quote in answer.quotes] == ["d1-12", "d1-13"]
    assert "给予奖励。[1]另据该文件四、（十三）集聚创新人才：支持高新区引进高层次人才！[2]" in answer.text
    other = replace(TALENT, id="d2-1", document_id="d2")
    other_document = replace(DOC, id="d2", title="人才新政")
    scored[1] = replace(scored[1], clause=other, document=other_document)
    answer = compose_answer(scored, threshold=0.5)
    assert answer.text.endswith("[1]另据《人才新政》四、（十三）集聚创新人才：支持高新区引进高层次人才！[2]")


def test_a_split_law_is_named_with_its_subtitle():
    civil_code = Document(id="cc", title="中华人民共和国民法典", text="", subtitle="物权编")
    article = replace(ARTICLE, id="cc-1", document_id="cc")
    scored = [Candidate(article, civil_code, 0, quotable_sentences(article)[0], similarity=0.9, overlap=0.9)]
    assert compose_answer(scored, threshold=0.5).text.startswith("根据《中华人民共和国民法典》物权编第二章")


def test_below_threshold_is_a_no_answer_without_quotes():
    answer = compose_answer(candidates("今天天气怎么样", [(INCUBATOR, DOC), (TALENT, DOC)]), threshold=0.5)
    assert answer.no_answer
    assert answer.text == NO_ANSWER_TEXT
    assert answer.quotes == ()
    assert 0 <= answer.confidence < 0.5


def test_no_hits_is_a_no_answer():
    answer = compose_answer([], threshold=0.1)
    assert answer.no_answer and answer.confidence < 0.01


def test_only_sentences_similar_enough_are_quoted_whatever_their_word_overlap():
    sentences = quotable_sentences(INCUBATOR)
    scored = [
        Candidate(INCUBATOR, DOC, 0, sentences[0], similarity=0.70, overlap=1.0),  # top score, too far
        Candidate(INCUBATOR, DOC, 0, sentences[2], similarity=0.81, overlap=0.2),
    ]
    answer = compose_answer(scored, threshold=0.8)
    assert [quote.text for quote in answer.quotes] == [sentences[2].text]
    assert compose_answer(scored, threshold=0.82).no_answer


def test_confidence_is_one_half_at_the_threshold_and_grows_with_similarity():
    assert answer_confidence(0.88, 0.88) == 0.5
    confidences = [answer_confidence(similarity, 0.88) for similarity in (0.84, 0.90, 0.95)]
    assert confidences[0] < 0.5 < confidences[1] < confidences[2] <= 1


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
    answer = compose_answer(scored, threshold=0.5)
    assert [quote.text for quote in answer.quotes] == [sentences[0].text, sentences[2].text]
    assert answer.text.endswith(f"：{sentences[0].text}[1]……{sentences[2].text}[2]")
