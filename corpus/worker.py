"""Parsing in a child process, so that one file can cost only so much: a file that takes longer than
``max_parse_seconds`` is abandoned (the child is killed and replaced), and a parser that crashes or exhausts
memory takes down the child, never the server or the build.

The child is a fresh interpreter (``python -m policyqa.corpus.worker FD``, about 0.25 s to start) talking
over a socket pair: not a ``fork`` of the caller, whose model threads could deadlock a forked child, and
not ``multiprocessing``, which re-imports the caller's main script in the child. One worker parses many
files in turn (``policyqa index``); an upload uses a worker of its own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path

from policyqa.corpus.errors import DocumentError
from policyqa.corpus.limits import ParseLimits
from policyqa.corpus.model import ParsedDocument

_START_SECONDS = 120.0  # for the child to import the parser (about 0.25 s on a quiet machine)
_STOP_SECONDS = 5.0
_READY = "ready"


class ParseWorker:
    """A child process that parses files one at a time under ``limits``; use it as a context manager."""

    def __init__(self, limits: ParseLimits):
        self.limits = limits
        self._process: subprocess.Popen | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def parse(self, path: Path, name: str | None = None) -> ParsedDocument:
        """``parse_file(path, limits)`` in the child; errors name the file as ``name`` (default: ``path``).

        DocumentError as parse_file raises it, or when the parse takes longer than ``max_parse_seconds``
        or the child dies."""
        shown = name or path
        connection = self._start(shown)
        connection.send(str(Path(path).resolve()))
        if not connection.poll(self.limits.max_parse_seconds):
            self._kill()
            raise DocumentError(
                shown,
                f"parsing took longer than the limit of {self.limits.max_parse_seconds:g} s "
                "(POLICYQA_MAX_PARSE_SECONDS)",
            )
        try:
            outcome = connection.recv()
        except (EOFError, OSError) as error:
            self._kill()
            raise DocumentError(shown, "the parser stopped unexpectedly (out of memory?)") from error
        if isinstance(outcome, DocumentError):
            raise type(outcome)(shown, outcome.reason)
        return outcome

    def close(self) -> None:
        """Stop the child: it exits when its end of the socket closes."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            try:
                self._process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _start(self, shown: Path | str) -> Connection:
        """The connection to a running child, started if need be; the time limit of a parse starts once the
        child has imported the parser and said so."""
        if self._connection is None:
            ours, theirs = socket.socketpair()
            with ours, theirs:
                limits = json.dumps(asdict(self.limits))
                command = [sys.executable, "-m", __name__, str(theirs.fileno()), limits]
                self._process = subprocess.Popen(
                    command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
                )
                self._connection = Connection(ours.detach())
            try:
                started = self._connection.poll(_START_SECONDS) and self._connection.recv() == _READY
            except (EOFError, OSError):
                started = False
            if not started:
                self._kill()
                raise DocumentError(shown, "the parser process did not start")
        return self._connection

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
        self.close()


def serve(connection: Connection, limits: ParseLimits) -> None:
    """The child's loop: parse each path received, send back the document or the DocumentError; stop
    when the parent closes the socket."""
    from policyqa.corpus.parse import parse_file

    connection.send(_READY)
    while True:
        try:
            path = connection.recv()
        except EOFError:
            return
        try:
            connection.send(parse_file(Path(path), limits))
        except DocumentError as error:
            connection.send(error)


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])), ParseLimits(**json.loads(sys.argv[2])))
