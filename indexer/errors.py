"""Domain errors of the indexer; the CLI and the service turn them into messages and HTTP codes."""

from corpus.errors import PolicyQAError


class IndexNotFoundError(PolicyQAError):
    """No index at the given folder."""


class IndexMismatchError(PolicyQAError):
    """The index was built with another model, dimension or format version than the one configured."""


class UnknownIdError(PolicyQAError):
    """A clause or document id that the index does not hold."""


class InvalidQueryError(PolicyQAError):
    """A query or search parameter that cannot be answered (empty, too long, unknown mode, bad k)."""
