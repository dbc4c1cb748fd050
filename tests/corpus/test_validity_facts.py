"""What a document says of its own validity: 施行 date phrases, expiry, repeals (``validity_facts``)."""

from __future__ import annotations

import pytest

from policyqa.corpus.metadata import validity_facts
from policyqa.corpus.parse import parse_text


@pytest.mark.parametrize(
    ("body", "effective"),
    [
        ("第一条 ……\n第九条 本法自2024年7月1日起施行。", "2024-07-01"),
        ("第九条 本法自二〇二四年七月一日起施行。", None),  # only Arabic-digit dates are read
        ("第九条 本条例自公布之日起施行。", "2020-05-06"),
        ("六、本意见自印发之日起实施。", "2020-05-06"),
        ("本通知自发布之日起执行。", "2020-05-06"),
        ("本办法自２０２１年３月１日起施行，有效期五年。", "2021-03-01"),
        ("第五条 本法施行前已登记设立的公司……", None),
        ("第一条 ……", None),
    ],
)
def test_effective_date_phrases(body: str, effective: str | None) -> None:
    assert validity_facts((), body, "2020-05-06").effective_date == effective


def test_a_lawrefbook_history_line_gives_the_effective_date() -> None:
    header = ("2021年4月29日 第十三届全国人民代表大会常务委员会第二十八次会议通过", "2021年11月1日 施行")
    assert validity_facts(header, "本法自公布之日起施行。", "2021-04-29").effective_date == "2021-11-01"


@pytest.mark.parametrize(
    ("body", "expires"),
    [
        ("本办法自2021年3月1日起施行，有效期5年。", "2026-02-28"),
        ("本办法自2021年3月1日起施行，有效期为五年。", "2026-02-28"),
        ("本意见自印发之日起施行，有效期至2025年12月31日。", "2025-12-31"),
        ("本办法自印发之日起施行。", None),
        ("第八条 许可证有效期为5年。", None),  # a licence's term, not the document's
    ],
)
def test_stated_expiry(body: str, expires: str | None) -> None:
    assert validity_facts((), body, "2020-05-06").expires == expires


@pytest.mark.parametrize(
    ("body", "repeals"),
    [
        (
            "第六十九条 本法自公布之日起施行。《中华人民共和国行政监察法》同时废止。",
            ("中华人民共和国行政监察法",),
        ),
        (
            "本办法自2020年1月1日起施行，原《苏州市人才公寓管理办法》（苏府规字〔2016〕3号）同时废止。",
            ("苏州市人才公寓管理办法", "苏府规字〔2016〕3号"),
        ),
        ("本通知自印发之日起施行，苏政发〔2015〕12号同时废止。", ("苏政发〔2015〕12号",)),
        ("第三条 《某某条例》规定的事项。第四条 本法自公布之日起施行。", ()),
    ],
)
def test_repeals_by_title_and_doc_number(body: str, repeals: tuple[str, ...]) -> None:
    assert validity_facts((), body, None).repeals == repeals


def test_parsed_documents_carry_the_facts() -> None:
    parsed = parse_text(
        "苏州市人才公寓管理办法\n时间:2022-05-06\n\n第一条 为规范……\n"
        "第二条 本办法自2022年7月1日起施行，有效期至2027年6月30日。"
        "《苏州市人才公寓管理办法》（苏府规字〔2020〕3号）同时废止。\n"
    )
    document = parsed.document
    assert (document.date, document.effective_date, document.expires) == (
        "2022-05-06",
        "2022-07-01",
        "2027-06-30",
    )
    assert document.repeals == ("苏州市人才公寓管理办法", "苏府规字〔2020〕3号")
