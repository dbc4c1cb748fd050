"""``policyqa train embedder``: a LoRA adapter for the embedding model, learnt from labelled questions.

The train part of the split gives examples (question, passage of a labelled clause, hard negatives mined from
the index with the model that built it, the bare base or the configured adapter:
:mod:`policyqa.eval.negatives`); sentence-transformers' own trainer fits a LoRA adapter (peft), fresh or
continued from ``from_adapter`` (a second round: negatives mined by the tuned model are harder), on the
attention and feed-forward layers of the configured base model with the cached (GradCache)
MultipleNegativesRankingLoss, the embedding matrix frozen, using the model's own query/passage prompts. After
every epoch (or ``max_steps``) the validation part is measured over a fixed candidate pool, each validation
question's top N hybrid clauses plus its labelled ones, judged exactly like ``policyqa eval`` (labels, not
clause ids); the best checkpoint by MRR@10 is kept. The output folder holds the peft adapter files and
``policyqa-adapter.json`` (base model id, arguments, split file digest, metrics, fingerprint) that
``POLICYQA_ADAPTER`` loads (:mod:`policyqa.indexer.model_loading`).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from peft import LoraConfig, TaskType, get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss
from transformers import set_seed

from policyqa.eval.errors import EvalError
from policyqa.eval.files import write_text_atomic
from policyqa.eval.metrics import mean_metrics, query_metrics
from policyqa.eval.negatives import LabelledIndex, TrainingExample, training_examples
from policyqa.eval.queries import EvalQuery, load_queries
from policyqa.eval.runner import SEARCH_DEPTH
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
    validation_metrics,
)
from policyqa.indexer import PolicyIndex
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import IndexMismatchError, InvalidQueryError
from policyqa.indexer.model_loading import (
    ADAPTER_FILES,
    ADAPTER_MARKER,
    FINGERPRINT_DECIMALS,
    adapted_model_id,
    adapter_fingerprint,
    adapter_folder,
    read_adapter_marker,
)
from policyqa.indexer.settings import NO_ADAPTER, IndexSettings

logger = logging.getLogger(__name__)

LORA_TARGETS = ("query", "key", "value", "dense")  # "dense": attention output and both feed-forward layers
LORA_DROPOUT = 0.1
WARMUP = 0.1  # share of the steps with a rising learning rate
# texts per forward pass inside a step (GradCache): the loss still sees the whole batch, but memory is that
# of 8 texts (plain MultipleNegativesRankingLoss held 14 GB for 16 questions × 5 texts of 256 tokens)
MINI_BATCH = 8
BASE_METRICS = "base-metrics.json"  # in CHECKPOINTS: the base model's validation metrics, kept for --resume
MARKER_FORMAT = 1


@dataclass(frozen=True)
class TrainConfig:
    """What ``policyqa train embedder`` was asked to do (its options and their defaults: eval/cli.py)."""

    queries: Path
    index_dir: Path
    out: Path
    split_file: Path
    epochs: int
    batch_size: int
    learning_rate: float
    negatives: int
    max_steps: int | None
    seed: int
    lora_rank: int
    max_passage_tokens: int
    pool_depth: int = SEARCH_DEPTH
    from_adapter: Path | None = None
    resume: bool = False
    progress: bool = field(default=True, compare=False)

    def arguments(self) -> dict[str, object]:
        """The JSON-ready training arguments recorded with the adapter."""
        data = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}
        data.pop("progress")
        if self.from_adapter is not None:  # the continued adapter's own LoRA shape is what trains
            data.pop("lora_rank")
            return {**data, "lora_dropout": LORA_DROPOUT}
        return {
            **data,
            "lora_alpha": 2 * self.lora_rank,
            "lora_dropout": LORA_DROPOUT,
            "lora_targets": list(LORA_TARGETS),
            "warmup": WARMUP,
        }


@dataclass(frozen=True)
class TrainResult:
    """Where the adapter went, the trainer's log and the validation metrics before and after."""

    out: Path
    examples: int
    base_metrics: dict[str, float]
    best_metrics: dict[str, float]
    log_history: list[dict]
    elapsed_seconds: float


@dataclass(frozen=True)
class PoolQuestion:
    """A validation question and, for each clause of the pool satisfying one of its labels, that label."""

    question: str
    labels: int
    judged: dict[str, int]  # clause id → index of the label it satisfies


