"""Embed queries and passages with the configured model, caching passage vectors on disk."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from policyqa.indexer.embedding_cache import EmbeddingCache, cache_key, sentences_key
from policyqa.indexer.encoders import Encoder, TorchEncoder, load_encoder
from policyqa.indexer.lru import LRUCache
from policyqa.indexer.model_loading import known_model_id, load_model, prompts_in_force
from policyqa.indexer.onnx_serving import load_serving_encoder
from policyqa.indexer.sentence_vectors import Span, pool_sentences
from policyqa.indexer.settings import IndexSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassageEmbeddings:
    """Passage vectors (float32, one row per passage) and, when asked for and possible, their sentences'
    vectors (float16) with ``sentence_rows`` (passages + 1): passage ``p`` owns rows ``sentence_rows[p]`` to
    ``sentence_rows[p + 1]``."""

    vectors: np.ndarray
    sentence_vectors: np.ndarray | None
    sentence_rows: np.ndarray | None


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
        """``(n, dimension)`` float32, L2-normalised embeddings of ``texts`` after the passage prompt (see
        :meth:`embed_passages_and_sentences`)."""
        return self.embed_passages_and_sentences(texts, None).vectors

    def embed_passages_and_sentences(
        self, texts: list[str], sentence_spans: list[list[Span]] | None
    ) -> PassageEmbeddings:
        """The passages' vectors and, when ``sentence_spans`` gives each passage's sentences (character
        spans in its text), their vectors pooled from the same pass (``indexer/sentence_vectors.py``).

        Cached vectors are reused; the misses (each distinct text once) are embedded in batches of similar
        token counts (at most ``batch_size`` passages and ``batch_tokens`` padded tokens), each written to the
        cache as soon as it is done, so an interrupted run resumes where it stopped. Each passage vector is
        written straight into the returned array, which is all the memory they take, and the sentence vectors
        into one float16 array. No sentence vectors (None) if the tokenizer cannot locate its tokens.
        """
        spans = sentence_spans or [[] for _ in texts]
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        keys_of = [  # each row's (passage key, sentences key)
            (
                cache_key(self.model_id, self.passage_prompt, text),
                sentences_key(self.model_id, self.passage_prompt, text, row_spans),
            )
            for text, row_spans in zip(texts, spans, strict=True)
        ]
        rows: dict[tuple[bytes, bytes], list[int]] = {}  # each distinct (text, spans) → its rows
        for row, keys in enumerate(keys_of):
            rows.setdefault(keys, []).append(row)
        located = sentence_spans is not None
        sentence_rows = np.concatenate(
            [[0], np.cumsum([len(row_spans) for row_spans in spans], dtype=np.int64)]
        )
        sentence_vectors = np.empty(
            (int(sentence_rows[-1]) if located else 0, self.dimension), dtype=np.float16
        )

        def place(keys: tuple[bytes, bytes], matrix: np.ndarray) -> None:
            """Write a (text, spans)'s sentence vectors at each of its rows (no copy kept elsewhere)."""
            for row in rows[keys]:
                sentence_vectors[sentence_rows[row] : sentence_rows[row + 1]] = matrix

        cached = self.cache.get_many(list(dict.fromkeys(key for key, _ in rows)), self.dimension)
        wanted = [keys[1] for keys, positions in rows.items() if located and spans[positions[0]]]
        found = self.cache.get_sentences(wanted, self.dimension)
        for keys in list(rows):
            (key, sentence_key), first = keys, rows[keys][0]
            if key in cached and (not spans[first] or len(found.get(sentence_key, ())) == len(spans[first])):
                vectors[rows[keys]] = cached[key]
                if spans[first]:
                    place(keys, found[sentence_key])
                del rows[keys]
        del cached, found
        tokens = dict(
            zip(rows, self.count_tokens([texts[positions[0]] for positions in rows.values()]), strict=True)
        )
        order = sorted(rows, key=tokens.__getitem__)
        with tqdm(
            total=len(order), desc="embedding", unit="passage", disable=not (self.progress and order)
        ) as bar:
            for start, end in padded_batches(
                [tokens[keys] for keys in order], self.batch_size, self.batch_tokens
            ):
                batch = order[start:end]
                firsts = [rows[keys][0] for keys in batch]
                batch_texts = [texts[row] for row in firsts]
                if located:
                    embedded, outputs = self.encoder.encode_tokens(batch_texts, self.passage_prompt)
                else:
                    embedded, outputs = self._encode(batch_texts, self.passage_prompt), None
                pooled = {}
                if outputs is not None:
                    pooled = {
                        keys: pool_sentences(output, spans[row], vector).astype(np.float16)
                        for keys, row, output, vector in zip(batch, firsts, outputs, embedded, strict=True)
                        if spans[row]
                    }
                elif located:
                    logger.warning("this model's tokenizer cannot locate its tokens: no sentence vectors")
                    located = False
                self.cache.put_many(
                    [key for key, _ in batch], embedded, {keys[1]: matrix for keys, matrix in pooled.items()}
                )
                for keys, matrix in pooled.items():
                    place(keys, matrix)
                for keys, vector in zip(batch, embedded, strict=True):
                    vectors[rows[keys]] = vector
                bar.update(len(batch))
        if not located:
            return PassageEmbeddings(vectors, None, None)
        return PassageEmbeddings(vectors, sentence_vectors, sentence_rows)

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
