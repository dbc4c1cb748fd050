"""``policyqa train reranker``: the cross-encoder re-ranker, learnt from labelled questions.

The cross-encoder (:mod:`policyqa.indexer.cross_encoder`) starts from the tuned embedding model the index was
built with (``POLICYQA_MODEL`` with ``POLICYQA_ADAPTER`` merged): its transformer and pooling, a fresh LoRA
adapter on the attention and feed-forward layers (every base weight frozen) and a fresh one-logit head.
Examples are the embedder's (:mod:`policyqa.eval.negatives`): for each train question, the passage of each
labelled clause (label 1) and hard negatives mined from the index (label 0), trained pointwise by
sentence-transformers' CrossEncoderTrainer with BinaryCrossEntropyLoss (positives weighted by the number of
negatives). Validation re-ranks each validation question's fused top N (``--depth``) and judges the new order
by labels exactly like ``policyqa eval``, against the fused order itself; the best checkpoint by MRR@10 is
kept. The output folder is what ``POLICYQA_RERANK_MODEL`` loads: the LoRA files, ``head.safetensors`` and
``policyqa-reranker.json``.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from peft import LoraConfig, TaskType, get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.cross_encoder import (
    CrossEncoder,
    CrossEncoderTrainer,
    CrossEncoderTrainingArguments,
)
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
from transformers import set_seed

from policyqa.eval.errors import EvalError
from policyqa.eval.files import write_text_atomic
from policyqa.eval.metrics import mean_metrics, query_metrics
from policyqa.eval.negatives import LabelledIndex, TrainingExample, training_examples
from policyqa.eval.queries import EvalQuery, load_queries
from policyqa.eval.runner import judged_ids, label_ids
from policyqa.eval.split import load_split, select
from policyqa.eval.training import (
    CHECKPOINTS,
    EVALUATOR_NAME,
    PRIMARY_METRIC,
    Report,
    best_metrics,
    check_out,
    checkpoint_name,
    elapsed,
    metrics_line,
    sha256,
)
from policyqa.indexer import PolicyIndex
from policyqa.indexer.cross_encoder import (
    FINGERPRINT_DECIMALS,
    HEAD_FILE,
    RERANKER_MARKER,
    clause_text,
    cross_encoder_model,
    fingerprint,
    pair_scores,
)
from policyqa.indexer.errors import InvalidQueryError
from policyqa.indexer.model_loading import ADAPTER_FILES
from policyqa.indexer.settings import IndexSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

LORA_TARGETS = ("query", "key", "value", "dense")  # "dense": attention output and both feed-forward layers
LORA_DROPOUT = 0.1
WARMUP = 0.1  # share of the steps with a rising learning rate
HEAD_LEARNING_RATE_FACTOR = 10  # the fresh head learns this many times faster than the LoRA weights
HEAD_PARAMETERS = r"(^|\.)\d+\.linear\."  # the Dense head's parameters (the transformer has no "linear")
MARKER_FORMAT = 1


@dataclass(frozen=True)
class RerankerConfig:
    """What ``policyqa train reranker`` was asked to do (its options and their defaults: eval/cli.py)."""

    queries: Path
    index_dir: Path
    out: Path
    split_file: Path
    epochs: int
    batch_size: int  # pairs per step
    learning_rate: float
    negatives: int
    max_steps: int | None
    seed: int
    lora_rank: int
    max_tokens: int
    depth: int = 20
    resume: bool = False
    progress: bool = field(default=True, compare=False)

    def arguments(self) -> dict[str, object]:
        """The JSON-ready training arguments recorded with the re-ranker."""
        data = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}
        data.pop("progress")
        return {
            **data,
            "lora_alpha": 2 * self.lora_rank,
            "lora_targets": list(LORA_TARGETS),
            "head_learning_rate": HEAD_LEARNING_RATE_FACTOR * self.learning_rate,
            "lora_dropout": LORA_DROPOUT,
            "warmup": WARMUP,
            "loss": "BinaryCrossEntropyLoss",
        }


@dataclass(frozen=True)
class RerankerResult:
    """Where the re-ranker went, the trainer's log and the validation metrics of the fused order and after."""

    out: Path
    examples: int
    fused_metrics: dict[str, float]
    best_metrics: dict[str, float]
    log_history: list[dict]
    elapsed_seconds: float


@dataclass(frozen=True)
class Candidates:
    """A validation question's fused top N: the clause texts and the ids the metrics judge them by."""

    question: str
    texts: tuple[str, ...]
    judged: tuple[str, ...]  # ``label:i`` for a clause satisfying label i, else ``clause:<id>``
    relevant: frozenset[str]

    def metrics(self, order: Sequence[int]) -> dict[str, float]:
        """The metrics of the candidates in ``order`` (positions, best first)."""
        return query_metrics([self.judged[i] for i in order], self.relevant)


