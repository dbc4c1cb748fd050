"""``policyqa train embedder`` end to end on a tiny index: hard negatives, a few training steps, and the
adapter loaded back through the settings."""

from __future__ import annotations

import copy as copy_module
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from policyqa.cli import main
from policyqa.eval.labels import judge
from policyqa.eval.negatives import LabelledIndex, mine_negatives, near_duplicate_labels, training_examples
from policyqa.eval.queries import load_queries
from policyqa.eval.train_embedder import TrainConfig, train_embedder
from policyqa.indexer import PolicyIndex, build_index
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import IndexMismatchError, ModelLoadError
from policyqa.indexer.model_loading import ADAPTER_MARKER, adapter_digest, adapter_folder, apply_adapter
from policyqa.indexer.settings import load_settings
from policyqa.text import label_form

LAW_2015 = """中华人民共和国示范促进法
2015-03-01

第一条 为了规范示范活动，促进创新发展，制定本法。

第二条 国家设立专项资金，支持科技型中小企业开展研发活动。

第三条 县级以上人民政府应当为入驻单位减免场地租金。

第四条 示范单位每年向主管部门报送年度报告。

第五条 违反本法规定的，由主管部门责令改正，给予警告。
"""

LAW_2021 = """中华人民共和国示范促进法
2021-06-01

第一条 为了规范示范活动，促进创新发展，制定本法。

第二条 国家设立专项资金，支持科技型中小企业和初创企业开展研发活动。

第三条 县级以上人民政府应当为入驻单位减免场地租金。

第四条 示范单位每年三月底前通过网上平台向主管部门报送年度报告和财务报表。

第五条 违反本法规定的，由主管部门责令改正，给予警告，并处一万元以下罚款。
"""

ELDERLY = """养老服务条例
2019-01-10

第一条 为了发展养老服务，满足老年人服务需求，制定本条例。

第二条 县级人民政府应当建设社区养老服务中心，提供日间照料服务。

第三条 养老机构应当配备专业护理人员，定期开展培训。

第四条 对经济困难的高龄老人发放护理补贴。

第五条 鼓励社会力量兴办养老机构，给予床位建设补贴。

第六条 民政部门负责养老机构的监督检查。
"""

FLOOD = """南京市人民政府关于做好夏季防汛工作的通知
宁政发〔2021〕45号
2021-05-20

各区人民政府，市府各委办局：

  一、加强组织领导

  （一）落实防汛责任。各区要建立防汛责任制，明确责任人。

  （二）做好物资储备。储备沙袋、水泵等防汛物资。

  二、强化监测预警

  （三）加强雨情监测。气象部门要及时发布暴雨预警信息。

  （四）及时转移群众。低洼地区群众遇险时要及时转移安置。
"""

LAW = "中华人民共和国示范促进法"
DOCUMENTS = {"law-2015": LAW_2015, "law-2021": LAW_2021, "elderly": ELDERLY, "flood": FLOOD}


def _write_corpus(folder: Path) -> Path:
    for name, text in DOCUMENTS.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, base_settings, base_embedder) -> Path:
    corpus = _write_corpus(tmp_path_factory.mktemp("train-corpus"))
    index_dir = tmp_path_factory.mktemp("train-index")
    build_index([corpus], index_dir, base_settings, embedder=base_embedder, progress=False)
    return index_dir


@pytest.fixture(scope="module")
def loaded(tiny_index, base_settings, base_embedder) -> PolicyIndex:
    return PolicyIndex.load(tiny_index, base_settings, embedder=base_embedder)


def _clause_id(index: PolicyIndex, title: str, date: str, number: str) -> str:
    document = next(d for d in index.documents() if d.title == title and d.date == date)
    return next(c.id for c in index.clauses_of(document.id) if c.number == number)


