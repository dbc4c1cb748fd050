"""``GET /metrics`` in the Prometheus text format.

Requests, their status codes and latency per route come from prometheus-fastapi-instrumentator
(``http_requests_total{handler,method,status}``, ``http_request_duration_seconds{handler,method}``, request
and response sizes); the service adds what only it knows: 503s from admission control
(``policyqa_rejected_requests_total{reason}``), upload outcomes (``policyqa_uploads_total{outcome}``) and
the index in force (``policyqa_index_*``, read at scrape time). Each app has its own registry.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from policyqa.errors import PolicyQAError
from policyqa.service.errors import status_of
from policyqa.service.state import ServiceState

UPLOAD_OUTCOMES = {413: "too_large", 415: "unsupported_type", 422: "unparsable", 503: "unavailable"}


class ServiceMetrics:
    """The registry of one app and the service's own counters."""

    def __init__(self, state: ServiceState):
        self.registry = CollectorRegistry()
        self.rejected = Counter(
            "policyqa_rejected_requests",
            "Requests answered 503 by admission control, by reason (saturated, budget, writes)",
            ["reason"],
            registry=self.registry,
        )
        self.uploads = Counter(
            "policyqa_uploads",
            "POST /documents by outcome (added, too_large, unsupported_type, unparsable, unavailable, "
            "storage_full, refused)",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(IndexCollector(state))

    def instrument(self, app: FastAPI) -> None:
        """Count and time ``app``'s requests (middleware around what was added before) and serve
        ``GET /metrics`` (answered on the event loop, never queued)."""
        Instrumentator(
            should_group_status_codes=False,  # a 503 from saturation is not just "5xx"
            excluded_handlers=["/metrics"],
            registry=self.registry,
        ).instrument(app)

        @app.get("/metrics", include_in_schema=False)
        async def prometheus_metrics(request: Request) -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def rejected_by(self, reason: str) -> None:
        """Count a request answered 503 by admission control."""
        self.rejected.labels(reason=reason).inc()

    def upload_failed(self, error: PolicyQAError) -> None:
        """Count an upload refused or failed with ``error``."""
        status = status_of(error)
        self.uploads.labels(
            outcome="storage_full" if status == 507 else UPLOAD_OUTCOMES.get(status, "refused")
        ).inc()


class IndexCollector(Collector):
    """The index in force: ready or not, its counts, size on disk and version."""

    def __init__(self, state: ServiceState):
        self.state = state

    def collect(self) -> Iterator[Metric]:
        index = self.state.loaded
        yield GaugeMetricFamily(
            "policyqa_index_ready", "1 once the index is loaded", value=int(index is not None)
        )
        if index is None:
            return
        manifest = index.manifest
        for name in ("documents", "clauses", "passages"):
            yield GaugeMetricFamily(
                f"policyqa_index_{name}", f"{name} in the index in force", value=manifest[name]
            )
        files = manifest.get("files", {})
        yield GaugeMetricFamily(
            "policyqa_index_bytes",
            "size of the index version in force on disk (files with checksums)",
            value=sum(entry["size"] for entry in files.values()),
        )
        info = InfoMetricFamily("policyqa_index", "the index version in force")
        info.add_metric(
            [],
            {
                "version": str(manifest.get("version", "")),
                "model": str(manifest.get("model", "")),
                "built_at": str(manifest.get("built_at", "")),
            },
        )
        yield info
