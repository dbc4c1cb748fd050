"""The region inferred from a body (``infer_place``)."""

from __future__ import annotations

from policyqa.corpus.parse import parse_text
from policyqa.corpus.places import infer_place

PROVINCIAL = (
    "各设区市人民政府，省各委办厅局：经省政府同意，现就南京、苏州、无锡高新区发展提出如下意见。"
    "全省各地要支持常州、南通高新区建设。"
)


def test_a_provincial_body_names_its_province_through_its_cities() -> None:
    inferred = infer_place(PROVINCIAL)
    assert inferred is not None and (inferred.region, inferred.level) == ("江苏", "省级")


def test_a_city_body_speaks_at_city_level() -> None:
    inferred = infer_place("全市各区人民政府：本市、杭州各区县按照杭州市政府要求，做好杭州亚运会保障。")
    assert inferred is not None and (inferred.region, inferred.level) == ("浙江", "市级")


def test_no_inference_from_few_or_mixed_places() -> None:
    assert infer_place("国务院各部委：请认真贯彻执行。") is None
    assert infer_place("北京、上海、广州、深圳、杭州、成都等地开展试点。") is None  # no province dominates
    assert infer_place("台湾同胞在台湾、香港、澳门投资的，依照本办法。") is None  # not counted


def test_a_document_with_a_stated_or_national_place_is_not_inferred() -> None:
    stated = parse_text(f"苏州市人才公寓管理办法\n\n第一条 {PROVINCIAL}\n").document
    assert (stated.region, stated.region_basis, stated.issuer_level) == ("苏州市", "stated", None)
    national = parse_text(f"国务院关于推进高新区发展的意见\n\n一、{PROVINCIAL}\n").document
    assert (national.region, national.region_basis) == (None, None)
    inferred = parse_text(f"关于加快特色产业发展的意见\n\n一、{PROVINCIAL}\n").document
    assert (inferred.region, inferred.region_basis, inferred.issuer_level) == ("江苏", "inferred", "省级")
