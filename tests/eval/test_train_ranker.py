"""``policyqa train ranker`` end to end on a tiny index, and the learned ranker as the hybrid pipeline's last
stage: only articles move, each place keeps its score, a model of another embedding model is refused, an
index of a model without a ranker keeps the fused order."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from policyqa.cli import main
from policyqa.eval.queries import load_queries
from policyqa.eval.split import load_split, select
from policyqa.eval.train_ranker import Answers, RankerConfig, train_ranker
from policyqa.indexer import PolicyIndex, build_index
from policyqa.indexer.errors import ModelLoadError
from policyqa.indexer.learned_ranker import (
    FEATURES,
    LearnedReranker,
    RankerModel,
    answer_counts,
    answer_key,
    answer_keys,
    candidate_features,
    reorder_articles,
)
from policyqa.indexer.records import SearchFilters, SearchRequest

AMOUNT_ARTICLE = (
    "第三条 科技型中小企业研发投入达到规定比例的，按照研发投入的百分之十给予补助，"
    "单个企业每年补助最高不超过二百万元，补助资金分两期拨付，首期在评审通过后三十日内拨付。"
)

GRANTS = f"""科技型中小企业研发补助办法
2020-04-01

第一条 为了支持科技型中小企业开展研发活动，制定本办法。

第二条 研发补助由科技主管部门受理。

{AMOUNT_ARTICLE}

第四条 研发补助申请材料不全的，受理部门应当一次性告知申请人补正。

第五条 本办法自2020年5月1日起施行。
"""

ELDERLY = """养老服务条例
2019-01-10

第一条 为了发展养老服务，满足老年人服务需求，制定本条例。

第二条 县级人民政府应当建设社区养老服务中心，提供日间照料服务。

第三条 养老机构应当配备专业护理人员，定期开展培训。

第四条 对经济困难的高龄老人发放护理补贴。
"""

FLOOD = """南京市人民政府关于做好夏季防汛工作的通知
宁政发〔2021〕45号
2021-05-20

各区人民政府，市府各委办局：

  一、加强组织领导

  （一）落实防汛责任。各区要建立防汛责任制，明确责任人。

  （二）做好研发物资储备。储备沙袋、水泵等防汛物资。
