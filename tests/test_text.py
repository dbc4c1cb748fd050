"""The shared text rules: CJK range, matching forms, numerals, article references, 文号, leading labels."""

import re

import pytest

from policyqa.text import (
    ARTICLE_REFERENCE,
    BROKEN_DOC_NUMBER,
    CJK_BASIC,
    CJK_CHARACTER,
    DOC_NUMBER,
    DOC_NUMBER_FROM_BRACKET,
    LEADING_LABEL,
    article_key,
    chinese_to_int,
    compatibility_form,
    fold,
    int_to_chinese,
    names_provision,
    normalize,
)


def test_cjk_range_covers_extension_a_but_not_punctuation():
    assert all(CJK_CHARACTER.fullmatch(ch) for ch in "中国㐀䶵鿿")
    assert not any(CJK_CHARACTER.fullmatch(ch) for ch in "a1，。（〔\U00020000")
    assert re.fullmatch(f"[{CJK_BASIC}]", "中") and not re.fullmatch(f"[{CJK_BASIC}]", "㐀")


def test_fold_keeps_length_with_traditional_and_full_width_input():
    text = "（十二）第一條\u3000發展ＡＩ孵化器，"
    assert fold(text) == "(十二)第一条 发展AI孵化器,"
    assert len(fold(text)) == len(text)


def test_matching_forms_differ_where_they_should():
    assert compatibility_form("（十二）發展") == "(十二)發展"  # width only, traditional kept
    assert normalize("中華人民共和國ＡＢＣ１２３，") == "中华人民共和国abc123,"
    assert fold("ＡＢＣ") == "ABC"  # fold keeps case


@pytest.mark.parametrize(
    "text",
    [
        "苏政发〔2018〕123号",
        "苏政发[2018]123号",
        "苏政发【2018】123号",
        "苏政发(2018)123号",
        "苏政发（2018）第123号",
    ],
)
def test_doc_number_in_each_bracket_style(text):
    match = re.fullmatch(DOC_NUMBER, text)
    assert match and (match["year"], match["serial"]) == ("2018", "123")
    search_form = re.search(DOC_NUMBER_FROM_BRACKET, normalize(text))
    assert search_form and (search_form["year"], search_form["serial"]) == ("2018", "123")


def test_doc_number_variants():
    assert re.fullmatch(DOC_NUMBER, "苏政发〔 2018 〕 123 号")
    assert not re.search(DOC_NUMBER_FROM_BRACKET, "苏政发〔 2018 〕123号")  # search form has no inner spaces
    broken = re.search(BROKEN_DOC_NUMBER, "根据国科发高〔201790号文件")
    assert broken and (broken["year"], broken["serial"]) == ("2017", "90")


def test_article_reference_in_a_sentence():
    match = re.search(ARTICLE_REFERENCE, "依照本法第一百二十三条之一的规定")
    assert match and match.group() == "第一百二十三条之一"
    assert (match["article_number"], match["article_sub"]) == ("一百二十三", "一")


@pytest.mark.parametrize(
    ("label", "number"),
    [
        ("第二章 总则", "第二章"),
        ("第十二条", "第十二条"),
        ("四、健全机制", "四、"),
        ("（十二）发展", "（十二）"),
        ("3.目标", "3."),
    ],
)
def test_leading_label(label, number):
    assert LEADING_LABEL.match(label).group(1) == number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("一", 1),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("一百二十三", 123),
        ("一百零五", 105),
        ("一千零一", 1001),
        ("两千", 2000),
        ("二〇一八", 2018),
        ("一〇", 10),
        ("零", 0),
        ("三万五千", 35000),
        ("24", 24),
        ("２４", 24),
    ],
)
def test_chinese_to_int(text, value):
    assert chinese_to_int(text) == value


@pytest.mark.parametrize("text", ["", "条", "十a", "abc"])
def test_chinese_to_int_rejects_non_numerals(text):
    with pytest.raises(ValueError):
        chinese_to_int(text)


