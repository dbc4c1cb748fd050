"""Highlight spans: normalised matching mapped back to original offsets, merged."""

from policyqa.indexer.tokenizer import Tokenizer
from policyqa.service.highlight import highlight_spans, merge_spans
from policyqa.text import normalize


def test_merge_spans_joins_overlapping_and_touching_spans():
    assert merge_spans([(5, 8), (0, 2), (1, 3), (8, 10), (12, 13)]) == [(0, 3), (5, 10), (12, 13)]


def test_terms_are_found_in_the_original_text():
    text = "（十二）发展创新型孵化器。鼓励高新区建设孵化器。"
    spans = highlight_spans(text, ["孵化器"], normalize)
    assert [text[s:e] for s, e in spans] == ["孵化器", "孵化器"]


def test_traditional_and_full_width_variants_highlight():
    text = "支持建設ＡＩ孵化器"
    spans = highlight_spans(text, Tokenizer(bigrams=False).tokenize("建设 ai 孵化器"), normalize)
    assert [text[s:e] for s, e in spans] == ["建設ＡＩ孵化器"]


def test_a_character_that_normalises_to_several_maps_back_to_itself():
    text = "见㈠款"  # ㈠ normalises to "(一)"
    spans = highlight_spans(text, ["(一)"], normalize)
    assert spans == [(1, 2)]


def test_overlapping_terms_merge_into_one_span():
    text = "创新型孵化器建设"
    assert highlight_spans(text, ["创新型", "新型孵化", "孵化器"], normalize) == [(0, 6)]


def test_no_terms_no_spans():
    assert highlight_spans("任何文本", [], normalize) == []
    assert highlight_spans("任何文本", [""], normalize) == []
