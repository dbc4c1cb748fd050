import pytest

from policyqa.corpus.numbering import article_key, chinese_to_int, int_to_chinese


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
