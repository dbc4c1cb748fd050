"""Embed queries and passages with the configured model, caching passage vectors on disk."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from policyqa.indexer.embedding_cache import EmbeddingCache, cache_key
from policyqa.indexer.encoders import Encoder, TorchEncoder, load_encoder
from policyqa.indexer.lru import LRUCache
from policyqa.indexer.model_loading import known_model_id, load_model, prompts_in_force
from policyqa.indexer.onnx_serving import load_serving_encoder
from policyqa.indexer.settings import IndexSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


logger = logging.getLogger(__name__)


class Embedder:
    """An inference backend's encoder with query/passage prompts and a persistent embedding cache; ``model``
    is the sentence-transformers model behind it (None when an ONNX export runs without it)."""

    def __init__(
        self,
        model: SentenceTransformer | None,
        *,
        model_id: str,
        encoder: Encoder | None = None,
        query_prompt: str,
        passage_prompt: str,
        cache: EmbeddingCache,
        batch_size: int = 32,
        batch_tokens: int = 2048,
        query_cache_size: int = 0,
        progress: bool = True,
    ) -> None:
        if encoder is None:
            if model is None:
                raise ValueError("an embedder needs a model or an encoder")
            encoder = TorchEncoder(model)
        self.model = model
        self.encoder = encoder
        self.model_id = model_id + self.encoder.id_suffix  # the identity of the vectors
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.cache = cache
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.query_cache: LRUCache[tuple[str, str], np.ndarray] = LRUCache(query_cache_size)
        self.progress = progress
        self.dimension: int = encoder.dimension
        self.max_tokens: int = encoder.max_tokens

    @classmethod
    def from_settings(cls, settings: IndexSettings, *, progress: bool = True) -> Embedder:
        """Load ``settings.model`` offline (materialising the default once) on ``settings.backend``; an ONNX
        backend runs its export without torch once one exists, else the model is loaded and exported
        first. ModelLoadError if impossible."""
        options = {
            "cache": EmbeddingCache(settings.embedding_cache_path),
            "batch_size": settings.batch_size,
            "batch_tokens": settings.batch_tokens,
            "query_cache_size": settings.query_cache_size,
            "progress": progress,
        }
        if settings.backend != "torch" and (model_id := known_model_id(settings)) is not None:
            serving = load_serving_encoder(settings.model_cache_dir, model_id, settings.backend)
            if serving is not None:
                query_prompt, passage_prompt = prompts_in_force(settings, serving.spec.prompts)
                logger.info("model loaded from its ONNX export", extra={"model": model_id})
                return cls(
                    None,
                    model_id=model_id,
                    encoder=serving,
                    query_prompt=query_prompt,
                    passage_prompt=passage_prompt,
                    **options,
                )
        loaded = load_model(settings)
        return cls(
            loaded.model,
            model_id=loaded.model_id,
            encoder=load_encoder(loaded.model, loaded.model_id, settings),
            query_prompt=loaded.query_prompt,
            passage_prompt=loaded.passage_prompt,
            **options,
        )

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text, without prompt and special tokens."""
        return self.encoder.count_tokens(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32, L2-normalised embedding of ``text`` after the query prompt; the last
        ``query_cache_size`` distinct queries are kept in memory (repeated portal queries)."""
        key = (self.model_id, text)
        if cached := self.query_cache.get_many([key]):
            return cached[key]
        vector = self._encode([text], self.query_prompt)[0]
        vector.flags.writeable = False  # shared by every request that asks the same
        self.query_cache.put_many({key: vector})
        return vector

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """``(n, dimension)`` float32, L2-normalised embeddings of ``texts`` after the query prompt, in one
        batch (uncached)."""
        if not texts:
            return np.empty((0, self.dimension), np.float32)
        return self._encode(texts, self.query_prompt)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """``(n, dimension)`` float32, L2-normalised embeddings of ``texts`` after the passage prompt.

        Cached vectors are reused; the misses (each distinct text once) are embedded in batches of similar
        token counts (at most ``batch_size`` passages and ``batch_tokens`` padded tokens), each written to the
        cache as soon as it is done, so an interrupted run resumes where it stopped. Each vector is written
        straight into the returned array, which is all the memory the vectors take.
        """
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        rows: dict[bytes, list[int]] = {}  # each distinct text's key → its rows
        for row, text in enumerate(texts):
            rows.setdefault(cache_key(self.model_id, self.passage_prompt, text), []).append(row)
        for key, vector in self.cache.get_many(list(rows), self.dimension).items():
            vectors[rows.pop(key)] = vector
        tokens = dict(
            zip(rows, self.count_tokens([texts[positions[0]] for positions in rows.values()]), strict=True)
        )
        order = sorted(rows, key=tokens.__getitem__)
        with tqdm(
            total=len(order), desc="embedding", unit="passage", disable=not (self.progress and order)
        ) as bar:
            for start, end in padded_batches(
                [tokens[key] for key in order], self.batch_size, self.batch_tokens
            ):
                batch_keys = order[start:end]
                batch = self._encode([texts[rows[key][0]] for key in batch_keys], self.passage_prompt)
                self.cache.put_many(batch_keys, batch)
                for key, vector in zip(batch_keys, batch, strict=True):
                    vectors[rows[key]] = vector
                bar.update(len(batch_keys))
        return vectors

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        return self.encoder.encode(texts, prompt)


def padded_batches(lengths: list[int], batch_size: int, batch_tokens: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive batches over ``lengths`` (token counts, ascending): each holds at most
    ``batch_size`` items and, padded to its longest, at most ``batch_tokens`` tokens (one item at least)."""
    start = 0
    while start < len(lengths):
        end = start + 1
        while (
            end < len(lengths)
            and end - start < batch_size
            and (end + 1 - start) * lengths[end] <= batch_tokens
        ):
            end += 1
        yield start, end
        start = end
