"""``policyqa train reranker`` end to end on a tiny index, and the re-ranker it writes as a pipeline stage: a
few real training steps from the configured embedding model, the folder loaded back through the settings,
and a question whose fused order is wrong put right."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from policyqa.cli import main
from policyqa.errors import PolicyQAError
from policyqa.eval.bench import rerank_latencies, rerank_lines
from policyqa.eval.train_reranker import RerankerConfig, train_reranker
from policyqa.indexer import PolicyIndex, build_index
from policyqa.indexer.cross_encoder import HEAD_FILE, RERANKER_MARKER, reranker_digest
from policyqa.indexer.errors import ModelLoadError
from policyqa.indexer.settings import load_settings

LOANS = """小微企业创业担保贷款办法
2020-04-01

第一条 为了支持小微企业申请创业担保贷款，规范创业担保贷款申请工作，制定本办法。

第二条 小微企业申请创业担保贷款，应当向经办银行提交创业担保贷款申请书。

第三条 小微企业创业担保贷款申请由企业所在地人力资源社会保障部门受理。

第四条 小微企业申请创业担保贷款的，经办银行应当在十个工作日内完成审核。

第五条 创业担保贷款申请材料不全的，经办银行应当一次性告知小微企业补正。

第六条 小微企业创业担保贷款申请审核通过后，由担保基金提供担保。

第七条 符合条件的，额度最高不超过三百万元，财政贴息期限不超过三年。
"""

ELDERLY = """养老服务条例
2019-01-10

第一条 为了发展养老服务，满足老年人服务需求，制定本条例。

第二条 县级人民政府应当建设社区养老服务中心，提供日间照料服务。

第三条 养老机构应当配备专业护理人员，定期开展培训。

第四条 对经济困难的高龄老人发放护理补贴。

第五条 鼓励社会力量兴办养老机构，给予床位建设补贴。
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

