"""The grounding check on hand-made replies (pure functions; no model, no server)."""

from __future__ import annotations

from policyqa.service.grounding import check_reply, containment, reply_sentences, supports

CLAUSE = "第四条 人才公寓租金按照同地段同类住房市场租金的百分之五十确定。租赁期限最长不超过三年。"


def test_containment_is_the_share_of_the_claims_bigrams_in_the_source() -> None:
    assert containment("租赁期限最长不超过三年。", CLAUSE) == 1.0
    assert containment("租期届满后可以申请续租一次。", CLAUSE) == 0.0
    assert containment("，。", CLAUSE) == 0.0  # nothing to check is not support


def test_a_changed_number_is_not_supported_however_close_the_wording() -> None:
    assert containment("人才公寓租金按同地段同类住房市场租金的百分之三十确定。", CLAUSE) > 0.8
    assert not supports("人才公寓租金按同地段同类住房市场租金的百分之三十确定。", CLAUSE)
    assert supports("人才公寓租金按同地段同类住房市场租金的百分之五十确定。", CLAUSE)


def test_markers_after_the_full_stop_and_in_other_brackets_belong_to_their_sentence() -> None:
    reply = (
        "租金按市场租金的百分之五十确定。[1]租赁期限最长不超过三年［1］；租期届满可续租【1】。未标注的一句。"
    )
    assert reply_sentences(reply) == [
        "租金按市场租金的百分之五十确定。[1]",
        "租赁期限最长不超过三年［1］；",
        "租期届满可续租【1】。",
        "未标注的一句。",
    ]


def test_each_sentence_needs_a_marker_to_a_source_that_supports_it() -> None:
    reply = (
        "租赁期限最长不超过三年。[1]租赁期限最长不超过三年。[2]租期届满可以续租一次。[1]没有标注的租赁期限。"
    )
    checked = check_reply(reply, [CLAUSE])
    assert [(s.text, s.cited, s.supported_by) for s in checked] == [
        ("租赁期限最长不超过三年。", (1,), (1,)),
        ("租赁期限最长不超过三年。", (), ()),  # [2]: no such source
        ("租期届满可以续租一次。", (1,), ()),
        ("没有标注的租赁期限。", (), ()),
    ]
