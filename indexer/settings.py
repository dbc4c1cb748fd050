"""Index and model settings, read once from ``POLICYQA_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict, SettingsError

from policyqa.indexer.encoders import Backend
from policyqa.indexer.errors import ConfigurationError
from policyqa.indexer.fusion import FUSION_STRATEGIES
from policyqa.indexer.limits import ParseLimitSettings
from policyqa.indexer.rerank import RERANKERS
from policyqa.indexer.vector_store import VECTOR_STORES, AnnType

DEFAULT_MODEL = "default"  # the built-in multilingual-e5-small, rebuilt offline from PyPI packages
NO_ADAPTER = "none"
DEFAULT_ADAPTER = "default"  # the shipped adapter on the default model, none on any other model
SHIPPED_ADAPTER_NAME = "stard"  # the LoRA adapter in indexer/resources/adapter, trained on STARD (train)
IndexStore = Literal["folder", "milvus"]
INDEX_STORES: tuple[IndexStore, ...] = ("folder", "milvus")
_MILVUS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")  # Milvus's rule for collection and alias names
_MILVUS_SERVER = ("http://", "https://", "tcp://")


class IndexSettings(ParseLimitSettings):
    """Where data lives and how clauses are embedded and retrieved (and, inherited, how much one document
    may cost to parse)."""

    model_config = SettingsConfigDict(env_prefix="POLICYQA_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path.home() / ".policyqa", description="root of models, caches and indexes")
    index_dir: Path | None = Field(default=None, description="index folder; default HOME/index (the demo)")
    model: str = Field(default=DEFAULT_MODEL, description="'default', a sentence-transformers name or path")
    query_prompt: str | None = Field(default=None, description="prompt before queries; None = model's own")
    passage_prompt: str | None = Field(default=None, description="prompt before passages; None = model's own")
    # the shipped adapter is the default model's since a full-index rebuild confirmed it
    # (docs/decisions/2026-12-01-tuned-embedder.md)
    adapter: str = Field(
        default=DEFAULT_ADAPTER,
        description="LoRA adapter merged into the model: 'default' ('stard' on the default model, 'none' on "
        "any other), 'none', 'stard' (the one shipped with policyqa, for the default model) or a folder "
        "written by `policyqa train embedder`",
    )
    backend: Backend = Field(
        default="onnx",
        description="inference backend of the embedding model: onnx (ONNX Runtime, fp32; without torch once "
        "exported), openvino (the same export compiled by OpenVINO, bf16 where the CPU has it), onnx-int8 or "
        "torch",
    )
    # POLICYQA_STORE says where the whole index lives (docs/milvus.md); POLICYQA_VECTOR_STORE is the vector
    # backend inside a folder index only (Milvus holds its own vectors)
    store: IndexStore = Field(
        default="folder", description="where the index lives: a folder (SQLite, FAISS, BM25 files) or Milvus"
    )
    milvus_uri: str | None = Field(
        default=None,
        description="a .db path (milvus-lite, in process) or http://host:19530 (a Milvus server); "
        "default HOME/milvus.db",
    )
    milvus_collection: str = Field(default="policyqa", description="the Milvus collection alias searched")
    milvus_token: SecretStr | None = Field(default=None, description="Milvus token (user:password or key)")
    milvus_db: str | None = Field(default=None, description="Milvus database; default Milvus's own default")
    vector_store: str = Field(default="faiss", description="vector store backend (set at build time)")
    ann: AnnType = Field(
        default="flat",
        description="every vector scanned (flat, float16) or approximate (hnsw, ivf) vector index",
    )
    rrf_k: int = Field(default=60, ge=1, description="reciprocal rank fusion constant")
    # min-max beat RRF on the right clause first for STARD-train (R@1 0.264 vs 0.256) and the seed questions
    # (77 % vs 63 %) on the full lawrefbook index, at the same R@10 0.517
    # (docs/decisions/2026-11-27-fusion-min-max.md)
    fusion: str = Field(default="minmax", description="how hybrid search combines rankings: minmax or rrf")
    bm25_k1: float = Field(
        default=0.9, ge=0, description="BM25 term-frequency saturation (set at build time)"
    )
    bm25_b: float = Field(
        default=0.4, ge=0, le=1, description="BM25 length normalisation (set at build time)"
    )
    bm25_bigrams: bool = Field(default=True, description="also index character bigrams (set at build time)")
    # re-tuned for the tuned embedder: STARD validation prefers 0.75–1.0, the seed questions need >= 1.25 to
    # keep their right clause first (docs/decisions/2026-12-01-tuned-embedder.md)
    bm25_weight: float = Field(default=1.25, ge=0)
    dense_weight: float = Field(default=1.0, ge=0)
    # a quarter of the best possible hybrid score: seed questions first 77 % → 79 %, STARD-train unchanged
    # (docs/decisions/2026-11-27-region-step-back.md)
    other_region_penalty: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="hybrid: share of the best score taken off documents of places the query does not name",
    )
    # a known asker: another province's or city's rules bind none of them; seed questions (home 江苏)
    # first 84 % → 88 %, STARD validation from 上海/北京/山东 equal or better
    # (docs/decisions/2026-12-03-known-home.md)
    home_other_region_penalty: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description="hybrid, when a home region is given: share of the best score taken off documents of "
        "places neither the query nor the home names (instead of other_region_penalty)",
    )
    home_region: str | None = Field(
        default=None,
        description="hybrid: a region whose documents never step back and step forward (a 江苏 portal: "
        "江苏); places nested with it (its cities, its province) never step back",
    )
    # as much as another place's documents lose: seed questions (home 江苏) first 77 % → 84 %; STARD
    # validation asked from 上海 or 北京 −0.012–0.016 R@10 (docs/decisions/2026-12-02-home-region-boost.md)
    home_region_boost: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="hybrid: share of the best score added to the home region's documents when the query "
        "names no other place",
    )
    rerank: str = Field(
        default="learned",
        description="re-ranker of the hybrid candidates: learned (the trained ranker over the retrieval "
        "signals), off (the fused order) or on (the cross-encoder)",
    )
    ranker_model: str = Field(
        default="default",
        description="ranker for POLICYQA_RERANK=learned: 'default' (the one shipped for the index's "
        "embedding model) or a file written by `policyqa train ranker`",
    )
    rerank_top_n: int = Field(
        default=20, ge=1, le=100, description="how many of the top hybrid candidates the re-ranker re-scores"
    )
    rerank_model: str = Field(
        default="default",
        description="re-ranker for POLICYQA_RERANK=on: 'default' (the shipped one) or a folder written by "
        "`policyqa train reranker`",
    )
    batch_size: int = Field(default=32, ge=1, le=1024, description="most passages embedded in one batch")
    batch_tokens: int = Field(
        default=2048,
        ge=1,
        description="most padded tokens in one passage batch: long passages go in smaller batches, so the "
        "model's activations (and the build's memory) stay bounded",
    )
    query_cache_size: int = Field(
        default=1024, ge=0, description="query embeddings kept in memory for repeated queries (0: off)"
    )
    max_query_chars: int = Field(default=500, ge=1, description="longest accepted query or question")
    today: date | None = Field(
        default=None,
        description="the day searches keep the versions in force on (yyyy-mm-dd; default the server's date: "
        "set it for tests and demos)",
    )

    @field_validator("adapter", mode="before")
    @classmethod
    def _blank_adapter_is_none(cls, value: object) -> object:
        if isinstance(value, Path):
            return str(value)
        return (value.strip() or NO_ADAPTER) if isinstance(value, str) else value

    @field_validator("rerank_model", mode="before")
    @classmethod
    def _blank_rerank_model_is_default(cls, value: object) -> object:
        return (value.strip() or "default") if isinstance(value, str) else value

    @field_validator("vector_store")
    @classmethod
    def _known_vector_store(cls, value: str) -> str:
        return VECTOR_STORES.check(value)

    @field_validator("milvus_uri")
    @classmethod
    def _milvus_uri(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not (value.endswith(".db") or value.startswith(_MILVUS_SERVER)):
            raise ValueError(f"{value!r} is neither a .db path (milvus-lite) nor http(s)://host:port")
        return value

    @field_validator("milvus_collection")
    @classmethod
    def _milvus_collection(cls, value: str) -> str:
        if not _MILVUS_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a Milvus collection name (letters, digits, _; not first a digit)"
            )
        return value

    @field_validator("fusion")
    @classmethod
    def _known_fusion(cls, value: str) -> str:
        return FUSION_STRATEGIES.check(value)

    @field_validator("rerank")
    @classmethod
    def _known_reranker(cls, value: str) -> str:
        return RERANKERS.check(value)

    @property
    def resolved_index_dir(self) -> Path:
        """The index folder in force."""
        return self.index_dir or self.home / "index"

    @property
    def resolved_milvus_uri(self) -> str:
        """The Milvus URI in force: the setting, or ``HOME/milvus.db`` (milvus-lite)."""
        return self.milvus_uri or str(self.home / "milvus.db")

    @property
    def model_cache_dir(self) -> Path:
        """Where the built-in model is materialised."""
        return self.home / "models"

    @property
    def embedding_cache_path(self) -> Path:
        """SQLite file of cached passage embeddings, keyed by model and text."""
        return self.home / "embedding-cache.sqlite"


Settings = TypeVar("Settings", bound=IndexSettings)


def load_settings(settings_class: type[Settings] = IndexSettings, **overrides: object) -> Settings:
    """``settings_class`` from the environment plus ``overrides`` (None values ignored); an invalid value
    raises ConfigurationError naming the variable, not a pydantic traceback."""
    try:
        return settings_class(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as error:
        problems = "; ".join(
            f"POLICYQA_{'_'.join(map(str, problem['loc'])).upper()}: {problem['msg']}"
            if problem["loc"]
            else problem["msg"]  # a rule between settings names them itself
            for problem in error.errors()
        )
        raise ConfigurationError(f"invalid setting: {problems}") from None
    except SettingsError as error:  # a value that must be JSON and is not
        raise ConfigurationError(f"invalid setting: {error}: {error.__cause__}") from None
