"""OpenVINO's CPU runtime on the ONNX export (``POLICYQA_BACKEND=openvino``).

OpenVINO reads the fp32 export directly (no second export, no conversion step) and compiles it for this CPU.
Where the CPU computes bfloat16 natively (AVX512_BF16 or AMX: OpenVINO reports ``BF16`` among its
optimisation capabilities) the graph runs in bf16 with fp32 accumulation; elsewhere in fp32 (emulated bf16
would be slower). Measured on this machine's 2 cores against ONNX Runtime's fp32 on the same graph: questions
embed 1.5× and passages 2.3× as fast, vectors agree to cosine ≥ 0.9998; an index built with it retrieves
within 0.006 Recall@10 of one built on fp32, which keeps ``onnx`` the default
(docs/decisions/2026-12-03-openvino.md).

Threads: each inference runs on ``threads`` threads in one OpenVINO stream, so a server's concurrent requests
take turns on it (a question takes ~7 ms, so it serves ~140 a second, more than a request's other work allows
here). As many streams as cores measured worse: two server workers with two streams each oversubscribed the
2 cores (`/search` 22 req/s against 40 with one stream each and 38 on ONNX Runtime). OpenVINO's infer
requests are not thread-safe: each calling thread gets its own.
``PolicyIndex`` loads the model before a server forks its workers; see ``OpenVinoSession`` for why each
worker compiles its own.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from policyqa.indexer.errors import ModelLoadError

if TYPE_CHECKING:
    import openvino

logger = logging.getLogger(__name__)


class OpenVinoSession:
    """The graph at ``path`` compiled by OpenVINO for the CPU (the ``Session`` protocol of onnx_serving).

    A compiled model's thread pool does not survive a fork (a forked server worker hangs at its first
    inference, tried), so a process that did not compile the graph compiles it again at its first inference
    (~0.5 s); the inherited one is kept, unused: destroying it would wait for threads that are not there."""

    def __init__(self, path: Path, threads: int) -> None:
        self._path = path
        self._threads = threads
        self._lock = threading.Lock()
        self._compiled: dict[int, openvino.CompiledModel] = {}  # by the id of the process that compiled it
        self._requests = threading.local()
        compiled = self._compiled_here()
        self.input_names = tuple(port.get_any_name() for port in compiled.inputs)

    def run(self, output_name: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
        process = os.getpid()
        request = getattr(self._requests, f"request_{process}", None)
        if request is None:
            request = self._compiled_here().create_infer_request()
            setattr(self._requests, f"request_{process}", request)
        # the request reuses its output buffer at its next inference: hand out a copy
        return np.array(request.infer(inputs)[output_name], copy=True)

    def _compiled_here(self) -> openvino.CompiledModel:
        """The graph compiled by this process (compiled now if it was not)."""
        import openvino

        process = os.getpid()
        with self._lock:
            if process not in self._compiled:
                core = openvino.Core()
                native = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
                precision = "bf16" if native else "f32"
                try:
                    self._compiled[process] = core.compile_model(
                        str(self._path),
                        "CPU",
                        {
                            "INFERENCE_PRECISION_HINT": precision,
                            "NUM_STREAMS": 1,
                            "INFERENCE_NUM_THREADS": self._threads,
                            # the cores are shared with Python threads and other jobs
                            "ENABLE_CPU_PINNING": False,
                        },
                    )
                except Exception as error:  # ONNX Runtime reads the same file: not removed, not damaged
                    raise ModelLoadError(
                        f"OpenVINO cannot run {self._path} ({error}); POLICYQA_BACKEND=onnx runs this model"
                    ) from None
                logger.debug("OpenVINO compiled", extra={"precision": precision, "threads": self._threads})
            return self._compiled[process]
