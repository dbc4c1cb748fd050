"""Service settings: the index settings plus HTTP, security and answering knobs (``POLICYQA_*``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from policyqa.indexer.errors import InvalidQueryError
from policyqa.indexer.settings import IndexSettings
from policyqa.indexer.settings import load_settings as load_index_settings
from policyqa.service.admission import AdmissionLimits
from policyqa.service.answers import ANSWERERS
from policyqa.service.schemas import Filters

DEFAULT_KNOWLEDGE_ID = "default"  # the knowledge_id of the whole index


class ServiceSettings(IndexSettings):
    """Everything ``policyqa serve`` needs; built once and handed to ``create_app``."""

    host: str = Field(default="127.0.0.1", description="interface uvicorn binds to")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port uvicorn listens on")
    api_key: str | None = Field(default=None, description="X-API-Key for POST/DELETE /documents; unset = off")
    read_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default=[],
        description="comma-separated keys accepted as Authorization: Bearer by POST /retrieval; unset = open",
    )
    knowledge_bases: dict[str, Filters] = Field(
        default={},
        description='JSON: knowledge_id → filter preset for POST /retrieval, e.g. {"jiangsu-policies": '
        '{"region": "江苏"}}; "default" (the whole index) is always there',
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[], description="comma-separated origins allowed to call the API from a browser"
    )
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="largest accepted upload")
    max_json_bytes: int = Field(default=64 * 1024, ge=256, description="largest accepted JSON request body")
    torch_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="threads per inference (ONNX Runtime, torch, FAISS); the server gets its parallelism "
        "from concurrent requests",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="server processes sharing one loaded index (each takes max_concurrent_requests)",
    )
    # Two cores: four requests computing at once keep both busy (one inference thread each) while each waits
    # on Python work; the rest queue on the event loop, where they hold no worker thread.
    max_concurrent_requests: int = Field(
        default=4, ge=1, le=64, description="searches and questions computed at once"
    )
    max_queued_requests: int = Field(
        default=32, ge=0, description="searches and questions waiting for a slot; more are answered 503"
    )
    request_budget_seconds: float = Field(
        default=10.0,
        gt=0,
        description="time a search or question may take from arrival, queueing included; then 503",
    )
    max_pending_writes: int = Field(
        default=4, ge=1, description="uploads and deletes in flight (one writes at a time); more are 503"
    )
    answerer: str = Field(default="extractive", description="how /ask answers from the hits it finds")
    # unset: the threshold `policyqa train relevance` fitted with the relevance model, on a demo and a full
    # index at once (docs/decisions/2026-12-01-relevance-calibration.md)
    answer_min_relevance: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="least relevance of a hit /ask answers from (refuses below); unset: the fitted threshold",
    )

    # An OpenAI-compatible upstream (vLLM, Ollama, Xinference, a Qwen/DeepSeek endpoint) for LLM answers and
    # for condensing a conversation into a standalone question; unset: extractive answers and rule rewrites.
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL of the LLM (…/v1); unset = no LLM"
    )
    llm_model: str | None = Field(default=None, description="the upstream's model name")
    llm_api_key: SecretStr | None = Field(
        default=None, description="bearer key for the upstream, if it needs one"
    )
    llm_timeout: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="seconds an upstream call may take; then the extractive answer",
    )
    chat_max_messages: int = Field(
        default=20, ge=1, le=200, description="most messages in a chat request (history included)"
    )
    chat_max_chars: int = Field(
        default=8000, ge=100, description="most characters of all messages of a chat request together"
    )

    @property
    def llm_configured(self) -> bool:
        """Whether an upstream LLM is configured (base URL and model)."""
        return bool(self.llm_base_url and self.llm_model)

    @property
    def admission_limits(self) -> AdmissionLimits:
        """What admission control enforces."""
        return AdmissionLimits(
            max_running=self.max_concurrent_requests,
            max_queued=self.max_queued_requests,
            budget_seconds=self.request_budget_seconds,
            max_pending_writes=self.max_pending_writes,
        )

    @field_validator("answerer")
    @classmethod
    def _known_answerer(cls, value: str) -> str:
        return ANSWERERS.check(value)

    @model_validator(mode="after")
    def _llm_answerer_needs_an_llm(self) -> ServiceSettings:
        if self.answerer == "llm" and not self.llm_configured:
            raise ValueError("answerer 'llm' needs POLICYQA_LLM_BASE_URL and POLICYQA_LLM_MODEL")
        return self

    @field_validator("cors_origins", "read_api_keys", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """``POLICYQA_CORS_ORIGINS`` and ``POLICYQA_READ_API_KEYS`` are comma-separated lists."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("knowledge_bases")
    @classmethod
    def _valid_presets(cls, value: dict[str, Filters]) -> dict[str, Filters]:
        """Presets other than ``default``, each a valid filter (no reversed date range)."""
        if DEFAULT_KNOWLEDGE_ID in value:
            raise ValueError(f"{DEFAULT_KNOWLEDGE_ID!r} is the whole index and cannot be redefined")
        for knowledge_id, preset in value.items():
            try:
                preset.to_search_filters()
            except InvalidQueryError as error:
                raise ValueError(f"{knowledge_id}: {error}") from None
        return value


def load_settings(**overrides: object) -> ServiceSettings:
    """``ServiceSettings`` from the environment plus ``overrides`` (None values ignored); an invalid
    value raises ConfigurationError naming the variable, not a pydantic traceback."""
    return load_index_settings(ServiceSettings, **overrides)