class PoolEvaluator(BaseEvaluator):
    """Dense ranking of a fixed candidate pool for each validation question, judged by labels like ``policyqa
    eval``: several versions of one law answering a label count once, and a label found in no pool clause is a
    miss. A clause scores its best window. Passages are embedded at the index's full token budget."""

    def __init__(
        self,
        questions: Sequence[PoolQuestion],
        passages: Sequence[tuple[str, str]],
        *,
        query_prompt: str,
        passage_prompt: str,
        max_tokens: int,
        batch_size: int = 32,
        progress: bool = True,
    ):
        super().__init__()
        self.questions = list(questions)
        self.clause_ids = [clause_id for clause_id, _text in passages]
        self.texts = [text for _clause_id, text in passages]
        starts = [
            i for i, clause_id in enumerate(self.clause_ids) if i == 0 or clause_id != self.clause_ids[i - 1]
        ]
        self.starts = np.array(starts, dtype=np.int64)  # first passage of each clause (grouped by clause)
        self.pool_clauses = [self.clause_ids[i] for i in starts]
        self.query_prompt, self.passage_prompt = query_prompt, passage_prompt
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.progress = progress
        self.primary_metric = PRIMARY_METRIC

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        training_length = model.max_seq_length
        model.max_seq_length = self.max_tokens
        try:
            queries = self._encode(
                model, [question.question for question in self.questions], self.query_prompt
            )
            passages = self._encode(model, self.texts, self.passage_prompt)
        finally:
            model.max_seq_length = training_length
        clause_scores = np.maximum.reduceat(queries @ passages.T, self.starts, axis=1)
        per_question = []
        for question, scores in zip(self.questions, clause_scores, strict=True):
            order = np.argsort(-scores, kind="stable")[:SEARCH_DEPTH]
            ranked = [
                ("label", question.judged[clause_id])
                if clause_id in question.judged
                else ("clause", clause_id)
                for clause_id in (self.pool_clauses[i] for i in order)
            ]
            per_question.append(query_metrics(ranked, {("label", i) for i in range(question.labels)}))
        metrics = mean_metrics(per_question)
        return self.prefix_name_to_metrics(metrics, EVALUATOR_NAME)

    def _encode(self, model, texts: list[str], prompt: str) -> np.ndarray:
        vectors = model.encode(
            texts,
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.progress and len(texts) > self.batch_size,
        )
        return np.asarray(vectors, dtype=np.float32)


def validation_pool(
    labelled: LabelledIndex, queries: Sequence[EvalQuery], depth: int = SEARCH_DEPTH
) -> tuple[list[PoolQuestion], list[tuple[str, str]]]:
    """Each question's top ``depth`` hybrid clauses plus every clause satisfying one of its labels: the
    questions with their judged clauses, and the pool's ``(clause id, passage text)`` grouped by clause."""
    pool: dict[str, None] = {}
    questions = []
    for query in queries:
        judged: dict[str, int] = {}
        for label_index in reversed(range(len(query.relevant))):  # the first label a clause satisfies wins
            for clause, _document in labelled.satisfying(query.relevant[label_index]):
                judged[clause.id] = label_index
        try:
            hits = labelled.index.search(query.question, mode="hybrid", k=depth)
        except InvalidQueryError:  # over the query length limit: its labelled clauses still form its pool
            hits = []
        pool.update(dict.fromkeys(hit.clause.id for hit in hits))
        pool.update(dict.fromkeys(judged))
        questions.append(PoolQuestion(query.question, len(query.relevant), judged))
    passages = [
        (clause_id, text)
        for clause_id in pool
        for text in labelled.passages(labelled.index.clause(clause_id))
    ]
    return questions, passages


class AdapterTrainer(SentenceTransformerTrainer):
    """SentenceTransformerTrainer that restores a checkpoint's LoRA weights itself (for ``--resume`` and the
    best checkpoint): the library's own restore goes through transformers' peft integration, which asks for
    a newer peft than exists, and only logs its failure."""

    restored_checkpoint: str | None = None

    def _load_from_checkpoint(self, checkpoint_path: str, model=None) -> None:
        weights = load_file(str(Path(checkpoint_path) / ADAPTER_FILES[1]))
        result = set_peft_model_state_dict(self.model[0].model, weights)
        if result.unexpected_keys:
            raise EvalError(f"checkpoint {checkpoint_path} does not fit the adapter being trained")
        self.restored_checkpoint = checkpoint_path