@pytest.fixture(scope="module")
def questions(loaded, write_questions) -> tuple[Path, Path]:
    """Eight questions (article, clause-id and heading labels) and a split: six train, two validation."""
    reporting_2021 = _clause_id(loaded, LAW, "2021-06-01", "第四条")
    rows = [
        (1, "入驻单位的场地租金可以减免吗？", [{"title": LAW, "article": "第三条"}]),
        (2, "示范单位什么时候报送年度报告？", [{"clause_id": reporting_2021}]),
        (3, "专项资金支持哪些企业搞研发？", [{"title": LAW, "article": "第二条"}]),
        (4, "社区养老服务中心由谁建设？", [{"title": "养老服务条例", "article": "第二条"}]),
        (5, "高龄老人有护理补贴吗？", [{"title": "养老服务条例", "article": "第四条"}]),
        (6, "防汛物资要储备什么？", [{"heading": "做好物资储备"}]),
        (7, "暴雨预警信息由哪个部门发布？", [{"heading": "加强雨情监测"}]),
        (8, "违反示范促进法会被罚款吗？", [{"title": LAW, "article": "第五条"}]),
    ]
    return write_questions("train-questions", rows, (1, 2, 3, 4, 5, 6), (7, 8))


def test_mined_negatives_are_never_labelled_nor_another_version_of_a_positive(loaded, questions):
    labelled = LabelledIndex(loaded)
    queries = load_queries(questions[0])
    for query in queries:
        positives = [pair for pairs in labelled.positives(query).values() for pair in pairs]
        negatives = mine_negatives(labelled, query, positives, count=4, seed=5)
        assert len(negatives) == 4
        versions = near_duplicate_labels(positives)
        positive_texts = {label_form(clause.text) for clause, _document in positives}
        for clause in negatives:
            document = loaded.document(clause.document_id)
            assert judge(clause, document, query.relevant) is None
            assert judge(clause, document, versions) is None
            assert label_form(clause.text) not in positive_texts
        assert negatives == mine_negatives(labelled, query, positives, count=4, seed=5)

    reporting = queries[1]  # a clause-id label on the 2021 version's 第四条
    positives = [pair for pairs in labelled.positives(reporting).values() for pair in pairs]
    assert [clause.id for clause, _document in positives] == [_clause_id(loaded, LAW, "2021-06-01", "第四条")]
    earlier = _clause_id(loaded, LAW, "2015-03-01", "第四条")
    for seed in range(5):
        mined = mine_negatives(labelled, reporting, positives, count=4, seed=seed)
        assert earlier not in {clause.id for clause in mined}


def test_examples_use_the_latest_version_and_the_indexed_passage_text(loaded, questions):
    labelled = LabelledIndex(loaded)
    queries = load_queries(questions[0])
    report = training_examples(labelled, queries[:1], negatives=2, seed=1)
    (example,) = report.examples
    assert example.positive == f"《{LAW}》\n第三条 县级以上人民政府应当为入驻单位减免场地租金。"
    assert len(example.negatives) == 2
    latest = _clause_id(loaded, LAW, "2021-06-01", "第三条")
    assert labelled.positives(queries[0])[0][0][0].id == latest


@pytest.fixture(scope="module")
def trained(tiny_index, questions, base_settings, base_embedder, tmp_path_factory):
    """A few real training steps on the tiny index (base_embedder: the base model is materialised first)."""
    path, split = questions
    out = tmp_path_factory.mktemp("adapter") / "out"
    config = TrainConfig(
        queries=path,
        index_dir=tiny_index,
        out=out,
        split_file=split,
        epochs=1,
        batch_size=2,
        learning_rate=2e-3,
        negatives=2,
        max_steps=6,
        seed=7,
        lora_rank=4,
        max_passage_tokens=64,
        progress=False,
    )
    return config, train_embedder(config, base_settings)


def test_training_lowers_the_loss_and_writes_a_described_adapter(trained, base_embedder, questions):
    config, result = trained
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert len(losses) == 6
    assert np.mean(losses[3:]) < np.mean(losses[:3])
    assert {"adapter_config.json", "adapter_model.safetensors", ADAPTER_MARKER} <= {
        path.name for path in config.out.iterdir()
    }
    marker = json.loads((config.out / ADAPTER_MARKER).read_text(encoding="utf-8"))
    assert marker["base_model"] == base_embedder.model_id
    assert marker["seed"] == 7
    assert marker["training"]["lora_rank"] == 4 and marker["training"]["examples"] == 6
    assert set(marker["validation"]["best"]) >= {"recall@10", "mrr@10"}
    assert marker["validation"]["best"] == result.best_metrics
    assert len(marker["split_sha256"]) == 64
    assert len(marker["fingerprint"]["vectors"]) == 4

    from safetensors import safe_open

    with safe_open(str(config.out / "adapter_model.safetensors"), "np") as weights:
        names = list(weights.keys())
    assert names and all("lora_" in name for name in names)  # the embedding matrix was not trained


