"""Prometheus metrics, one CollectorRegistry per app (so tests and apps never share counters)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from assistant.types import StateHealth

UNMATCHED_ROUTE = "<unmatched>"


class _StateCollector(Collector):
    """The state store's health as the service last reported it (the service does the counting)."""

    def __init__(self) -> None:
        self.health = StateHealth()

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "bpa_state_errors",
            "Failed attempts to record questions or feedback (the answers were still given).",
            value=self.health.errors,
        )
        yield GaugeMetricFamily(
            "bpa_state_degraded", "1 while questions and feedback cannot be recorded.", value=int(self.health.degraded)
        )


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bpa_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bpa_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.answers = Counter("bpa_answers_total", "Answers given through the HTTP API.", registry=self.registry)
        self.abstained = Counter(
            "bpa_answers_abstained_total",
            "Answers where the assistant abstained (documentation did not answer).",
            registry=self.registry,
        )
        self.snapshot = Info("bpa_snapshot", "Snapshot being served.", registry=self.registry)
        self._state = _StateCollector()
        self.registry.register(self._state)
        self.reindex_last_success = Gauge(
            "bpa_reindex_last_success_timestamp",
            "Unix time the last successful re-index (scheduled or admin API) finished; 0: none since start.",
            registry=self.registry,
        )
        self.reindex_failures = Counter(
            "bpa_reindex_failures",  # exposed as bpa_reindex_failures_total
            "Re-indexes (scheduled or admin API) that failed, the evaluation gate's refusals included.",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.latency.labels(method=method, route=route).observe(seconds)

    def observe_answer(self, abstained: bool) -> None:
        self.answers.inc()
        if abstained:
            self.abstained.inc()

    def observe_reindex(self, succeeded: bool) -> None:
        if succeeded:
            self.reindex_last_success.set_to_current_time()
        else:
            self.reindex_failures.inc()

    def render(self, snapshot_id: str | None, state: StateHealth) -> bytes:
        self.snapshot.info({"snapshot_id": snapshot_id or ""})
        self._state.health = state
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count and time every HTTP request under its route template (never the raw path)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Mapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_request(scope["method"], route, status, time.perf_counter() - started)
