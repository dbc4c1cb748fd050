"""Open a sentence-transformers model from local files only, quietly, failing with ModelLoadError."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from policyqa.indexer.encoders import give_torch_inference_threads
from policyqa.indexer.errors import ModelLoadError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

OFFLINE_HINT = "set POLICYQA_MODEL to a local path or 'default'"


def forbid_hub_network() -> None:
    """Put the Hugging Face libraries in offline mode for this process (they otherwise phone home even
    with ``local_files_only``, e.g. huggingface_hub's user-agent registry lookup)."""
    import huggingface_hub.constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    huggingface_hub.constants.HF_HUB_OFFLINE = True  # read at import time; this process may have imported it


def open_offline(name_or_path: str) -> SentenceTransformer:
    """The model at a local path or in the local Hugging Face cache; never downloads anything."""
    forbid_hub_network()
    from sentence_transformers import SentenceTransformer

    give_torch_inference_threads()  # set by the server before torch was imported
    try:
        with no_progress_bars():  # the per-tensor "Loading weights" bar is noise here
            return SentenceTransformer(name_or_path, local_files_only=True)
    except Exception as exc:  # any failure to load is reported the same way, without a traceback
        raise ModelLoadError(
            f"model {name_or_path!r} is not available offline: {exc}; {OFFLINE_HINT}"
        ) from exc


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' progress bars (loading and writing weights) off for the duration."""
    from transformers.utils import logging as transformers_logging

    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()
