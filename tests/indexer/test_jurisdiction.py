"""Documents of places a question does not name step back in hybrid search; named and home places, and places
nested with the home (its cities, its province), do not, and the asker's home region steps forward."""

from __future__ import annotations

from pathlib import Path

import pytest

from policyqa.indexer import Embedder, IndexSettings, PolicyIndex, build_index
from policyqa.indexer.jurisdiction import (
    adjust_by_region,
    named_regions,
    nested_regions,
    province_of_region,
    region_names,
    same_region,
)

SUPPORT = "第一条 科技企业孵化器可以享受房租补贴、税收减免和创业投资等扶持。\n"
NATIONAL = "科技企业孵化器管理办法"
LOCAL = "苏州市科技企业孵化器促进条例"
QUESTION = "科技企业孵化器可以享受哪些扶持？"


def test_region_names_and_named_regions() -> None:
    assert region_names("郑州市") == ("郑州市", "郑州")
    assert region_names("深圳") == ("深圳",)
    assert region_names("景宁畲族自治县") == ("景宁畲族自治县", "景宁畲族")
    regions = {"郑州市", "河南", "深圳", "广东"}
    assert named_regions("郑州的孵化器有什么补贴", regions) == {"郑州市"}
    assert named_regions("鄭州市和廣東的政策", regions) == {"郑州市", "广东"}  # traditional characters
    assert named_regions("孵化器有什么补贴", regions) == frozenset()


def test_same_region_ignores_the_administrative_suffix() -> None:
    assert same_region("江苏", "江苏省") and same_region("郑州市", "郑州") and same_region("鄭州市", "郑州市")
    assert not same_region("江苏", "浙江") and not same_region("苏州市", "苏州工业园区")


def test_a_home_province_holds_its_cities_and_a_home_city_its_province_but_not_its_siblings() -> None:
    regions = frozenset({"山东", "济南市", "青岛市", "河南", "郑州市", "吉林", "深圳", "广东"})
    assert nested_regions(frozenset({"山东"}), regions) == {"济南市", "青岛市"}
    assert nested_regions(frozenset({"济南市"}), regions) == {"山东"}  # not 青岛市: another city's rules
    assert nested_regions(frozenset({"深圳"}), regions) == {"广东"}
    assert nested_regions(frozenset({"吉林"}), regions) == frozenset()  # the province, not 吉林市
    assert nested_regions(frozenset(), regions) == frozenset()
    assert nested_regions(frozenset({"河南省"}), regions) == {"郑州市"}  # as the asker wrote it
    assert province_of_region("濟南市") == "山东" and province_of_region("吉林市") == "吉林"
    assert province_of_region("山东") is None and province_of_region("景宁畲族自治县") is None


def test_step_back_lowers_only_other_places_and_keeps_ties_in_order() -> None:
    regions = {"a": None, "b": "深圳", "c": "郑州市", "d": None}
    fused = [("b", 1.0), ("c", 0.9), ("a", 0.8), ("d", 0.8)]
    stepped = adjust_by_region(fused, regions.get, {"郑州市"}, 0.3)
    assert stepped == [("c", 0.9), ("a", 0.8), ("d", 0.8), ("b", pytest.approx(0.7))]
    assert adjust_by_region(fused, regions.get, set(), 0.0) == fused


def test_the_home_region_steps_forward_and_national_items_keep_their_score() -> None:
    regions = {"a": None, "b": "深圳", "c": "郑州市", "d": None}
    fused = [("a", 1.0), ("b", 0.9), ("d", 0.8), ("c", 0.7)]
    moved = adjust_by_region(fused, regions.get, {"郑州市"}, 0.3, {"郑州市"}, 0.25)
    assert moved == [("a", 1.0), ("c", pytest.approx(0.95)), ("d", 0.8), ("b", pytest.approx(0.6))]


