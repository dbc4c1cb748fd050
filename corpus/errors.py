"""Errors of the corpus package (documents that cannot be loaded or parsed)."""

from pathlib import Path

from policyqa.errors import PolicyQAError


class DocumentError(PolicyQAError):
    """A file that cannot be loaded or parsed; the message names the file and says why."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple:
        """Picklable with its two arguments (parse errors cross the ParseWorker's process boundary)."""
        return type(self), (str(self.path), self.reason)


class DocumentTooLargeError(DocumentError):
    """A document over one of the parse limits (inflated size, characters, clauses): refused unparsed."""
