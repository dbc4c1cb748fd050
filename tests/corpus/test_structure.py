"""Numbering schemes of laws and policies: articles, 款/项/目, parts and clauses, false headings avoided."""

import pytest
import zhconv

from policyqa.corpus import parse_file
from policyqa.corpus.parse import parse_text

LAW = """江苏省科技创新促进条例
（2018年10月17日江苏省第十三届人民代表大会常务委员会第六次会议通过）

第一章 总则

第一条 为了促进科技创新，根据有关法律，制定本条例。
第二条 本条例适用于本省行政区域内的科技创新活动。
本条例所称科技创新，包括下列活动：
（一）基础研究；
（二）应用研究，依照本条例第十一条的规定认定；
（三）成果转化。
前款第（二）项规定的活动，另行规定。
第十条的规定同样适用于高新区。
第二章 创新主体
第三条 企业是技术创新的主体。
第三条之一 鼓励企业建立研发机构。
第五条 违反本条例第三条规定的，依照下列规定处理：
1.责令改正；
2.予以警告。
第二条 本条是一个错误的编号，不应被当作条文。
第六条　本条例自2019年1月1日起施行。
"""

POLICY = """关于支持科技企业发展的通知
苏政发〔2019〕12号
发布机构:江苏省人民政府

各市、县人民政府：
现将有关事项通知如下。
一、总体要求
全省上下要高度重视。
(一)加强组织领导。各地要建立工作机制。
1.明确责任分工；
2.加强督查考核。
(二)健全服务体系。完善服务网络。
二、保障措施
强化资金保障，加大投入力度。
三、附则
本通知自发布之日起施行。
江苏省人民政府
2019年3月1日
"""


@pytest.fixture(scope="module")
def law():
    return parse_text(LAW, "law.txt")


def test_law_metadata(law):
    document = law.document
    assert (document.title, document.date, document.doc_type, document.region) == (
        "江苏省科技创新促进条例",
        "2018-10-17",
        "条例",
        "江苏",
    )
    assert document.issuer == "江苏省人民代表大会常务委员会"


def test_articles_and_paths(law):
    assert [(c.path, c.number) for c in law.clauses] == [
        (("第一章 总则", "第一条"), "第一条"),
        (("第一章 总则", "第二条"), "第二条"),
        (("第二章 创新主体", "第三条"), "第三条"),
        (("第二章 创新主体", "第三条之一"), "第三条之一"),
        (("第二章 创新主体", "第五条"), "第五条"),
        (("第二章 创新主体", "第六条"), "第六条"),
    ]


def test_references_and_backward_numbers_are_not_headings(law):
    second = law.clauses[1]
    assert second.text.endswith("第十条的规定同样适用于高新区。")  # "第十条的规定" is a reference
    assert "依照本条例第十一条的规定认定" in second.text
    fifth = law.clauses[4]
    assert fifth.text.endswith(
        "第二条 本条是一个错误的编号，不应被当作条文。"
    )  # 第二条 after 第五条 is no article


def test_paragraphs_and_items_are_parts(law):
    text = law.document.text
    second = law.clauses[1]
    parts = {span.label: text[span.start : span.end] for span in second.parts}
    assert list(parts) == ["第一款", "第二款", "（一）", "（二）", "（三）", "第三款", "第四款"]
    assert parts["第二款"].startswith("本条例所称科技创新") and parts["第二款"].endswith("（三）成果转化。")
    assert parts["（二）"] == "（二）应用研究，依照本条例第十一条的规定认定；"
    assert [span.label for span in law.clauses[4].parts] == ["第一款", "1.", "2.", "第二款"]


def test_law_coverage(law, uncovered):
    assert uncovered(law) == []


def test_traditional_big5_law(tmp_path, law):
    traditional = zhconv.convert(LAW, "zh-hant").replace("爲", "為")
    assert "第一條" in traditional
    path = tmp_path / "law-big5.txt"
    path.write_bytes(traditional.encode("big5"))
    parsed = parse_file(path)
    assert parsed.document.title == "江蘇省科技創新促進條例"
    assert parsed.document.doc_type == "条例"
    assert [(c.number, c.path[:-1]) for c in parsed.clauses] == [
        (c.number, tuple(zhconv.convert(label, "zh-hant") for label in c.path[:-1])) for c in law.clauses
    ]


def test_full_width_and_half_width_numbering_agree():
    half = parse_text(POLICY, "p.txt")
    full = parse_text(
        POLICY.replace("(", "（").replace(")", "）").replace("1.", "１．").replace("2.", "２．"), "p.txt"
    )
    assert [(c.number, c.heading, c.path) for c in half.clauses] == [
        (c.number, c.heading, c.path) for c in full.clauses
    ]
    assert [c.id for c in half.clauses] == [c.id for c in full.clauses]


def test_policy_structure():
    parsed = parse_text(POLICY, "p.txt")
    document = parsed.document
    assert (document.doc_number, document.issuer, document.doc_type) == (
        "苏政发〔2019〕12号",
        "江苏省人民政府",
        "通知",
    )
    assert document.references == ()
    assert [(c.path, c.number, c.heading) for c in parsed.clauses] == [
        (("前言",), "", "前言"),
        (("一、总体要求", "前言"), "", "前言"),
        (("一、总体要求", "（一）加强组织领导"), "（一）", "加强组织领导"),
        (("一、总体要求", "（二）健全服务体系"), "（二）", "健全服务体系"),
        (("二、保障措施",), "二、", "保障措施"),
        (("三、附则",), "三、", "附则"),
    ]
    first = parsed.clauses[2]
    assert [span.label for span in first.parts] == ["1.", "2."]
    assert parsed.clauses[-1].text == "三、附则\n本通知自发布之日起施行。\n江苏省人民政府\n2019年3月1日"


def test_inline_heading_is_split_only_when_short():
    text = (
        "关于某事的意见\n\n（一）发展创新型孵化器。支持各高新区设立孵化器。\n（二）"
        + "很" * 40
        + "长的第一句。第二句。\n"
    )
    clauses = parse_text(text, "x.txt").clauses
    assert (clauses[0].heading, clauses[1].heading) == ("发展创新型孵化器", "")
    assert clauses[1].number == "（二）"


def test_numbered_lines_out_of_sequence_stay_text():
    text = "关于某事的通知\n\n（一）第一项。\n（三）跳号的行不是条款。\n（二）第二项。\n"
    clauses = parse_text(text, "x.txt").clauses
    assert [c.number for c in clauses] == ["（一）", "（二）"]
    assert "（三）跳号的行不是条款。" in clauses[0].text


def test_continuous_numbering_across_parts():
    text = "关于某事的意见\n\n一、甲\n（一）子一。内容。\n二、乙\n（二）子二。内容。\n（一）不是延续。\n"
    clauses = parse_text(text, "x.txt").clauses
    assert [c.path for c in clauses] == [("一、甲", "（一）子一"), ("二、乙", "（二）子二")]
