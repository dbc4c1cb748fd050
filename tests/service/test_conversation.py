"""The follow-up rules on hand-made conversations (pure functions; the end-to-end conversation is in
test_chat.py, the measured dev set in eval/data/followup_questions.jsonl)."""

from __future__ import annotations

import pytest

from policyqa.corpus.model import Document
from policyqa.indexer.errors import InvalidQueryError
from policyqa.service.conversation import (
    Turn,
    check_conversation,
    focus_of,
    is_follow_up,
    rewrite,
    source_sentence,
    split_conversation,
)

INCUBATOR = "高新区对创新型孵化器有什么支持？"


@pytest.mark.parametrize(
    ("question", "follows"),
    [
        ("那人才方面呢？", True),
        ("这一条的适用对象是谁？", True),
        ("上面说的文件是哪年发的？", True),
        ("苏州呢？", True),
        ("还有资金支持吗？", True),
        ("它的申请条件是什么？", True),
        (INCUBATOR, False),
        ("人才公寓的租金是怎么确定的？", False),
        ("如何办理出国签证？", False),
    ],
)
def test_follow_ups_are_recognised(question: str, follows: bool) -> None:
    assert is_follow_up(question) is follows


@pytest.mark.parametrize(
    ("question", "previous", "topic", "expected"),
    [
        ("那人才方面呢？", INCUBATOR, "创新型孵化器", "高新区对人才有什么支持？"),
        ("那租赁期限呢？", "人才公寓的租金是怎么确定的？", "租金", "人才公寓的租赁期限是怎么确定的？"),
        ("这一条的适用对象是谁？", INCUBATOR, "创新型孵化器", "创新型孵化器的适用对象是谁？"),
        ("它的申请条件是什么？", "人才公寓的租金是怎么确定的？", "人才公寓", "人才公寓的申请条件是什么？"),
        ("加速器呢？", "如何申请", None, "加速器 如何申请"),  # no frame: the focus before the question
        ("这条是哪个文件规定的？", INCUBATOR, "创新型孵化器", "创新型孵化器"),  # source: the referent
    ],
)
def test_rules_rewrite_a_follow_up_from_the_previous_question(
    question: str, previous: str, topic: str | None, expected: str
) -> None:
    assert rewrite(question, previous, topic, None) == expected


def test_without_a_previous_question_nothing_is_rewritten() -> None:
    assert rewrite("那人才方面呢？", None, None, None) == "那人才方面呢？"
    assert focus_of("那么，人才这一块呢？") == "人才"


def test_the_source_is_named_with_the_metadata_known() -> None:
    known = Document(
        id="d", title="苏州市人才公寓管理办法", text="", date="2020-05-06", doc_number="苏府规字〔2020〕3号"
    )
    assert (
        source_sentence(known) == "出自《苏州市人才公寓管理办法》（苏府规字〔2020〕3号，2020-05-06 发布）。"
    )
    assert source_sentence(Document(id="d", title="某意见", text="")) == "出自《某意见》。"


def test_the_last_user_message_is_answered_after_the_turns_before_it() -> None:
    turns = [
        Turn("system", "你是助手"),
        Turn("user", "问一"),
        Turn("assistant", "答一"),
        Turn("user", "问二"),
    ]
    assert split_conversation(turns) == (turns[:3], "问二")
    with pytest.raises(InvalidQueryError, match="no user message"):
        split_conversation([Turn("system", "你是助手")])


def test_a_conversation_over_the_bounds_is_refused() -> None:
    check_conversation([Turn("user", "问" * 10)] * 2, max_messages=2, max_chars=20)
    with pytest.raises(InvalidQueryError, match="too many messages: 3"):
        check_conversation([Turn("user", "问")] * 3, max_messages=2, max_chars=20)
    with pytest.raises(InvalidQueryError, match="21 characters"):
        check_conversation([Turn("user", "问" * 21)], max_messages=2, max_chars=20)
