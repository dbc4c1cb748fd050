"""The upstream LLM: any OpenAI-compatible chat completions endpoint (vLLM, Ollama, Xinference, a Qwen or
DeepSeek endpoint), called with the ``openai`` client. Every failure — timeout, connection, an error status,
an empty reply — is one ``LLMUnavailableError``, which the callers answer without the LLM."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import openai

from policyqa.errors import PolicyQAError
from policyqa.service.budget import remaining_budget

if TYPE_CHECKING:
    from policyqa.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

MIN_CALL_SECONDS = 0.5  # an upstream call is not started with less time than this left in the budget


class LLMUnavailableError(PolicyQAError):
    """The upstream did not give a usable reply (in time)."""


class LLMClient:
    """Chat completions from one upstream model, each call bounded by ``timeout`` seconds and by what is
    left of the request's time budget; no retries (a retry would double the wait)."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float):
        self.model = model
        self.timeout = timeout
        # local servers accept any key; the client insists on one
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "none", max_retries=0)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> LLMClient | None:
        """The configured upstream, or None when POLICYQA_LLM_BASE_URL / POLICYQA_LLM_MODEL are unset."""
        if not settings.llm_configured:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(settings.llm_base_url or "", settings.llm_model or "", key, settings.llm_timeout)

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 1024) -> str:
        """The upstream's reply to ``messages`` (temperature 0); LLMUnavailableError when it fails, times
        out or is empty."""
        left = remaining_budget()
        timeout = self.timeout if left is None else min(self.timeout, left)
        if timeout < MIN_CALL_SECONDS:
            raise LLMUnavailableError("no time left in the request's budget for the LLM")
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=0.0,
                max_tokens=max_tokens,
                timeout=timeout,
            )
        except openai.OpenAIError as error:
            logger.warning(
                "llm call failed",
                extra={"model": self.model, "error": type(error).__name__, "seconds": _since(started)},
            )
            raise LLMUnavailableError(f"the LLM failed: {type(error).__name__}") from None
        content = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not content:
            raise LLMUnavailableError("the LLM gave an empty reply")
        logger.info(
            "llm reply", extra={"model": self.model, "chars": len(content), "seconds": _since(started)}
        )
        return content


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 2)
