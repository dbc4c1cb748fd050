"""Every failure becomes {"detail": "..."} with the right status, mapped in service/errors.py alone."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from policyqa.corpus.errors import DocumentError
from policyqa.errors import PolicyQAError
from policyqa.indexer.errors import IndexMismatchError, InvalidQueryError, UnknownIdError
from policyqa.service.errors import (
    BadApiKeyError,
    NotReadyError,
    PayloadTooLargeError,
    UnsupportedFileTypeError,
    WritesDisabledError,
    install_error_handlers,
    status_of,
)


class UnmappedError(PolicyQAError):
    """A domain error nobody mapped: still a clean 400."""


class NarrowerUnknownIdError(UnknownIdError):
    """A subclass inherits its parent's status."""


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidQueryError("x"), 422),
        (DocumentError("a.txt", "empty file"), 422),
        (UnknownIdError("x"), 404),
        (NarrowerUnknownIdError("x"), 404),
        (BadApiKeyError(), 401),
        (WritesDisabledError(), 403),
        (PayloadTooLargeError("x"), 413),
        (UnsupportedFileTypeError("x"), 415),
        (NotReadyError("x"), 503),
        (IndexMismatchError("x"), 503),
        (UnmappedError("x"), 400),
    ],
)
def test_status_of_domain_errors(error, status):
    assert status_of(error) == status


def test_handlers_turn_failures_into_json_without_tracebacks(caplog):
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 3")

    @app.get("/missing")
    def missing() -> None:
        raise UnknownIdError("no clause with id 'x'")

    @app.get("/typed")
    def typed(k: int) -> int:
        return k

    with TestClient(app, raise_server_exceptions=False) as client:
        crash = client.get("/boom")
        not_found = client.get("/missing")
        invalid = client.get("/typed", params={"k": "many"})
    assert (crash.status_code, crash.json()) == (500, {"detail": "internal error"})
    assert "secret internals" not in crash.text
    logged = [
        getattr(record, "error", None)
        for record in caplog.records
        if record.name == "policyqa.service.errors"
    ]
    assert logged == ["RuntimeError: secret internals at /srv/app.py line 3"]
    assert (not_found.status_code, not_found.json()) == (404, {"detail": "no clause with id 'x'"})
    assert invalid.status_code == 422
    assert invalid.json() == {
        "detail": "k: Input should be a valid integer, unable to parse string as an integer"
    }