def validation_candidates(index: PolicyIndex, queries: Sequence[EvalQuery], depth: int) -> list[Candidates]:
    """Each question's top ``depth`` hybrid clauses as the index ranks them (a question over the query
    length limit has none: a miss, whatever the order)."""
    candidates = []
    for query in queries:
        try:
            hits = index.search(query.question, mode="hybrid", k=depth)
        except InvalidQueryError:
            hits = []
        candidates.append(
            Candidates(
                query.question,
                tuple(clause_text(index.catalogue, hit.clause.id) for hit in hits),
                tuple(judged_ids(hits, query.relevant)),
                frozenset(label_ids(query)),
            )
        )
    return candidates


def fused_metrics(candidates: Sequence[Candidates]) -> dict[str, float]:
    """The metrics of the fused order itself: what the re-ranker has to beat."""
    return mean_metrics(c.metrics(range(len(c.texts))) for c in candidates)


class RerankEvaluator(BaseEvaluator):
    """Re-ranks every validation question's candidates with the model being trained and judges the order
    by labels, like ``policyqa eval``."""

    def __init__(
        self,
        candidates: Sequence[Candidates],
        *,
        query_prompt: str,
        passage_prompt: str,
        batch_size: int = 32,
    ):
        super().__init__()
        self.candidates = list(candidates)
        self.query_prompt, self.passage_prompt = query_prompt, passage_prompt
        self.batch_size = batch_size
        self.primary_metric = PRIMARY_METRIC

    def __call__(
        self, model: CrossEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict:
        per_question = []
        for candidates in self.candidates:
            scores = pair_scores(
                model,
                candidates.question,
                candidates.texts,
                query_prompt=self.query_prompt,
                passage_prompt=self.passage_prompt,
                batch_size=self.batch_size,
            )
            per_question.append(candidates.metrics(np.argsort(-scores, kind="stable")))
        return self.prefix_name_to_metrics(mean_metrics(per_question), EVALUATOR_NAME)


class RerankerTrainer(CrossEncoderTrainer):
    """CrossEncoderTrainer that restores a checkpoint's LoRA and head weights itself (``--resume`` and the
    best checkpoint): the library's restore goes through transformers' peft integration, which asks for a
    newer peft than exists, and only logs its failure."""

    restored_checkpoint: str | None = None

    def _load_from_checkpoint(self, checkpoint_path: str, model=None) -> None:
        folder = Path(checkpoint_path)
        heads = sorted(folder.glob("*_Dense/model.safetensors"))
        result = set_peft_model_state_dict(self.model[0].model, load_file(str(folder / ADAPTER_FILES[1])))
        if result.unexpected_keys or len(heads) != 1:
            raise EvalError(f"checkpoint {checkpoint_path} does not fit the re-ranker being trained")
        self.model[-1].load_state_dict(load_file(str(heads[0])))
        self.restored_checkpoint = checkpoint_path


def train_reranker(config: RerankerConfig, settings: IndexSettings) -> RerankerResult:
    """Mine examples, train the cross-encoder, keep the best checkpoint and write ``config.out``."""
    started = time.perf_counter()
    check_out(config.out, config.resume)
    split = load_split(config.split_file)
    queries = load_queries(config.queries)
    train_queries, validation_queries = select(queries, split, "train"), select(queries, split, "validation")

    # torch: the cross-encoder starts from the embedding model's weights
    index = PolicyIndex.load(
        config.index_dir, settings.model_copy(update={"rerank": "off", "backend": "torch"})
    )
    labelled = LabelledIndex(index)
    mined = training_examples(labelled, train_queries, negatives=config.negatives, seed=config.seed)
    print(
        f"{len(mined.examples)} examples from {mined.questions} train questions ({mined.unresolved} with no "
        f"label in the index, {mined.too_few_negatives} with too few negatives), {elapsed(started)}",
        flush=True,
    )
    if not mined.examples:
        raise EvalError("no training example: no train question's labels match a clause of the index")
    candidates = validation_candidates(index, validation_queries, config.depth)
    fused = fused_metrics(candidates)
    print(f"fused order of the top {config.depth}: {metrics_line(fused)}", flush=True)

    embedder = index.embedder
    model = cross_encoder_model(_with_lora(copy.deepcopy(embedder.model), config))
    model.max_seq_length = config.max_tokens
    evaluator = RerankEvaluator(
        candidates,
        query_prompt=embedder.query_prompt,
        passage_prompt=embedder.passage_prompt,
        batch_size=settings.batch_size,
    )
    trainer = _trainer(
        config, model, mined.examples, evaluator, embedder.query_prompt, embedder.passage_prompt, started
    )
    try:
        trainer.train(resume_from_checkpoint=True if config.resume else None)
    except ValueError as error:
        if config.resume and "checkpoint" in str(error):
            raise EvalError(f"nothing to resume in {config.out / CHECKPOINTS}: {error}") from None
        raise
    best = trainer.state.best_model_checkpoint
    if best is not None and trainer.restored_checkpoint != best:
        raise EvalError(f"the best checkpoint {best} could not be restored")
    best_found = best_metrics(trainer.state.log_history, best)
    elapsed_seconds = time.perf_counter() - started
    _write_reranker(
        config,
        model,
        marker={
            "format": MARKER_FORMAT,
            "base_model": embedder.model_id,
            "query_prompt": embedder.query_prompt,
            "passage_prompt": embedder.passage_prompt,
            "max_tokens": config.max_tokens,
            "training": {
                **config.arguments(),
                "examples": len(mined.examples),
                "steps": trainer.state.global_step,
            },
            "split_file": config.split_file.name,
            "split_sha256": sha256(config.split_file),
            "seed": config.seed,
            "validation": {
                "depth": config.depth,
                "fused": fused,
                "best": best_found,
                "best_checkpoint": checkpoint_name(best),
            },
            "elapsed_seconds": round(elapsed_seconds, 1),
        },
    )
    print(f"re-ranker written to {config.out}, {elapsed(started)}: best {metrics_line(best_found)}")
    if best_found.get(PRIMARY_METRIC, 0.0) <= fused.get(PRIMARY_METRIC, 0.0):
        print(f"note: the re-ranker does not beat the fused order on validation {PRIMARY_METRIC}")
    return RerankerResult(
        out=config.out,
        examples=len(mined.examples),
        fused_metrics=fused,
        best_metrics=best_found,
        log_history=list(trainer.state.log_history),
        elapsed_seconds=elapsed_seconds,
    )


def _with_lora(model: SentenceTransformer, config: RerankerConfig) -> SentenceTransformer:
    """``model`` with its transformer wrapped in a fresh, seeded LoRA adapter (every base weight, embeddings
    too, frozen), and the seed set again for the head that follows."""
    set_seed(config.seed)
    lora = LoraConfig(
        task_type=TaskType.FEATURE_EXTRACTION,
        r=config.lora_rank,
        lora_alpha=2 * config.lora_rank,
        lora_dropout=LORA_DROPOUT,
        target_modules=list(LORA_TARGETS),
    )
    model[0].model = get_peft_model(model[0].model, lora)
    set_seed(config.seed)
    return model


def _trainer(
    config: RerankerConfig,
    model: CrossEncoder,
    examples: Sequence[TrainingExample],
    evaluator: RerankEvaluator,
    query_prompt: str,
    passage_prompt: str,
    started: float,
) -> RerankerTrainer:
    from datasets import Dataset
    from torch import tensor

    rows: dict[str, list] = {"query": [], "passage": [], "label": []}
    for example in examples:
        for text, label in ((example.positive, 1.0), *((negative, 0.0) for negative in example.negatives)):
            rows["query"].append(query_prompt + example.question)
            rows["passage"].append(passage_prompt + text)
            rows["label"].append(label)
    steps_per_epoch = math.ceil(len(rows["label"]) / config.batch_size)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    interval = min(steps_per_epoch, total_steps)  # evaluate and save once per epoch, and at least once
    args = CrossEncoderTrainingArguments(
        output_dir=str(config.out / CHECKPOINTS),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        learning_rate_mapping={HEAD_PARAMETERS: HEAD_LEARNING_RATE_FACTOR * config.learning_rate},
        warmup_steps=WARMUP,
        seed=config.seed,
        data_seed=config.seed,
        eval_strategy="steps",
        eval_steps=interval,
        save_strategy="steps",
        save_steps=interval,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=f"{EVALUATOR_NAME}_{PRIMARY_METRIC}",
        greater_is_better=True,
        logging_steps=max(1, min(10, total_steps // 10)),
        report_to="none",
        disable_tqdm=not config.progress,
    )
    return RerankerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(rows),
        loss=BinaryCrossEntropyLoss(model, pos_weight=tensor(float(config.negatives))),
        evaluator=evaluator,
        callbacks=[Report(started)],
    )


def _write_reranker(config: RerankerConfig, model: CrossEncoder, *, marker: dict) -> None:
    """The peft files of the (best) adapter and the head, then ``policyqa-reranker.json`` with the merged
    model's fingerprint (written last: its presence means the folder is complete)."""
    peft_model = model[0].model
    with tempfile.TemporaryDirectory(dir=config.out, prefix=".reranker.") as temporary:
        peft_model.save_pretrained(temporary)
        for name in ADAPTER_FILES:
            shutil.copyfile(Path(temporary) / name, config.out / name)
    save_file({k: v.contiguous() for k, v in model[-1].linear.state_dict().items()}, config.out / HEAD_FILE)
    model[0].model = peft_model.merge_and_unload()  # what loading does: the fingerprint is of that model
    scores = fingerprint(model, marker["query_prompt"], marker["passage_prompt"])
    marker = {**marker, "fingerprint": scores, "fingerprint_decimals": FINGERPRINT_DECIMALS}
    write_text_atomic(config.out / RERANKER_MARKER, json.dumps(marker, ensure_ascii=False, indent=1) + "\n")
