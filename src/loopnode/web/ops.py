"""Operator endpoints: `/health` (alive), `/ready` (fit for traffic) and `/metrics` (Prometheus).

`Metrics` owns one Prometheus registry per application: request counts and latencies by route
template, rate-limit refusals per scope, and gauges read from the database at scrape time
(evidence length, outbox depth and dead letters per outbox). Counters are per worker process;
the database gauges are the node's, whichever worker answers. `Metrics.add_gauge` is the hook
for further gauges (ledger totals): `app.state.metrics.add_gauge(name, help, read)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

from loopnode.domain.times import to_us
from loopnode.services.ops import OpsService
from loopnode.web.concurrency import offload
from loopnode.web.responses import JSONResponse

log = logging.getLogger("loopnode.metrics")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _StateCollector(Collector):
    def __init__(self, ops: OpsService, extra: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self._ops = ops
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._database_gauges()
        except Exception:
            log.warning("metrics: database gauges unavailable", exc_info=True)
        for name, (documentation, read) in self._extra.items():
            try:
                yield GaugeMetricFamily(name, documentation, value=read())
            except Exception:
                log.warning("metrics: gauge %s unavailable", name, exc_info=True)

    def _database_gauges(self) -> Iterator[Metric]:
        probe = self._ops.probe
        yield GaugeMetricFamily(
            "loopnode_evidence_entries",
            "entries in the evidence log",
            value=probe.evidence_length(),
        )
        depth = GaugeMetricFamily(
            "loopnode_outbox_depth", "outbound messages waiting for delivery", labels=["outbox"]
        )
        dead = GaugeMetricFamily(
            "loopnode_outbox_dead_letters", "outbound messages given up on", labels=["outbox"]
        )
        for name, queue in probe.outboxes().items():
            depth.add_metric([name], queue.depth)
            dead.add_metric([name], queue.dead)
        yield depth
        yield dead


class Metrics:
    def __init__(self, ops: OpsService) -> None:
        self.registry = CollectorRegistry()
        self._extra: dict[str, tuple[str, Callable[[], float]]] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.requests = Counter(
            "loopnode_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loopnode_http_request_duration_seconds",
            "time to answer an HTTP request",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "loopnode_rate_limit_refusals",
            "requests refused with 429, by quota",
            ["scope"],
            registry=self.registry,
        )
        self.registry.register(_StateCollector(ops, self._extra))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def refused(self, scope: str) -> None:
        self.refusals.labels(scope).inc()

    def add_gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Expose `read()` as a gauge, evaluated at every scrape (e.g. ledger totals)."""
        self._extra[name] = (documentation, read)

    def render(self) -> bytes:
        rendered: bytes = _generate_latest(self.registry)
        return rendered


router = APIRouter(tags=["operations"])


def _ops(request: Request) -> OpsService:
    ops: OpsService = request.app.state.container.ops
    return ops


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: database reachable, migrations current, outbox moving",
    responses={503: {"description": "not ready; `checks` says why"}},
)
async def ready(request: Request) -> Response:
    now_us = to_us(request.app.state.container.clock.now())
    report = await offload(_ops(request).readiness, now_us)
    body = {"status": "ready" if report.ready else "not ready", "checks": report.checks}
    return JSONResponse(body, 200 if report.ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(await offload(registry.render), media_type=CONTENT_TYPE_LATEST)