def test_int_to_chinese_round_trips():
    for value in range(1, 2001):
        assert chinese_to_int(int_to_chinese(value)) == value
    assert int_to_chinese(12) == "十二"
    assert int_to_chinese(110) == "一百一十"
    assert int_to_chinese(1260) == "一千二百六十"


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("第二十四条", "24"),
        ("第24条", "24"),
        ("第２４条", "24"),
        ("第二十四条之一", "24-1"),
        ("第一百二十三条", "123"),
        ("第一百二十三条之一", "123-1"),
        ("第24条之1", "24-1"),
        ("第二十四條", "24"),
        ("第一百零五条", "105"),
        (" 第十条 ", "10"),
        ("第二十四条的规定", None),
        ("第二章", None),
        ("二十四", None),
    ],
)
def test_article_key(label, key):
    assert article_key(label) == key


# ---- cross-references ------------------------------------------------------------------------------------


def _found(text: str) -> list[tuple]:
    from policyqa.text import find_references

    return [
        (ref.text, ref.kind, ref.title, ref.doc_number, ref.article, ref.article_end, ref.paragraph, ref.item)
        for ref in find_references(text)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("依照本法第十二条的规定", [("本法第十二条", "self", None, None, "12", None, None, None)]),
        (
            "违反本条例第二十条、第二十一条第二款第三项规定",
            [
                ("本条例第二十条", "self", None, None, "20", None, None, None),
                ("第二十一条第二款第三项", "self", None, None, "21", None, 2, 3),
            ],
        ),
        ("适用本办法第5条之一", [("本办法第5条之一", "self", None, None, "5-1", None, None, None)]),
        ("依照本意見第一百二十三條", [("本意見第一百二十三條", "self", None, None, "123", None, None, None)]),
        ("本法第十条至第十五条", [("本法第十条至第十五条", "self", None, None, "10", "15", None, None)]),
        (
            "依照《中华人民共和国公司法》第一百零二条处理",
            [
                (
                    "《中华人民共和国公司法》第一百零二条",
                    "titled",
                    "中华人民共和国公司法",
                    None,
                    "102",
                    None,
                    None,
                    None,
                )
            ],
        ),
        ("依照《公司法》第四条", [("《公司法》第四条", "titled", "公司法", None, "4", None, None, None)]),
        (
            "根据《关于推进X的意见》（苏政发〔2018〕12号）",
            [
                (
                    "《关于推进X的意见》（苏政发〔2018〕12号）",
                    "titled",
                    "关于推进X的意见",
                    "苏政发〔2018〕12号",
                    None,
                    None,
                    None,
                    None,
                )
            ],
        ),
        ("前款规定的情形", [("前款", "this_clause", None, None, None, None, None, None)]),
        ("本条第二款第（一）项", [("本条第二款第（一）项", "this_clause", None, None, None, None, 2, 1)]),
        ("前条第一款", [("前条第一款", "previous_clause", None, None, None, None, 1, None)]),
        ("依照《公司法》的规定", []),  # a title alone names a document, not a provision
        ("第十二条 公司应当……", []),  # an article's own number is no reference
    ],
)
def test_find_references(text: str, expected: list[tuple]) -> None:
    assert _found(text) == expected


def test_reference_offsets_point_into_the_text_as_given() -> None:
    from policyqa.text import find_references

    text = "（二）依照ＸＸ，本法第十二條、第十三条和《中華人民共和國公司法》第四條"
    for reference in find_references(text):
        assert text[reference.start : reference.end] == reference.text
    assert [reference.article for reference in find_references(text)] == ["12", "13", "4"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("第24条", True),
        ("民法典第一千零八十四條规定了什么", True),
        ("第 二十四 条 之 一", True),
        ("宁政发〔2021〕45号 物资储备", True),
        ("苏政发[2018]第123号", True),
        ("离婚后孩子的抚养费怎么算？", False),
        ("2021年第3季度的补贴", False),
        ("第一批试点城市", False),
    ],
)
def test_names_provision(text: str, named: bool) -> None:
    assert names_provision(text) is named