LOANS_TITLE = "小微企业创业担保贷款办法"
WRONG_ORDER_QUESTION = "小微企业申请创业担保贷款最多能贷多少？"  # the fused order puts 第一条-第六条 first
AMOUNT = {"title": LOANS_TITLE, "article": "第七条"}


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, index_settings, embedder) -> Path:
    corpus = tmp_path_factory.mktemp("reranker-corpus")
    for name, text in {"loans": LOANS, "elderly": ELDERLY, "flood": FLOOD}.items():
        (corpus / f"{name}.txt").write_text(text, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("reranker-index")
    build_index([corpus], index_dir, index_settings, embedder=embedder, progress=False)
    return index_dir


@pytest.fixture(scope="module")
def questions(write_questions) -> tuple[Path, Path]:
    """Train questions on the amount clause and the other documents; two validation questions."""
    rows = [
        (1, WRONG_ORDER_QUESTION, [AMOUNT]),
        (2, "创业担保贷款的额度上限是多少？", [AMOUNT]),
        (3, "创业担保贷款财政贴息多长时间？", [AMOUNT]),
        (4, "社区养老服务中心由谁建设？", [{"title": "养老服务条例", "article": "第二条"}]),
        (5, "防汛物资要储备什么？", [{"heading": "做好物资储备"}]),
        (6, "高龄老人有护理补贴吗？", [{"title": "养老服务条例", "article": "第四条"}]),
        (7, "暴雨预警信息由哪个部门发布？", [{"heading": "加强雨情监测"}]),
    ]
    return write_questions("reranker-questions", rows, (1, 2, 3, 4, 5), (6, 7))


@pytest.fixture(scope="module")
def trained(tiny_index, questions, index_settings, tmp_path_factory):
    """A few real training steps (two epochs), overfitting the train questions."""
    path, split = questions
    config = RerankerConfig(
        queries=path,
        index_dir=tiny_index,
        out=tmp_path_factory.mktemp("reranker") / "out",
        split_file=split,
        epochs=1,
        batch_size=5,
        learning_rate=1e-3,
        negatives=4,
        max_steps=10,
        seed=7,
        lora_rank=4,
        max_tokens=64,
        depth=8,
        progress=False,
    )
    return config, train_reranker(config, index_settings)


def test_training_lowers_the_loss_and_writes_a_described_reranker(trained, embedder):
    config, result = trained
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert len(losses) == 10 and np.mean(losses[5:]) < np.mean(losses[:5])  # second epoch against first
    assert {"adapter_config.json", "adapter_model.safetensors", HEAD_FILE, RERANKER_MARKER} <= {
        path.name for path in config.out.iterdir()
    }
    marker = json.loads((config.out / RERANKER_MARKER).read_text(encoding="utf-8"))
    assert marker["base_model"] == embedder.model_id  # the configured (tuned, when an adapter is) model
    assert marker["query_prompt"] == "query: " and marker["max_tokens"] == 64
    assert marker["training"]["examples"] == 5 and marker["training"]["negatives"] == 4
    assert marker["validation"]["best"] == result.best_metrics and set(result.fused_metrics) >= {"mrr@10"}
    assert len(marker["fingerprint"]) == 4
    with safe_open(str(config.out / "adapter_model.safetensors"), "np") as weights:
        names = list(weights.keys())
        ranks = {weights.get_tensor(name).shape[0] for name in names if "lora_A" in name}
    assert names and all("lora_" in name for name in names) and ranks == {4}  # the embeddings stay frozen
    assert set(load_file(str(config.out / HEAD_FILE))) == {"weight", "bias"}


@pytest.fixture(scope="module")
def reranking(trained, tiny_index, index_settings, embedder) -> PolicyIndex:
    config, _result = trained
    settings = index_settings.model_copy(
        update={"rerank": "on", "rerank_model": str(config.out), "rerank_top_n": 10}
    )
    return PolicyIndex.load(tiny_index, settings, embedder=embedder)


def test_the_reranker_puts_right_a_question_the_fused_order_gets_wrong(reranking, index_settings):
    fused = reranking.with_settings(index_settings.model_copy(update={"rerank": "off"})).search(
        WRONG_ORDER_QUESTION, k=20
    )
    assert fused[0].clause.number != "第七条"
    reranked = reranking.search(WRONG_ORDER_QUESTION, k=20)
    assert reranked[0].clause.number == "第七条" and reranked[0].document.title == LOANS_TITLE
    assert {hit.clause.id for hit in reranked[:10]} == {hit.clause.id for hit in fused[:10]}
    assert [hit.score for hit in reranked] == [hit.score for hit in fused]  # the fused scores, in new order
    assert [hit.clause.id for hit in reranked[10:]] == [hit.clause.id for hit in fused[10:]]


def test_the_reranker_identity_records_its_files(reranking, embedder, trained):
    config, _result = trained
    encoder = reranking.pipeline.reranker.encoder
    assert encoder.model_id == f"{embedder.model_id}+rerank@{reranker_digest(config.out)[:12]}"


def test_a_changed_head_is_refused(trained, index_settings, embedder, tmp_path):
    config, _result = trained
    changed = tmp_path / "reranker"
    shutil.copytree(config.out, changed, ignore=shutil.ignore_patterns("checkpoints"))
    head = load_file(str(changed / HEAD_FILE))
    save_file({"weight": head["weight"], "bias": head["bias"] + 1.0}, changed / HEAD_FILE)
    settings = index_settings.model_copy(update={"rerank": "on", "rerank_model": str(changed)})
    with pytest.raises(ModelLoadError, match="does not reproduce its fingerprint"):
        PolicyIndex.load(config.index_dir, settings, embedder=embedder)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"POLICYQA_RERANK_TOP_N": "0"}, "POLICYQA_RERANK_TOP_N: Input should be greater than or equal to 1"),
        ({"POLICYQA_RERANK": "yes"}, "unknown re-ranker 'yes'; choose one of learned, off, on"),
    ],
)
def test_bad_rerank_settings_are_one_line_errors(monkeypatch, variables, message):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PolicyQAError, match="invalid setting") as error:
        load_settings()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_or_incomplete_reranker_folder_is_one_line(tiny_index, index_settings, embedder, tmp_path):
    settings = index_settings.model_copy(update={"rerank": "on", "rerank_model": str(tmp_path / "nothing")})
    with pytest.raises(ModelLoadError, match="no such folder"):
        PolicyIndex.load(tiny_index, settings, embedder=embedder)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / HEAD_FILE).write_bytes(b"")
    settings = settings.model_copy(update={"rerank_model": str(tmp_path / "half")})
    with pytest.raises(ModelLoadError, match=r"missing adapter_config\.json, adapter_model\.safetensors"):
        PolicyIndex.load(tiny_index, settings, embedder=embedder)


def test_the_command_refuses_a_used_out_folder(trained, tiny_index, questions, capsys):
    config, _result = trained
    path, split = questions
    arguments = ["train", "reranker", "--queries", str(path), "--index-dir", str(tiny_index)]
    arguments += ["--split-file", str(split), "--no-progress"]
    assert main([*arguments, "--out", str(config.out)]) == 1
    assert "--resume" in capsys.readouterr().err


def test_bench_reports_the_latency_the_reranker_adds(reranking, trained):
    questions = [WRONG_ORDER_QUESTION, "高龄老人有护理补贴吗？"]
    result = rerank_latencies(reranking, questions, depths=(2, 5))
    assert result["model"] == reranking.pipeline.reranker.encoder.model_id
    assert result["configured_top_n"] == 10 and set(result["added"]) == {"2", "5"}
    for row in result["added"].values():
        assert row["queries"] == 2 and 0 < row["latency_ms_p50"] <= row["latency_ms_p95"]
    assert "| 5 | 2 |" in "\n".join(rerank_lines(result))