def train_embedder(config: TrainConfig, settings: IndexSettings) -> TrainResult:
    """Mine examples, train the adapter, keep the best checkpoint and write ``config.out``."""
    started = time.perf_counter()
    checkpoints = config.out / CHECKPOINTS
    check_out(config.out, config.resume)
    start_adapter = _start_adapter(config, settings)  # a bad --from-adapter stops before minutes of mining
    split = load_split(config.split_file)
    queries = load_queries(config.queries)
    train_queries, validation_queries = select(queries, split, "train"), select(queries, split, "validation")

    base_settings = settings.model_copy(update={"adapter": NO_ADAPTER, "backend": "torch"})  # trains weights
    index, mined_by_base = _mining_index(config.index_dir, settings, base_settings)
    labelled = LabelledIndex(index)
    mined = training_examples(labelled, train_queries, negatives=config.negatives, seed=config.seed)
    print(
        f"{len(mined.examples)} examples from {mined.questions} train questions ({mined.unresolved} with no "
        f"label in the index, {mined.too_few_negatives} with too few negatives), {elapsed(started)}",
        flush=True,
    )
    if not mined.examples:
        raise EvalError("no training example: no train question's labels match a clause of the index")
    pool_questions, pool_passages = validation_pool(labelled, validation_queries, config.pool_depth)
    print(
        f"validation: {len(pool_questions)} questions over a pool of {len(pool_passages)} passages",
        flush=True,
    )
    if mined_by_base:
        embedder = index.embedder
    else:  # the weights that train are the bare base's, with the adapter as LoRA weights on top
        embedder = Embedder.from_settings(base_settings, progress=config.progress)
    evaluator = PoolEvaluator(
        pool_questions,
        pool_passages,
        query_prompt=embedder.query_prompt,
        passage_prompt=embedder.passage_prompt,
        max_tokens=labelled.max_tokens,
        batch_size=settings.batch_size,
        progress=config.progress,
    )
    model = embedder.model
    _add_lora(model, config, embedder.model_id, start_adapter)
    base_metrics = _base_metrics(evaluator, model, checkpoints, config.resume)
    start = "base model" if config.from_adapter is None else f"adapter {config.from_adapter}"
    print(f"{start}, {elapsed(started)}: {metrics_line(base_metrics)}", flush=True)

    trainer = _trainer(
        config, model, mined.examples, evaluator, embedder.query_prompt, embedder.passage_prompt, started
    )
    try:
        trainer.train(resume_from_checkpoint=True if config.resume else None)
    except ValueError as error:
        if config.resume and "checkpoint" in str(error):
            raise EvalError(f"nothing to resume in {checkpoints}: {error}") from None
        raise
    best = trainer.state.best_model_checkpoint
    if best is not None and trainer.restored_checkpoint != best:
        raise EvalError(f"the best checkpoint {best} could not be restored")
    best_scores = best_metrics(trainer.state.log_history, best)
    seconds = time.perf_counter() - started
    _write_adapter(
        config,
        model,
        base_id=embedder.model_id,
        metrics={"base": base_metrics, "best": best_scores, "best_checkpoint": checkpoint_name(best)},
        elapsed=seconds,
        examples=len(mined.examples),
        steps=trainer.state.global_step,
        max_tokens=labelled.max_tokens,
    )
    print(f"adapter written to {config.out}, {elapsed(started)}: best {metrics_line(best_scores)}")
    if best_scores.get(PRIMARY_METRIC, 0.0) <= base_metrics.get(PRIMARY_METRIC, 0.0):
        print(f"note: the adapter does not beat the base model on validation {PRIMARY_METRIC}")
    return TrainResult(
        out=config.out,
        examples=len(mined.examples),
        base_metrics=base_metrics,
        best_metrics=best_scores,
        log_history=list(trainer.state.log_history),
        elapsed_seconds=seconds,
    )


def _mining_index(
    index_dir: Path, settings: IndexSettings, base_settings: IndexSettings
) -> tuple[PolicyIndex, bool]:
    """The index read with the model that built it, and whether that is the bare base model; else it is the
    configured adapter (whose rankings give a second round harder negatives)."""
    try:
        return PolicyIndex.load(index_dir, base_settings), True
    except IndexMismatchError:
        if adapter_folder(settings) is None:
            raise
    index = PolicyIndex.load(index_dir, settings)
    logger.info("negatives mined with the index's model %s", index.embedder.model_id)
    return index, False


