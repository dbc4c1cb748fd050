"""Domain errors of the indexer; the CLI and the service turn them into messages and HTTP codes."""

from policyqa.errors import PolicyQAError


class IndexNotFoundError(PolicyQAError):
    """No index at the given folder."""


class IndexMismatchError(PolicyQAError):
    """The index was built with another model, dimension or format version than the one configured."""


class IndexCorruptError(PolicyQAError):
    """The index files disagree with each other (e.g. edited or partly copied by hand); rebuild it."""


class NothingToIndexError(PolicyQAError):
    """A build found no parsable document (so it refuses to replace the index in force with an empty one)."""


class UnknownIdError(PolicyQAError):
    """A clause or document id that the index does not hold."""


class InvalidQueryError(PolicyQAError):
    """A query or search parameter that cannot be answered (empty, too long, unknown mode, bad k)."""


class ConfigurationError(PolicyQAError):
    """A setting (environment variable, .env entry or command-line option) with an invalid value."""


class ModelLoadError(PolicyQAError):
    """The configured embedding model cannot be loaded (not available offline, corrupt, or unbuildable)."""


class EmbeddingCacheError(PolicyQAError):
    """The embedding cache file exists but cannot be used (not SQLite, unreadable, locked too long)."""


class IndexWriteError(PolicyQAError):
    """The index folder cannot be written (read-only, no permission); the index in force is unchanged."""


class StorageFullError(IndexWriteError):
    """The disk (or quota) under the index folder is full; the index in force is unchanged."""


class StoreUnavailableError(PolicyQAError):
    """The configured index store (a Milvus server or milvus-lite database) cannot be reached or opened."""
