"""BM25 tokenisation: 文号 and 条号 kept whole, matching form, stop words, bigrams, quiet jieba."""

from __future__ import annotations

import pytest

from policyqa.indexer.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer(bigrams=False)


@pytest.mark.parametrize(
    "text",
    [
        "苏政发〔2018〕123号",
        "苏政发[2018]123号",
        "苏政发（2018）123号",
        "苏政发(2018)123号",
        "苏政发【2018】123号",
        "苏政发［2018］123号",
    ],
)
def test_doc_number_is_one_normalised_token(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.tokenize(text) == ["苏政发〔2018〕123号"]


def test_doc_number_inside_a_sentence_keeps_its_issuer_prefix(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("根据苏政发〔2018〕123号和国科发高〔2017〕90号的规定")
    assert "苏政发〔2018〕123号" in tokens
    assert "国科发高〔2017〕90号" in tokens
    assert "根据" in tokens
    assert not {"2018", "123", "2017", "90"} & set(tokens)


def test_chinese_and_arabic_article_numbers_are_the_same_token(tokenizer: Tokenizer) -> None:
    assert tokenizer.tokenize("第二十四条") == tokenizer.tokenize("第24条") == ["第24条"]
    assert tokenizer.tokenize("第二十四條之一") == ["第24-1条"]
    assert tokenizer.tokenize("第一百二十三条") == ["第123条"]


def test_article_number_inside_text(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("依照本法第二十四条的规定处罚")
    assert "第24条" in tokens
    assert "处罚" in tokens


def test_traditional_and_simplified_text_give_the_same_tokens() -> None:
    assert Tokenizer(bigrams=False).tokenize("著作權") == Tokenizer(bigrams=False).tokenize("著作权")


def test_policy_dictionary_terms_stay_whole(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("支持瞪羚企业入驻众创空间，深化放管服改革，提高亩均效益")
    assert {"瞪羚企业", "众创空间", "放管服", "亩均效益"} <= set(tokens)


def test_stop_words_and_punctuation_are_dropped(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("创业孵化机构能拿到哪些扶持？")
    assert "哪些" not in tokens
    assert "？" not in tokens and "?" not in tokens
    assert {"创业", "孵化", "扶持"} <= set(tokens)


def test_bigrams_add_character_pairs_not_already_words() -> None:
    words = Tokenizer(bigrams=False).tokenize("创业孵化机构")
    with_bigrams = Tokenizer(bigrams=True).tokenize("创业孵化机构")
    assert with_bigrams[: len(words)] == words
    assert set(with_bigrams) - set(words) == {"业孵", "化机"}


def test_dictionary_hash_is_stable_and_recorded() -> None:
    first, second = Tokenizer(), Tokenizer(bigrams=False)
    assert first.dictionary_hash == second.dictionary_hash
    assert len(first.dictionary_hash) == 64
    assert first.config["bigrams"] is True and second.config["bigrams"] is False


def test_jieba_stays_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    Tokenizer().tokenize("建立健全科技服务体系")
    assert capfd.readouterr().err == ""