"""

QUESTION = "科技型中小企业研发补助最多有多少？"
GRANT_AMOUNT = {"title": "科技型中小企业研发补助办法", "article": "第三条"}


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, index_settings, embedder) -> Path:
    corpus = tmp_path_factory.mktemp("ranker-corpus")
    for name, text in {"grants": GRANTS, "elderly": ELDERLY, "flood": FLOOD}.items():
        (corpus / f"{name}.txt").write_text(text, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("ranker-index")
    build_index([corpus], index_dir, index_settings, embedder=embedder, progress=False)
    return index_dir


@pytest.fixture(scope="module")
def questions(write_questions) -> tuple[Path, Path]:
    rows = [
        (1, QUESTION, [GRANT_AMOUNT]),
        (2, "研发补助每年最高补多少钱？", [GRANT_AMOUNT]),
        (3, "社区养老服务中心由谁建设？", [{"title": "养老服务条例", "article": "第二条"}]),
        (4, "高龄老人有护理补贴吗？", [{"title": "养老服务条例", "article": "第四条"}]),
        (5, "养老机构要配备什么人员？", [{"title": "养老服务条例", "article": "第三条"}]),
        (6, "研发补助资金什么时候拨付？", [GRANT_AMOUNT]),
        (7, "研发补助材料不全怎么办？", [{"title": "科技型中小企业研发补助办法", "article": "第四条"}]),
    ]
    return write_questions("ranker-questions", rows, (1, 2, 3, 4, 5), (6, 7))


def config(questions, tiny_index, out: Path, **changes) -> RankerConfig:
    path, split = questions
    values = {"queries": path, "index_dir": tiny_index, "out": out, "split_file": split, "trees": 8}
    return RankerConfig(**{**values, "progress": False, **changes})


def test_training_writes_a_described_reproducible_ranker(
    questions, tiny_index, index_settings, embedder, tmp_path
):
    model, out = train_ranker(config(questions, tiny_index, tmp_path / "a.json"), index_settings)
    assert out == tmp_path / "a.json"
    loaded = RankerModel.from_json(out.read_text(encoding="utf-8"))
    assert loaded == model and loaded.model_id == embedder.model_id and loaded.depth == 300
    provenance = loaded.provenance
    assert provenance["questions"] == {"train": 5, "validation": 2} and provenance["trees"] == 8
    assert provenance["train_relevant_rows"] == 5  # one labelled article per train question
    assert loaded.answers == {  # the train questions' articles; the validation ones' (6, 7) are not counted
        "科技型中小企业研发补助办法#3": 2,
        "养老服务条例#2": 1,
        "养老服务条例#3": 1,
        "养老服务条例#4": 1,
    }
    assert set(provenance["validation"]) == {"fused", "learned"}
    assert lightgbm.Booster(model_str=loaded.booster).num_feature() == len(FEATURES)
    again, _out = train_ranker(config(questions, tiny_index, tmp_path / "b.json"), index_settings)
    assert again.booster == model.booster  # one thread, fixed seeds: the same trees


def test_a_train_questions_own_labels_are_left_out_of_its_answer_counts(
    questions, tiny_index, index_settings, embedder
):
    path, split = questions
    train = select(load_queries(path), load_split(split), "train")
    index = PolicyIndex.load(tiny_index, index_settings, embedder=embedder)
    answers = Answers.of(train, index)
    grants = next(document for document in index.catalogue.documents() if document.title.startswith("科技型"))
    third = next(clause for clause in index.catalogue.clauses_of(grants.id) if clause.number == "第三条")
    row = int(index.catalogue.clause_rows([third.id])[0])
    assert answers.by_row[row] == 2 and answers.by_row.sum() == 5
    asked = next(query for query in train if query.question == QUESTION)  # labelled 第三条
    assert answers.without(asked)[row] == 1 and answers.without(asked).sum() == 4
    assert answers.by_row[row] == 2  # left as it was


def test_training_does_not_need_a_usable_ranker(questions, tiny_index, index_settings, embedder, tmp_path):
    damaged = tmp_path / "old-format.json"  # e.g. the shipped ranker of an older feature set
    damaged.write_text('{"format": 1, "features": []}', encoding="utf-8")
    settings = index_settings.model_copy(update={"ranker_model": str(damaged)})
    with pytest.raises(ModelLoadError, match="train it again with `policyqa train ranker`"):
        PolicyIndex.load(tiny_index, settings, embedder=embedder)
    model, _out = train_ranker(config(questions, tiny_index, tmp_path / "new.json"), settings)
    assert model.provenance["trees"] == 8


def test_cross_validation_needs_enough_labelled_questions(questions, tiny_index, index_settings, tmp_path):
    model, _out = train_ranker(
        config(questions, tiny_index, tmp_path / "cv.json", trees=None), index_settings
    )
    assert 1 <= model.provenance["trees"] <= 600 and model.provenance["cross_validated_ndcg@10"] is not None


def longer_is_better(model_id: str) -> RankerModel:
    """A ranker taught on made-up candidates that the longest clause of a question is the relevant one."""
    rng = np.random.default_rng(3)
    rows, labels = [], []
    length = FEATURES.index("length_log")
    for _question in range(200):
        features = np.zeros((10, len(FEATURES)))
        features[:, length] = rng.uniform(2.5, 5, size=10)  # log1p of 11 to 150 characters
        rows.append(features)
        labels.append((features[:, length] == features[:, length].max()).astype(int))
    params = {"objective": "lambdarank", "num_threads": 1, "deterministic": True, "verbose": -1, "seed": 1}
    booster = lightgbm.train(
        params, lightgbm.Dataset(np.concatenate(rows), np.concatenate(labels), group=[10] * 200), 30
    )
    return RankerModel(model_id, 300, booster.model_to_string(), {})


def test_the_ranker_moves_articles_only_and_places_keep_their_scores(
    tiny_index, index_settings, embedder, tmp_path
):
    path = tmp_path / "longer.json"
    path.write_text(longer_is_better(embedder.model_id).to_json(), encoding="utf-8")
    fused = PolicyIndex.load(
        tiny_index, index_settings.model_copy(update={"rerank": "off"}), embedder=embedder
    )
    learned = fused.with_settings(index_settings.model_copy(update={"ranker_model": str(path)}))
    assert isinstance(learned.pipeline.reranker, LearnedReranker) and learned.pipeline.reranker.depth == 300
    before = fused.search("研发", k=20)
    after = learned.search("研发", k=20)
    assert {hit.clause.id for hit in after} == {hit.clause.id for hit in before}
    assert [hit.score for hit in after] == [hit.score for hit in before]
    places = [i for i, hit in enumerate(before) if hit.clause.number.startswith("第")]
    assert len(places) >= 3
    for i, hit in enumerate(before):
        if i not in places:  # the 通知's clauses keep their places
            assert after[i].clause.id == hit.clause.id
    moved = [after[i].clause for i in places]
    assert moved[0].number == "第三条" and len(moved[0].text) == max(len(clause.text) for clause in moved)


def test_a_query_naming_an_article_keeps_the_fused_order(tiny_index, index_settings, embedder, tmp_path):
    path = tmp_path / "longer.json"
    path.write_text(longer_is_better(embedder.model_id).to_json(), encoding="utf-8")
    fused = PolicyIndex.load(
        tiny_index, index_settings.model_copy(update={"rerank": "off"}), embedder=embedder
    )
    learned = fused.with_settings(index_settings.model_copy(update={"ranker_model": str(path)}))
    for lookup in ("研发补助办法第2条", "宁政发〔2021〕45号"):  # nobody asks a look-up in STARD's words
        assert [hit.clause.id for hit in learned.search(lookup, k=10)] == [
            hit.clause.id for hit in fused.search(lookup, k=10)
        ]
    assert learned.search("研发补助办法第2条", k=1)[0].clause.number == "第二条"


def test_each_candidate_knows_where_it_stands_in_its_document(tiny_index, index_settings, embedder):
    catalogue = PolicyIndex.load(tiny_index, index_settings, embedder=embedder).catalogue
    grants = next(document for document in catalogue.documents() if document.title.startswith("科技型"))
    flood = next(document for document in catalogue.documents() if document.title.startswith("南京市"))
    third = next(clause for clause in catalogue.clauses_of(grants.id) if clause.number == "第三条")
    notice = catalogue.clauses_of(flood.id)[-1]
    answers = answer_counts(answer_keys(catalogue), {answer_key("科技型中小企业研发补助办法", "第3条"): 4})
    rows = candidate_features([(third.id, 1.0), (notice.id, 0.5)], {}, catalogue, 300, answers)
    column = {name: rows[:, FEATURES.index(name)] for name in FEATURES}
    assert column["article_answers_log"].tolist() == pytest.approx([np.log1p(4), 0.0])
    # counted by title and article, however either is written
    assert answer_key("中華人民共和國民法典 ", "第五百七十七條") == "中华人民共和国民法典#577"
    assert answer_key("中华人民共和国民法典", "第577条") == "中华人民共和国民法典#577"
    assert answer_key("中华人民共和国民法典", "（十二）") is None
    assert catalogue.document_size(grants.id) == 5
    assert column["document_clauses_log"][0] == pytest.approx(np.log1p(5))
    assert column["article_number_log"].tolist() == pytest.approx([np.log1p(3), 0.0])
    assert column["article_position"].tolist() == pytest.approx([3 / 5, 0.0])
    assert column["bm25_rank_log"].tolist() == pytest.approx([np.log(400)] * 2)  # found by no retriever


def test_each_candidate_knows_how_its_document_fares_among_the_candidates(
    tiny_index, index_settings, embedder
):
    catalogue = PolicyIndex.load(tiny_index, index_settings, embedder=embedder).catalogue
    grants = next(document for document in catalogue.documents() if document.title.startswith("科技型"))
    flood = next(document for document in catalogue.documents() if document.title.startswith("南京市"))
    first, second, *_ = catalogue.clauses_of(grants.id)
    notice = catalogue.clauses_of(flood.id)[0]
    ranking = [(first.id, 1.0), (notice.id, 0.8), (second.id, 0.5)]
    dense = [(second.id, 0.9), (first.id, 0.7)]  # the notice was not found by the dense retriever
    rankings = {"dense": dense, "bm25": [(notice.id, 12.0)]}
    rows = candidate_features(ranking, rankings, catalogue, 300, np.zeros(catalogue.clause_count))
    column = {name: rows[:, FEATURES.index(name)] for name in FEATURES}
    assert column["document_top50_log"].tolist() == pytest.approx(np.log1p([2, 1, 2]).tolist())
    assert column["document_best_rank_log"].tolist() == pytest.approx(np.log([1, 2, 1]).tolist())
    assert column["document_dense_gap"].tolist() == pytest.approx([0.0, 0.69 - 0.9, 0.0])  # lowest less 0.01
    assert column["dense_rank_log"].tolist() == pytest.approx(np.log([2, 400, 1]).tolist())
    assert column["bm25_share"].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert column["fused_gap"].tolist() == pytest.approx([0.0, -0.2, -0.5])


def test_reorder_articles_keeps_other_clauses_in_place() -> None:
    ranking = [("a", 3.0), ("notice", 2.5), ("b", 2.0), ("c", 1.0)]
    reordered = reorder_articles(ranking, [0.1, 9.0, 0.5, 0.9], [True, False, True, True])
    assert reordered == [("c", 3.0), ("notice", 2.5), ("b", 2.0), ("a", 1.0)]


def test_a_ranker_of_another_model_is_refused(tiny_index, index_settings, embedder, tmp_path):
    path = tmp_path / "other.json"
    path.write_text(longer_is_better("some/other-model").to_json(), encoding="utf-8")
    settings = index_settings.model_copy(update={"ranker_model": str(path)})
    with pytest.raises(ModelLoadError, match="was trained for model some/other-model"):
        PolicyIndex.load(tiny_index, settings, embedder=embedder)


def test_a_damaged_ranker_file_is_refused(tiny_index, index_settings, embedder, tmp_path):
    path = tmp_path / "damaged.json"
    settings = index_settings.model_copy(update={"ranker_model": str(path)})
    good = longer_is_better(embedder.model_id)
    for damaged in (
        '{"format": 1, "features": []}',
        replace(good, booster="tree\nnot a LightGBM model").to_json(),
        replace(
            good, booster=good.booster.replace(f"max_feature_idx={len(FEATURES) - 1}", "max_feature_idx=3")
        ).to_json(),
    ):
        path.write_text(damaged, encoding="utf-8")
        with pytest.raises(ModelLoadError, match="is unusable") as error:
            PolicyIndex.load(tiny_index, settings, embedder=embedder)
        assert "\n" not in str(error.value)


def test_a_model_without_a_shipped_ranker_keeps_the_fused_order(base_settings, base_embedder, caplog):
    settings = base_settings.model_copy(update={"rerank": "learned"})
    with caplog.at_level(logging.WARNING):
        stage = LearnedReranker(settings, None, base_embedder.model_id, None)  # type: ignore[arg-type]
    assert stage.model is None and stage.depth == 0
    assert "no learned ranker trained for this embedding model" in caplog.text
    ranking = [("a", 2.0), ("b", 1.0)]
    assert stage.rerank(None, ranking, {}) == ranking  # type: ignore[arg-type]
    assert stage.widen(None, {"dense": ranking}) == {"dense": ranking}  # type: ignore[arg-type]


def test_the_ranker_brings_the_answered_articles_nearest_the_question(
    tiny_index, index_settings, embedder, tmp_path
):
    """Its answered articles the dense ranking lacks join it below, best first; none already ranked, none a
    filter leaves out, none for a look-up question."""
    path = tmp_path / "answers.json"
    model = replace(
        longer_is_better(embedder.model_id),
        answers={"养老服务条例#2": 3, "养老服务条例#4": 1, "科技型中小企业研发补助办法#3": 2},
        answered_candidates=2,
    )
    path.write_text(model.to_json(), encoding="utf-8")
    index = PolicyIndex.load(
        tiny_index, index_settings.model_copy(update={"ranker_model": str(path)}), embedder=embedder
    )
    stage, catalogue = index.pipeline.reranker, index.catalogue

    def article(title: str, number: str) -> str:
        document = next(document for document in catalogue.documents() if document.title == title)
        return next(clause.id for clause in catalogue.clauses_of(document.id) if clause.number == number)

    centre, allowance = article("养老服务条例", "第二条"), article("养老服务条例", "第四条")
    grant = article("科技型中小企业研发补助办法", "第三条")
    question = index.query("社区养老服务中心由谁建设？")

    def widened(dense: list, filters: SearchFilters | None = None, query=question) -> list[str]:
        found = stage.widen(SearchRequest(query, "hybrid", 300, filters), {"dense": dense, "bm25": []})
        scores = [score for _clause_id, score in found["dense"][len(dense) :]]
        assert scores == sorted(scores, reverse=True)
        return [clause_id for clause_id, _score in found["dense"]]

    assert widened([])[0] == centre and len(widened([])) == 2  # two of the three, the nearest first
    assert widened([(centre, 0.9)]) in ([centre, grant, allowance], [centre, allowance, grant])
    only_grants = SearchFilters(document_id=catalogue.document_id_of(grant))
    assert widened([], only_grants) == [grant]
    assert widened([], query=index.query("养老服务条例第2条")) == []  # a look-up keeps the fused order


def test_the_command_reports_a_missing_index_in_one_line(questions, tmp_path, capsys):
    path, split = questions
    code = main(
        [
            "train",
            "ranker",
            "--queries",
            str(path),
            "--index-dir",
            str(tmp_path / "none"),
            "--split-file",
            str(split),
        ]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert error.startswith("policyqa: error:") and "Traceback" not in error
