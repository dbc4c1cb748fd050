"""``policyqa serve --workers N``: N server processes sharing one loaded index, run by gunicorn.

The index is loaded once, in gunicorn's master, before the workers are forked from it (``preload_app``): the
catalogue, BM25 and the model are the master's pages, shared copy-on-write, and the memory-mapped FAISS
file and model weights are shared through the page cache, so a second worker adds little memory; a worker
that dies is re-forked from the master at once. Each worker is uvicorn (uvicorn-worker's ``UvicornWorker``)
on the socket ``policyqa serve`` bound. Writes stay safe: index writers hold the folder's lock, and a worker
whose index version is no longer the one in force reloads it in the background once a request notices
(``PolicyIndex.changed``, ``LiveIndex.current``).

Gunicorn rather than a hand-written fork loop: it is the process manager FastAPI's and uvicorn's own
deployment guides name, and it brings what a supervisor needs (re-forking crashed workers, graceful
shutdown on SIGTERM, worker heartbeats).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
from typing import Any, ClassVar

from fastapi import FastAPI
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker

from policyqa.service.state import ServiceState

# Set before the index is loaded, for the libraries' thread pools must not exist when the workers are forked:
# OpenMP's (LightGBM and FAISS each carry one) would hang a worker at its next parallel region (seen: a
# worker reloading the index hung in LightGBM's model parser), the tokenizers library's would be disabled in
# every worker with a warning each. A request computes on one thread anyway (ServiceSettings.torch_threads).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


class Worker(UvicornWorker):
    """uvicorn in a gunicorn worker; access lines come from the app (``policyqa.access``) as with one. A
    worker whose master has died (killed with SIGKILL, say by the kernel's OOM killer) stops at its next
    heartbeat instead of serving on unsupervised and holding the port."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "access_log": False}

    async def callback_notify(self) -> None:
        if os.getppid() != self.ppid:
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own graceful stop
            return
        await super().callback_notify()


class _Arbiter(Arbiter):
    """Gunicorn's master, with Ctrl-C (SIGINT) stopping the workers as SIGTERM does, letting requests in
    flight finish (gunicorn's quick shutdown SIGKILLs uvicorn workers, which do not stop on its SIGQUIT)."""

    def handle_int(self) -> None:
        self.handle_term()


class _Server(BaseApplication):
    """A gunicorn application serving an app object already built (gunicorn's documented custom-app
    pattern), configured from arguments instead of a config file or the command line."""

    def __init__(self, app: FastAPI, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> FastAPI:
        return self.application

    def run(self) -> None:
        _Arbiter(self).run()


def serve_workers(
    app: FastAPI, state: ServiceState, sock: socket.socket, workers: int, log_level: str
) -> int:
    """Load the index of ``app`` (its ``state``) in this process, then serve ``app`` on the listening
    ``sock`` from ``workers`` forked processes until SIGTERM or SIGINT; returns the exit status (0 after a
    shutdown, non-zero when the workers could not start)."""
    state.load()
    gc.freeze()  # keeps the collector off the loaded objects: its writes would copy their pages
    options = {
        "bind": [f"fd://{os.dup(sock.fileno())}"],  # gunicorn closes its copy; the caller closes ``sock``
        "workers": workers,
        "worker_class": Worker,
        "preload_app": True,
        "loglevel": log_level,
        "accesslog": None,
        "proc_name": "policyqa",
        # a worker whose event loop has not reported for this long is replaced (requests compute in
        # threads, never on the loop: only a hung worker misses it); it reports every half of it
        "timeout": 30,
    }
    logging.getLogger("gunicorn.error").propagate = False
    try:
        _Server(app, options).run()
    except SystemExit as stopped:  # gunicorn's master ends with sys.exit(status)
        return stopped.code if isinstance(stopped.code, int) else 1
    return 0