def test_the_adapter_loads_offline_and_records_its_identity(
    trained, tiny_index, base_settings, base_embedder, monkeypatch
):
    config, _result = trained
    monkeypatch.setenv("POLICYQA_ADAPTER", str(config.out))
    settings = load_settings(home=base_settings.home)
    assert adapter_folder(settings) == config.out
    adapted = Embedder.from_settings(settings, progress=False)
    assert adapted.model_id == f"{base_embedder.model_id}+lora@{adapter_digest(config.out)[:12]}"
    question = "入驻单位的场地租金可以减免吗？"
    assert float(adapted.embed_query(question) @ base_embedder.embed_query(question)) < 0.99999
    with pytest.raises(IndexMismatchError, match=r"\+lora@"):
        PolicyIndex.load(tiny_index, settings, embedder=adapted)


def test_a_tampered_fingerprint_is_refused(trained, base_embedder, tmp_path):
    config, _result = trained
    copy = tmp_path / "adapter"
    shutil.copytree(config.out, copy, ignore=shutil.ignore_patterns("checkpoints"))
    marker = json.loads((copy / ADAPTER_MARKER).read_text(encoding="utf-8"))
    marker["fingerprint"]["vectors"][1] = list(reversed(marker["fingerprint"]["vectors"][1]))
    (copy / ADAPTER_MARKER).write_text(json.dumps(marker), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="does not reproduce its fingerprint"):
        apply_adapter(copy_module.deepcopy(base_embedder.model), base_embedder.model_id, copy)


def test_the_command_refuses_a_used_out_folder_and_an_empty_resume(trained, tiny_index, questions, capsys):
    config, _result = trained
    path, split = questions
    arguments = ["train", "embedder", "--queries", str(path), "--index-dir", str(tiny_index)]
    arguments += ["--split-file", str(split), "--no-progress"]
    assert main([*arguments, "--out", str(config.out)]) == 1
    assert "--resume" in capsys.readouterr().err
    assert main([*arguments, "--out", str(config.out.parent / "new"), "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err


def test_a_second_round_mines_with_the_adapter_and_continues_it(trained, base_settings, tmp_path):
    """An index built with the first adapter is mined with it (no mismatch), and ``from_adapter`` continues
    that adapter: at a vanishing learning rate the second adapter is the first (a fresh LoRA would be the
    bare base), with the first's LoRA shape whatever ``lora_rank`` says."""
    first, _result = trained
    settings = base_settings.model_copy(update={"adapter": str(first.out)})
    adapted = Embedder.from_settings(settings, progress=False)
    index_dir = tmp_path / "adapted-index"
    (tmp_path / "corpus").mkdir()
    build_index([_write_corpus(tmp_path / "corpus")], index_dir, settings, embedder=adapted, progress=False)
    config = dataclasses.replace(
        first,
        index_dir=index_dir,
        out=tmp_path / "second",
        learning_rate=1e-12,
        max_steps=2,
        lora_rank=16,
        from_adapter=first.out,
    )
    train_embedder(config, settings)
    second = json.loads((config.out / ADAPTER_MARKER).read_text(encoding="utf-8"))
    first_marker = json.loads((first.out / ADAPTER_MARKER).read_text(encoding="utf-8"))
    assert second["training"]["from_adapter"] == str(first.out) and "lora_rank" not in second["training"]
    lora = json.loads((config.out / "adapter_config.json").read_text(encoding="utf-8"))
    assert lora["r"] == 4
    np.testing.assert_allclose(
        second["fingerprint"]["vectors"], first_marker["fingerprint"]["vectors"], atol=1e-4
    )


def test_the_command_refuses_a_missing_start_adapter_before_mining(tiny_index, questions, tmp_path, capsys):
    path, split = questions
    missing = tmp_path / "no-adapter"
    arguments = ["train", "embedder", "--queries", str(path), "--index-dir", str(tiny_index)]
    arguments += ["--split-file", str(split), "--out", str(tmp_path / "out"), "--from-adapter", str(missing)]
    assert main([*arguments, "--no-progress"]) == 1
    assert f"adapter {missing}: no such folder" in capsys.readouterr().err