def _start_adapter(config: TrainConfig, settings: IndexSettings) -> Path | None:
    """The folder of ``config.from_adapter`` (a folder, or a name ``POLICYQA_ADAPTER`` takes), checked to be
    a complete adapter; None for a fresh LoRA. ModelLoadError otherwise."""
    if config.from_adapter is None:
        return None
    folder = adapter_folder(settings.model_copy(update={"adapter": str(config.from_adapter)}))
    read_adapter_marker(folder)
    return folder


def _add_lora(model, config: TrainConfig, base_model_id: str, start_adapter: Path | None) -> None:
    """Wrap the transformer in a LoRA adapter, fresh and seeded or continued from ``start_adapter`` (checked
    to be an adapter of this base); every base weight (embeddings too) freezes."""
    set_seed(config.seed)
    if start_adapter is not None:
        from peft import PeftModel

        adapted_model_id(base_model_id, start_adapter)  # ModelLoadError unless an adapter of this base
        model[0].model = PeftModel.from_pretrained(model[0].model, str(start_adapter), is_trainable=True)
        return
    lora = LoraConfig(
        task_type=TaskType.FEATURE_EXTRACTION,
        r=config.lora_rank,
        lora_alpha=2 * config.lora_rank,
        lora_dropout=LORA_DROPOUT,
        target_modules=list(LORA_TARGETS),
    )
    model[0].model = get_peft_model(model[0].model, lora)


def _base_metrics(evaluator: PoolEvaluator, model, checkpoints: Path, resume: bool) -> dict[str, float]:
    """Validation metrics before training (a fresh LoRA adapter changes nothing), kept for ``--resume``."""
    path = checkpoints / BASE_METRICS
    if resume and path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    metrics = validation_metrics(evaluator(model))
    write_text_atomic(path, json.dumps(metrics, indent=2) + "\n")
    return metrics


def _trainer(
    config: TrainConfig,
    model,
    examples: Sequence[TrainingExample],
    evaluator: PoolEvaluator,
    query_prompt: str,
    passage_prompt: str,
    started: float,
) -> AdapterTrainer:
    from datasets import Dataset

    columns = {
        "anchor": [example.question for example in examples],
        "positive": [example.positive for example in examples],
    }
    for i in range(config.negatives):
        columns[f"negative_{i + 1}"] = [example.negatives[i] for example in examples]
    prompts = {name: query_prompt if name == "anchor" else passage_prompt for name in columns}
    steps_per_epoch = math.ceil(len(examples) / config.batch_size)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    interval = min(steps_per_epoch, total_steps)  # evaluate and save once per epoch, and at least once
    model.max_seq_length = config.max_passage_tokens
    args = SentenceTransformerTrainingArguments(
        output_dir=str(config.out / CHECKPOINTS),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=WARMUP,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # no question, positive or negative twice in a batch
        prompts={name: prompt for name, prompt in prompts.items() if prompt} or None,
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
    return AdapterTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(columns),
        loss=CachedMultipleNegativesRankingLoss(model, mini_batch_size=MINI_BATCH),
        evaluator=evaluator,
        callbacks=[Report(started)],
    )


def _write_adapter(
    config: TrainConfig,
    model,
    *,
    base_id: str,
    metrics: dict[str, object],
    elapsed: float,
    examples: int,
    steps: int,
    max_tokens: int,
) -> None:
    """The peft files of the (best) adapter, then ``policyqa-adapter.json`` with the merged model's
    fingerprint (written last: its presence means the folder is complete)."""
    peft_model = model[0].model
    with tempfile.TemporaryDirectory(dir=config.out, prefix=".adapter.") as temporary:
        peft_model.save_pretrained(temporary)
        for name in ADAPTER_FILES:
            shutil.copyfile(Path(temporary) / name, config.out / name)
    model[0].model = peft_model.merge_and_unload()  # what loading does: the fingerprint is of that model
    model.max_seq_length = max_tokens
    marker = {
        "format": MARKER_FORMAT,
        "base_model": base_id,
        "training": {**config.arguments(), "examples": examples, "steps": steps},
        "split_file": config.split_file.name,
        "split_sha256": sha256(config.split_file),
        "seed": config.seed,
        "validation": metrics,
        "elapsed_seconds": round(elapsed, 1),
        "fingerprint": {
            "decimals": FINGERPRINT_DECIMALS,
            "vectors": adapter_fingerprint(model).tolist(),
        },
    }
    write_text_atomic(config.out / ADAPTER_MARKER, json.dumps(marker, ensure_ascii=False, indent=1) + "\n")