@pytest.fixture(scope="module")
def twin_index(
    tiny_corpus: Path, index_settings: IndexSettings, embedder: Embedder, tmp_path_factory
) -> Path:
    """The tiny corpus plus a national and a 苏州 document with the same clause."""
    extra = tmp_path_factory.mktemp("twins")
    (extra / "national.txt").write_text(f"{NATIONAL}\n\n{SUPPORT}", encoding="utf-8")
    (extra / "local.txt").write_text(f"{LOCAL}\n\n{SUPPORT}", encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("twin-index")
    build_index([tiny_corpus, extra], index_dir, index_settings, embedder=embedder, progress=False)
    return index_dir


def _scores(
    index_dir: Path,
    settings: IndexSettings,
    embedder: Embedder,
    query: str,
    mode: str,
    home_region: str | None = None,
) -> dict:
    index = PolicyIndex.load(index_dir, settings, embedder=embedder)
    hits = index.search(query, mode=mode, k=10, home_region=home_region)
    return {hit.document.title: hit.score for hit in hits if hit.document.title in (NATIONAL, LOCAL)}


@pytest.fixture(scope="module")
def fused(index_settings: IndexSettings) -> IndexSettings:
    """The settings with the re-ranker off: the adjust stage's arithmetic, seen in the fused scores."""
    return index_settings.model_copy(update={"rerank": "off"})


def test_a_question_naming_no_place_puts_the_national_document_first(
    twin_index: Path, fused: IndexSettings, embedder: Embedder
) -> None:
    off = fused.model_copy(update={"other_region_penalty": 0.0})
    plain = _scores(twin_index, off, embedder, QUESTION, "hybrid")
    stepped = _scores(twin_index, fused, embedder, QUESTION, "hybrid")
    step = 0.25 * (fused.bm25_weight + fused.dense_weight)  # min-max: best score is 2
    assert stepped[NATIONAL] == plain[NATIONAL]
    assert stepped[LOCAL] == pytest.approx(plain[LOCAL] - step)
    assert list(stepped) == [NATIONAL, LOCAL]
    for mode in ("bm25", "dense"):  # the single retrievers rank as they are
        assert _scores(twin_index, fused, embedder, QUESTION, mode) == _scores(
            twin_index, off, embedder, QUESTION, mode
        )


@pytest.mark.parametrize(
    ("query", "home_region"),
    [("苏州的科技企业孵化器可以享受哪些扶持？", None), (QUESTION, "苏州"), (QUESTION, "苏州市")],
)
def test_a_named_or_home_place_keeps_its_documents_score(
    twin_index: Path, fused: IndexSettings, embedder: Embedder, query: str, home_region: str | None
) -> None:
    off = fused.model_copy(update={"other_region_penalty": 0.0})
    home = fused.model_copy(update={"home_region": home_region, "home_region_boost": 0.0})
    assert _scores(twin_index, home, embedder, query, "hybrid") == _scores(
        twin_index, off, embedder, query, "hybrid"
    )


@pytest.mark.parametrize(
    ("home_region", "steps_back"), [("江苏", False), ("江苏省", False), ("安徽", True), ("浙江", True)]
)
def test_a_city_of_the_home_province_is_not_another_place(
    twin_index: Path, fused: IndexSettings, embedder: Embedder, home_region: str, steps_back: bool
) -> None:
    """On a 江苏 portal a 苏州市 regulation neither steps back (it is not another province's) nor steps
    forward (it binds 苏州 only); on a 浙江 portal it is another place's, and steps back further than where
    the asker is not known (it binds none of the portal's askers). National documents are untouched."""
    plain = fused.model_copy(update={"other_region_penalty": 0.0, "home_region_boost": 0.0})
    whole = _scores(twin_index, plain, embedder, QUESTION, "hybrid")
    found = _scores(twin_index, fused, embedder, QUESTION, "hybrid", home_region=home_region)
    assert fused.home_other_region_penalty > fused.other_region_penalty
    step = fused.home_other_region_penalty * (fused.bm25_weight + fused.dense_weight)
    assert found[NATIONAL] == whole[NATIONAL]
    assert found[LOCAL] == pytest.approx(whole[LOCAL] - step if steps_back else whole[LOCAL])


@pytest.mark.parametrize("configured", [None, "北京"])
def test_the_askers_home_region_replaces_the_configured_one_for_one_search(
    twin_index: Path, fused: IndexSettings, embedder: Embedder, configured: str | None
) -> None:
    off = fused.model_copy(update={"other_region_penalty": 0.0, "home_region_boost": 0.0})
    settings = fused.model_copy(update={"home_region": configured, "home_region_boost": 0.0})
    whole = _scores(twin_index, off, embedder, QUESTION, "hybrid")
    assert _scores(twin_index, settings, embedder, QUESTION, "hybrid", home_region="苏州市") == whole
    assert _scores(twin_index, settings, embedder, QUESTION, "hybrid", home_region="蘇州") == whole


def test_a_blank_home_region_keeps_the_configured_one(
    twin_index: Path, fused: IndexSettings, embedder: Embedder
) -> None:
    at_home = fused.model_copy(update={"home_region": "苏州"})
    whole = _scores(twin_index, at_home, embedder, QUESTION, "hybrid")
    assert _scores(twin_index, at_home, embedder, QUESTION, "hybrid", home_region="  ") == whole
    elsewhere = _scores(twin_index, at_home, embedder, QUESTION, "hybrid", home_region="北京")
    assert elsewhere[LOCAL] < whole[LOCAL] and elsewhere[NATIONAL] == whole[NATIONAL]


def test_the_home_regions_documents_step_forward_unless_the_question_names_another_place(
    twin_index: Path, fused: IndexSettings, embedder: Embedder
) -> None:
    plain = fused.model_copy(update={"other_region_penalty": 0.0, "home_region_boost": 0.0})
    at_home = fused.model_copy(update={"home_region": "苏州", "home_region_boost": 0.25})
    step = 0.25 * (fused.bm25_weight + fused.dense_weight)  # min-max: best score is 2.25
    whole = _scores(twin_index, plain, embedder, QUESTION, "hybrid")
    boosted = _scores(twin_index, at_home, embedder, QUESTION, "hybrid")
    assert boosted[LOCAL] == pytest.approx(whole[LOCAL] + step)
    assert boosted[NATIONAL] == whole[NATIONAL]
    assert list(boosted) == [LOCAL, NATIONAL]
    named_home = "苏州的" + QUESTION
    assert _scores(twin_index, at_home, embedder, named_home, "hybrid")[LOCAL] == pytest.approx(
        _scores(twin_index, plain, embedder, named_home, "hybrid")[LOCAL] + step
    )
    elsewhere = "江苏的" + QUESTION  # another place the index has (the seed's): home is no better
    assert _scores(twin_index, at_home, embedder, elsewhere, "hybrid")[LOCAL] == pytest.approx(
        _scores(twin_index, plain, embedder, elsewhere, "hybrid")[LOCAL]
    )


@pytest.mark.parametrize(("home_region", "order"), [(None, [NATIONAL, LOCAL]), ("苏州", [LOCAL, NATIONAL])])
def test_the_learned_ranker_keeps_what_the_place_rules_decided(
    twin_index: Path, index_settings: IndexSettings, embedder: Embedder, home_region: str | None, order: list
) -> None:
    ranker = PolicyIndex.load(twin_index, index_settings, embedder=embedder).pipeline.reranker
    assert ranker.model is not None  # the shipped ranker of the test model re-orders the articles
    assert list(_scores(twin_index, index_settings, embedder, QUESTION, "hybrid", home_region)) == order
