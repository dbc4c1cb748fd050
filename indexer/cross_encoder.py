"""The cross-encoder re-ranker (``POLICYQA_RERANK=on``): re-scores the top ``POLICYQA_RERANK_TOP_N`` fused
clauses with a model that reads the question and the clause together.

The model is the configured embedding model's own transformer and mean pooling (``POLICYQA_MODEL`` with
``POLICYQA_ADAPTER`` merged: the tuned weights) under a one-logit linear head, as sentence-transformers'
``CrossEncoder``. ``policyqa train reranker`` trains it as a LoRA adapter of that model plus the head; a
re-ranker folder holds the peft files, ``head.safetensors`` and ``policyqa-reranker.json`` (the id of the
model it was trained on, prompts, token budget, training record and a fingerprint: the logits of fixed
question/clause pairs). Loading merges the adapter into a fresh copy of the configured model, offline, after
checking that model's id, and then checks the fingerprint, so a re-ranker of another model or adapter, a
changed file or a mismatched head is a one-line ModelLoadError. ``POLICYQA_RERANK_MODEL=default`` is the
re-ranker shipped in ``resources/reranker``.

Re-ranking reorders the top N only; the re-ranked clauses take the fused scores of the top N in their new
order, so scores keep their scale and stay descending, and the clauses below N keep their place.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from policyqa.indexer.e5_model import VERIFICATION_TEXTS
from policyqa.indexer.errors import ModelLoadError
from policyqa.indexer.model_loading import (
    ADAPTER_FILES,
    files_digest,
    load_model,
    merge_adapter,
    read_folder_marker,
)
from policyqa.indexer.passages import passage_prefix
from policyqa.indexer.records import Ranking, SearchRequest

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.cross_encoder import CrossEncoder

    from policyqa.indexer.catalogue import Catalogue
    from policyqa.indexer.settings import IndexSettings
    from policyqa.indexer.vector_store import VectorStore

logger = logging.getLogger(__name__)

SHIPPED_RERANKER = Path(__file__).parent / "resources" / "reranker"
DEFAULT_RERANKER = "default"  # POLICYQA_RERANK_MODEL's value for the shipped re-ranker
RERANKER_MARKER = "policyqa-reranker.json"
HEAD_FILE = "head.safetensors"
RERANKER_FILES = (*ADAPTER_FILES, HEAD_FILE)
FINGERPRINT_DECIMALS = 5
FINGERPRINT_TOLERANCE = 1e-3  # largest difference of a verification pair's logit from the recorded one
# Two questions × two clauses of the embedder's verification texts: what a re-ranker's fingerprint scores.
VERIFICATION_PAIRS = tuple(
    (question, passage)
    for question in (VERIFICATION_TEXTS[1], VERIFICATION_TEXTS[0])
    for passage in (VERIFICATION_TEXTS[2], VERIFICATION_TEXTS[3])
)


def cross_encoder_model(model: SentenceTransformer) -> CrossEncoder:
    """A cross-encoder that reads a pair with ``model``'s modules (its transformer and pooling; a final
    normalisation is dropped) and scores it with a fresh linear head: one logit, no activation."""
    from sentence_transformers.base.modules import Dense, Normalize
    from sentence_transformers.cross_encoder import CrossEncoder
    from torch import nn

    modules = [module for module in model if not isinstance(module, Normalize)]
    head = Dense(
        model.get_embedding_dimension(), 1, activation_function=nn.Identity(), module_output_name="scores"
    )
    return CrossEncoder(modules=[*modules, head], activation_fn=nn.Identity())


def clause_text(catalogue: Catalogue, clause_id: str) -> str:
    """What the cross-encoder reads of a clause: the cited title, a newline and the clause text (the
    embedder's passage text, uncut: the model's token budget cuts it)."""
    clause = catalogue.clause(clause_id)
    return passage_prefix(catalogue.document(clause.document_id)) + clause.text


def pair_scores(
    model: CrossEncoder,
    question: str,
    passages: Sequence[str],
    *,
    query_prompt: str,
    passage_prompt: str,
    batch_size: int = 32,
) -> np.ndarray:
    """The model's logit for ``question`` paired with each passage (prompts prepended)."""
    if not passages:
        return np.empty(0, dtype=np.float32)
    pairs = [(query_prompt + question, passage_prompt + passage) for passage in passages]
    scores = model.predict(pairs, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
    return np.asarray(scores, dtype=np.float32).reshape(len(pairs))


def fingerprint(model: CrossEncoder, query_prompt: str, passage_prompt: str) -> list[float]:
    """The logits of VERIFICATION_PAIRS, rounded: recorded by training, checked by loading."""
    scores = [
        pair_scores(model, question, [passage], query_prompt=query_prompt, passage_prompt=passage_prompt)[0]
        for question, passage in VERIFICATION_PAIRS
    ]
    return [round(float(score), FINGERPRINT_DECIMALS) for score in scores]


@dataclass(frozen=True)
class LoadedCrossEncoder:
    """A ready cross-encoder, its identity and the prompts it was trained with."""

    model: CrossEncoder
    model_id: str
    query_prompt: str
    passage_prompt: str

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One logit per passage, higher is more relevant to ``question``."""
        return pair_scores(
            self.model,
            question,
            passages,
            query_prompt=self.query_prompt,
            passage_prompt=self.passage_prompt,
            batch_size=max(1, len(passages)),
        )


def reranker_folder(settings: IndexSettings) -> Path:
    """The re-ranker folder ``settings.rerank_model`` names."""
    if settings.rerank_model == DEFAULT_RERANKER:
        return SHIPPED_RERANKER
    return Path(settings.rerank_model).expanduser()


def load_cross_encoder(settings: IndexSettings) -> LoadedCrossEncoder:
    """The re-ranker ``settings`` name, on a fresh copy of the configured model (never downloaded);
    ModelLoadError with a one-line reason when it cannot be used."""
    started = time.perf_counter()
    folder = reranker_folder(settings)
    marker = read_reranker_marker(folder)
    base = load_model(settings)
    if marker.get("base_model") != base.model_id:
        raise ModelLoadError(
            f"re-ranker {folder} was trained on model {marker.get('base_model')}; the configured model "
            f"(POLICYQA_MODEL and POLICYQA_ADAPTER) is {base.model_id} (set POLICYQA_RERANK_MODEL to a "
            "re-ranker of this model, or POLICYQA_RERANK=off)"
        )
    merge_adapter(base.model, folder)
    model = cross_encoder_model(base.model)
    try:
        from safetensors.torch import load_file

        model[-1].linear.load_state_dict(load_file(str(folder / HEAD_FILE)))
        query_prompt, passage_prompt = str(marker["query_prompt"]), str(marker["passage_prompt"])
        model.max_seq_length = int(marker["max_tokens"])
        expected = np.asarray(marker["fingerprint"], dtype=np.float64)
    except Exception as error:  # a damaged head file or marker is the same user-facing problem
        raise ModelLoadError(f"re-ranker {folder} is unusable: {type(error).__name__}: {error}") from None
    found = np.asarray(fingerprint(model, query_prompt, passage_prompt))
    if found.shape != expected.shape or float(np.max(np.abs(found - expected))) > FINGERPRINT_TOLERANCE:
        raise ModelLoadError(
            f"re-ranker {folder} does not reproduce its fingerprint: its files were changed or do not belong "
            "together"
        )
    model_id = f"{base.model_id}+rerank@{reranker_digest(folder)[:12]}"
    logger.info(
        "re-ranker loaded", extra={"model": model_id, "seconds": round(time.perf_counter() - started, 2)}
    )
    return LoadedCrossEncoder(model, model_id, query_prompt, passage_prompt)


def read_reranker_marker(folder: Path) -> dict:
    """``policyqa-reranker.json`` of a re-ranker folder; ModelLoadError when the folder is incomplete."""
    if folder == SHIPPED_RERANKER and not folder.is_dir():
        raise ModelLoadError(
            "no re-ranker is shipped with this installation: train one (policyqa train reranker) and set "
            "POLICYQA_RERANK_MODEL to its folder, or set POLICYQA_RERANK=off"
        )
    return read_folder_marker(
        folder,
        kind="re-ranker",
        setting="POLICYQA_RERANK_MODEL",
        files=RERANKER_FILES,
        marker=RERANKER_MARKER,
    )


def reranker_digest(folder: Path) -> str:
    """sha256 over the re-ranker's weight files (names and contents)."""
    return files_digest(folder, RERANKER_FILES)


class CrossEncoderReranker:
    """Orders the top ``rerank_top_n`` fused clauses by the cross-encoder's score of question and clause."""

    depth = 0

    def __init__(self, settings: IndexSettings, catalogue: Catalogue, model_id: str, vectors: VectorStore):
        """Loads the configured re-ranker (ModelLoadError when it cannot be used; it checks the model it
        was trained on itself); scores the fused candidates only (``vectors`` unused)."""
        self.catalogue = catalogue
        self.top_n = settings.rerank_top_n
        self.encoder = load_cross_encoder(settings)

    def with_top_n(self, top_n: int) -> CrossEncoderReranker:
        """This re-ranker, its model shared, re-scoring the top ``top_n`` instead (what bench compares)."""
        other = copy.copy(self)
        other.top_n = top_n
        return other

    def widen(self, request: SearchRequest, rankings: Mapping[str, Ranking]) -> Mapping[str, Ranking]:
        return rankings

    def rerank(self, request: SearchRequest, ranking: Ranking, rankings: Mapping[str, Ranking]) -> Ranking:
        head = ranking[: self.top_n]
        if len(head) < 2:
            return ranking
        scores = self.encoder.scores(
            request.query.text, [clause_text(self.catalogue, clause_id) for clause_id, _score in head]
        )
        order = np.argsort(-scores, kind="stable")
        reordered = [(head[i][0], fused) for i, (_clause, fused) in zip(order, head, strict=True)]
        return reordered + ranking[self.top_n :]
