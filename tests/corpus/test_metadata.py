"""Metadata from titles, header lines and file names; lawrefbook Markdown layout; folder loads."""

import pytest

from policyqa.corpus import iter_document_files, parse_file, parse_paths
from policyqa.corpus.errors import DocumentError
from policyqa.corpus.metadata import doc_type_of, issuer_of, place_name, region_of, split_title
from policyqa.corpus.parse import document_id, parse_text

SPLIT_LAW = """---
bookHidden: false
---

# 中华人民共和国民法典 <!-- 标题 -->

# 物权编

2020年5月28日 第十三届全国人民代表大会第三次会议通过

2021年1月1日 施行

<!-- INFO END -->

## 第一分编  通则

### 第一章  一般规定

第二百零五条 本编调整因物的归属和利用产生的民事关系。

第二百零六条 国家坚持和完善公有制为主体。

国家巩固和发展公有制经济。
"""


@pytest.mark.parametrize(
    ("raw", "title", "prefix", "year"),
    [
        ("【地区】(2018)关于加快培育发展高新技术产业开发区 “一区一战略产业”的意见", None, "地区", "2018"),
        ("【江苏】（2019）关于支持科技企业发展的通知", "关于支持科技企业发展的通知", "江苏", "2019"),
        ("江苏省科技创新促进条例", "江苏省科技创新促进条例", None, None),
    ],
)
def test_split_title(raw, title, prefix, year):
    parts = split_title(raw)
    assert (parts.prefix, parts.year) == (prefix, year)
    if title:
        assert parts.title == title
    assert " " not in parts.title


def test_places_and_placeholders():
    assert place_name("江苏") == "江苏" and place_name("苏州市") == "苏州市"
    assert region_of("深圳经济特区绿色建筑条例", None) == "深圳"
    assert region_of("广东省知识产权保护条例", None) == "广东"
    assert region_of("中华人民共和国民法典", None) is None
    assert region_of("关于某事的意见", "苏州市") == "苏州市"
    assert place_name("地区") is None and place_name("全国") is None and place_name("政策") is None


@pytest.mark.parametrize(
    ("title", "issuer", "region"),
    [
        ("郑洛新国家自主创新示范区条例", "河南省人民代表大会常务委员会", "河南"),  # from the issuer
        ("中关村国家自主创新示范区条例", "北京市人民代表大会常务委员会", "北京"),
        ("景宁畲族自治县民族教育条例", None, "景宁畲族自治县"),
        ("宁波市企业工资集体协商条例", "市人民代表大会常务委员会", "宁波市"),
        ("中华人民共和国城市房地产管理法", "全国人民代表大会常务委员会", None),  # not 中华人民共和国城市
        ("中华人民共和国香港特别行政区基本法", "全国人民代表大会", None),
        ("国务院关于在香港特别行政区实施某事的决定", "国务院", None),
        ("人力资源市场暂行条例", "国务院", None),  # 市场, not a 市
        ("城市市容和环境卫生管理条例", "国务院", None),
        ("最高人民法院关于上海金融法院案件管辖的规定", "最高人民法院审判委员会", None),
    ],
)
def test_region_from_title_then_issuer(title, issuer, region):
    assert region_of(title, None, issuer) == region


@pytest.mark.parametrize(
    ("line", "issuer"),
    [
        (
            "2020年7月31日 河南省第十三届人民代表大会常务委员会第十九次会议通过",
            "河南省人民代表大会常务委员会",
        ),
        ("2016年11月21日 由最高人民法院审判委员会第1700次会议通过", "最高人民法院审判委员会"),
        ("2021年11月16日 国家互联网信息办公室2021年第20次室务会议审议通过", "国家互联网信息办公室"),
        ("2013年10月29日 市十四届人民代表大会常务委员会第十二次会议通过", "市人民代表大会常务委员会"),
    ],
)
def test_issuer_from_the_adopting_meeting(line, issuer):
    assert issuer_of((line,)) == issuer


@pytest.mark.parametrize(
    ("title", "doc_type"),
    [
        ("关于加快培育发展高新技术产业开发区“一区一战略产业”的意见", "意见"),
        ("国务院关于印发某方案的通知", "通知"),
        ("人民检察院刑事诉讼规则（试行）", "规则"),
        ("江苏省科技创新促进条例", "条例"),
        ("中华人民共和国民法典", "法"),
        ("中华人民共和国宪法", "法"),
        ("某某市科技项目管理实施办法(2018年修订)", "办法"),
        ("最高人民法院关于审理专利纠纷案件适用法律问题的若干规定", "规定"),
        ("關於科技創新的決定", "决定"),
        ("科技创新白皮书", None),
    ],
)
def test_doc_type_from_title_ending(title, doc_type):
    assert doc_type_of(title) == doc_type


