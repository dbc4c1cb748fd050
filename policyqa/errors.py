"""The error root: every expected, user-facing error derives from ``PolicyQAError``, so the CLI turns any
of them into ``policyqa: error: …`` and the service into an HTTP status with a message."""


class PolicyQAError(Exception):
    """Base of all expected, user-facing errors."""
