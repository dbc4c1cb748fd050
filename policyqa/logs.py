"""Structured (logfmt) logging, quiet by default."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import ClassVar


class LogfmtFormatter(logging.Formatter):
    """``ts=… level=… logger=… msg="…" key=value`` lines; extra fields come from ``extra={...}``. A logged
    exception (``logger.exception``) adds ``exception="Type: message"`` and ``at=file:line`` (where it was
    raised), on the same line."""

    _reserved: ClassVar[frozenset[str]] = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields.update({k: v for k, v in vars(record).items() if k not in self._reserved and k != "message"})
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            fields["exception"] = f"{type(error).__name__}: {error}"
            frames = traceback.extract_tb(error.__traceback__)
            if frames:
                fields["at"] = f"{frames[-1].filename}:{frames[-1].lineno}"
        return " ".join(f"{key}={_quote(value)}" for key, value in fields.items())


def _quote(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or "=" in text or not text) else text


def configure_logging(verbosity: int = 0) -> None:
    """Warnings only by default; ``-v`` adds info, ``-vv`` debug. Third-party chatter stays at warning."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("jieba", "sentence_transformers", "transformers", "httpx", "faiss"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
