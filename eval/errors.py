"""Errors of the evaluation tools; all are ``PolicyQAError`` so the CLI prints one clear line."""

from policyqa.errors import PolicyQAError


class EvalError(PolicyQAError):
    """An evaluation or benchmark that cannot run as asked."""


class QueryFileError(EvalError):
    """A query file that is missing or malformed; the message names the file and line."""