@pytest.mark.parametrize(
    ("header", "name", "date"),
    [
        ("时间:2018-10-17", "a.txt", "2018-10-17"),
        ("发布日期：2018年10月7日", "a.txt", "2018-10-07"),
        ("苏政发〔2018〕123号", "某通知(2018-10-17).txt", "2018-10-17"),
    ],
)
def test_dates(header, name, date):
    parsed = parse_text(f"关于某事的通知\n{header}\n\n一、正文内容。\n", name)
    assert parsed.document.date == date


def test_own_doc_number_versus_cited_ones():
    parsed = parse_text(
        "关于某事的通知\n苏政发〔2018〕123号\n\n根据国办发〔2017〕4号文件精神，现通知如下。\n", "a.txt"
    )
    assert parsed.document.doc_number == "苏政发〔2018〕123号"
    assert parsed.document.references == ("国办发〔2017〕4号",)
    assert "苏政发" not in parsed.document.text


def test_lawrefbook_markdown_layout(uncovered):
    parsed = parse_text(SPLIT_LAW, "民法典/物权编.md")
    document = parsed.document
    assert (document.title, document.subtitle, document.date) == (
        "中华人民共和国民法典",
        "物权编",
        "2020-05-28",
    )
    assert document.issuer == "全国人民代表大会"
    assert document.text.startswith("第一分编  通则\n")
    assert "bookHidden" not in document.text and "施行" not in document.text
    assert [(c.path, c.number) for c in parsed.clauses] == [
        (("第一分编 通则", "第一章 一般规定", "第二百零五条"), "第二百零五条"),
        (("第一分编 通则", "第一章 一般规定", "第二百零六条"), "第二百零六条"),
    ]
    assert [span.label for span in parsed.clauses[1].parts] == ["第一款", "第二款"]
    assert uncovered(parsed) == []


def test_document_id_depends_on_version_and_subtitle():
    base = document_id("中华人民共和国民法典", "物权编", "2020-05-28", None)
    assert len(base) == 16 and base == document_id("中华人民共和国民法典", "物权编", "2020-05-28", None)
    assert base != document_id("中华人民共和国民法典", "合同编", "2020-05-28", None)
    assert base != document_id("中华人民共和国民法典", "物权编", "2021-01-01", None)
    assert base == document_id("中華人民共和國民法典", "物權編", "2020-05-28", None)


def test_folder_indexes_and_hidden_pages(tmp_path):
    (tmp_path / "sub").mkdir()
    index = tmp_path / "sub" / "_index.md"
    index.write_text("---\nbookCollapseSection: true\n---", encoding="utf-8")
    template = tmp_path / "模版.md"
    template.write_text("---\nbookHidden: true\n---\n\n# 某条法律的标题\n\n第一条 xxxxx\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("# 说明\n\n本目录收集法律。\n", encoding="utf-8")
    law = tmp_path / "sub" / "物权编.md"
    law.write_text(SPLIT_LAW, encoding="utf-8")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("关于隐藏文件的通知\n内容。", encoding="utf-8")
    assert list(iter_document_files([tmp_path])) == [law]
    with pytest.raises(DocumentError, match="folder index"):
        parse_file(index)
    with pytest.raises(DocumentError, match="draft/bookHidden"):
        parse_file(template)


def test_folder_load_reports_bad_files_and_continues(tmp_path, seed_path):
    (tmp_path / "a-empty.txt").write_bytes(b"")
    (tmp_path / "b-binary.txt").write_bytes(b"\x00" * 64)
    (tmp_path / "c-seed.txt").write_bytes(seed_path.read_bytes())
    (tmp_path / "d-copy.txt").write_bytes(seed_path.read_text(encoding="utf-8").encode("gb18030"))
    documents, errors = parse_paths([tmp_path])
    assert [parsed.document.source for parsed in documents] == ["c-seed.txt"]
    assert [(error.path.name, error.reason.split(" ")[0]) for error in errors] == [
        ("a-empty.txt", "empty"),
        ("b-binary.txt", "binary"),
        ("d-copy.txt", "same"),
    ]
