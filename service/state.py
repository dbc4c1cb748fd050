"""What the app holds between requests: settings, the highlighter's tokenizer, the upstream LLM's
conversation condenser (when one is configured) and — once the lifespan has loaded them, off the event
loop — the live index and the question answerers."""

from __future__ import annotations

import logging
import time

from policyqa.errors import PolicyQAError
from policyqa.indexer import PolicyIndex
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.encoders import set_inference_threads
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.service.answers import Answerer, answerer_from_settings
from policyqa.service.conversation import Condense, llm_condense
from policyqa.service.errors import NotReadyError
from policyqa.service.live_index import LiveIndex
from policyqa.service.llm_client import LLMClient
from policyqa.service.settings import ServiceSettings

logger = logging.getLogger(__name__)


class ServiceState:
    """Settings plus the loaded index; ``live`` and ``answerer`` raise ``NotReadyError`` until loaded."""

    def __init__(self, settings: ServiceSettings, embedder: Embedder | None = None):
        self.settings = settings
        self._embedder = embedder  # None: PolicyIndex.load loads the configured model
        self.tokenizer = Tokenizer(bigrams=False)  # query terms for highlights
        llm = LLMClient.from_settings(settings)
        self.condense: Condense | None = llm_condense(llm, settings.max_query_chars) if llm else None
        self._live: LiveIndex | None = None
        self._answerers: dict[str, Answerer] = {}
        self._error: str | None = None

    @property
    def live(self) -> LiveIndex:
        """The live index."""
        if self._live is None:
            raise NotReadyError(self._error or "the index is still loading")
        return self._live

    @property
    def loaded(self) -> PolicyIndex | None:
        """The index in force, or None while it is not loaded."""
        return self._live.current if self._live is not None else None

    @property
    def answerer(self) -> Answerer:
        """The question answerer POLICYQA_ANSWERER names (it shares the index's model)."""
        return self.answerer_named(self.settings.answerer)

    def answerer_named(self, name: str) -> Answerer:
        """A loaded answerer: the configured one, ``extractive`` and, with an upstream LLM, ``llm``."""
        if not self._answerers:
            raise NotReadyError(self._error or "the index is still loading")
        return self._answerers[name]

    @property
    def answerer_names(self) -> tuple[str, ...]:
        """The answerers served: the configured one, ``extractive`` and ``llm`` when an LLM is configured."""
        names = [self.settings.answerer, "extractive", *(["llm"] if self.settings.llm_configured else [])]
        return tuple(dict.fromkeys(names))

    def load(self) -> None:
        """Load the index (and the model) once; a failure is kept as the not-ready reason. Nothing to do
        when it is loaded already (``policyqa serve --workers`` loads it before the workers start)."""
        if self._live is not None:
            return
        index_dir = self.settings.resolved_index_dir
        started = time.perf_counter()
        set_inference_threads(self.settings.torch_threads)
        try:
            index = PolicyIndex.load(index_dir, self.settings, embedder=self._embedder)
            answerers = {
                name: answerer_from_settings(self.settings, index.embedder, name)
                for name in self.answerer_names
            }
            self.tokenizer.tokenize("预热分词器")  # jieba builds its prefix dictionary on first use
        except PolicyQAError as error:
            self._error = f"index not loaded: {error}"
            logger.error("index not loaded", extra={"index_dir": str(index_dir), "error": str(error)})
            return
        except Exception:  # the loader thread's boundary: keep the reason, keep serving /health
            self._error = "index not loaded: unexpected error (see the server log)"
            logger.exception("index not loaded", extra={"index_dir": str(index_dir)})
            return
        self._answerers = answerers
        self._live = LiveIndex(index, index_dir, self.settings)
        logger.info(
            "index loaded",
            extra={
                "index_dir": str(index_dir),
                "clauses": index.manifest.get("clauses"),
                "seconds": round(time.perf_counter() - started, 2),
            },
        )
