"""What ``policyqa train embedder`` and ``policyqa train reranker`` share: the output folder rule, the
validation metrics as the trainer logs them, the progress lines and the split file's digest."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from transformers import TrainerCallback

from policyqa.eval.errors import EvalError

PRIMARY_METRIC = "mrr@10"  # the best checkpoint is the one with the best validation MRR@10
EVALUATOR_NAME = "validation"
CHECKPOINTS = "checkpoints"  # in the output folder: what --resume continues from


def check_out(out: Path, resume: bool) -> None:
    """A new run needs a fresh output folder; ``--resume`` needs the checkpoints of an earlier one."""
    checkpoints = out / CHECKPOINTS
    if resume:
        if not checkpoints.is_dir():
            raise EvalError(f"nothing to resume: {checkpoints} does not exist")
    elif out.exists() and any(out.iterdir()):
        raise EvalError(f"{out} is not empty; pass --resume to continue its run or choose another --out")


def validation_metrics(metrics: dict) -> dict[str, float]:
    """``{"recall@10": …}`` from an evaluator's or the trainer's prefixed keys."""
    found = {}
    for key, value in metrics.items():
        for prefix in (f"eval_{EVALUATOR_NAME}_", f"{EVALUATOR_NAME}_"):
            if key.startswith(prefix):
                found[key.removeprefix(prefix)] = round(float(value), 4)
                break
    return found


def best_metrics(log_history: list[dict], best_checkpoint: str | None) -> dict[str, float]:
    """The validation metrics logged at the best checkpoint's step (the last evaluation without one)."""
    evaluations = [entry for entry in log_history if f"eval_{EVALUATOR_NAME}_{PRIMARY_METRIC}" in entry]
    if not evaluations:
        return {}
    step = int(best_checkpoint.rsplit("-", 1)[-1]) if best_checkpoint else evaluations[-1]["step"]
    chosen = next((entry for entry in evaluations if entry["step"] == step), evaluations[-1])
    return validation_metrics(chosen)


def metrics_line(metrics: dict[str, float]) -> str:
    """Recall@1/10, MRR@10 and nDCG@10 on one line."""
    shown = ("recall@1", "recall@10", "mrr@10", "ndcg@10")
    return ", ".join(f"{name} {metrics[name]:.3f}" for name in shown if name in metrics) or "no metrics"


def elapsed(started: float) -> str:
    """Time since ``started`` (a ``perf_counter`` reading) as ``12m05s``."""
    seconds = int(time.perf_counter() - started)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def checkpoint_name(path: str | None) -> str | None:
    """A checkpoint folder's name (``checkpoint-40``), or None."""
    return Path(path).name if path else None


def sha256(path: Path) -> str:
    """Hex sha256 of a file's contents."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class Report(TrainerCallback):
    """Prints the elapsed time and the validation metrics after every evaluation."""

    def __init__(self, started: float):
        self.started = started

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        print(
            f"step {state.global_step}/{state.max_steps}, {elapsed(self.started)}: "
            + metrics_line(validation_metrics(metrics or {})),
            flush=True,
        )
