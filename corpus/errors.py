"""Domain errors. ``PolicyQAError`` is the root every package's errors derive from, so the CLI and
the service can turn any of them into a clear message instead of a traceback."""

from pathlib import Path


class PolicyQAError(Exception):
    """Base of all expected, user-facing errors."""


class DocumentError(PolicyQAError):
    """A file that cannot be loaded or parsed; the message names the file and says why."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
