"""Prometheus instruments of the API process, the middleware that feeds them, and the merging of
snapshots other processes publish (domain-free: services/metrics.py says what is measured).

Each API process keeps its own registry (`ApiMetrics`, built by `create_app`, so two apps in one
process, as in the tests, never share a counter). Its hot path is one histogram observation per
request and a gauge step per WebSocket: no database or Redis call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("orca.metrics")

# `*_created` series (when each counter was made) come out of the text format as gauges of their
# own: noise to every dashboard, and a second series per label set to store.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Requests answered without reaching a route: the web console's files, unknown paths (404), and
# refusals before routing (405, 413, 431). One value for them all: a label made from raw paths
# would grow a series per scanned URL.
UNMATCHED = "unmatched"

# From a quick JSON answer to a large export or a slow login (argon2 runs in a thread).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    """This API process's own series: request latency and WebSocket clients, and the process's
    CPU and memory."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "orca_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class.",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.websocket_clients = Gauge(
            "orca_websocket_clients",
            "WebSocket connections this API process holds open.",
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        # What a scrape must not take from another process's snapshot.
        self.names = frozenset(family.name for family in self.registry.collect())


class MetricsMiddleware:
    """Time every HTTP request under the template of the route that answered it (never the raw
    path: `/api/v1/jobs/{job_id}`, one series however many jobs), and count open WebSockets.

    The router records the route it matched in the scope (`scope["route"]`), the same dict this
    middleware handed down, so it is read after the response. That is the route as its router
    declared it (`/jobs/{job_id}`); the full template, prefix included, comes from FastAPI's
    list of the application's routes, read once."""

    def __init__(
        self, app: ASGIApp, metrics: ApiMetrics, routes: Callable[[], Sequence[BaseRoute]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self._routes = routes
        # By the route object's id (routes compare by value, and live as long as the app).
        self._templates: dict[int, str] | None = None

    def template(self, route: object) -> str:
        if not isinstance(route, BaseRoute):
            return UNMATCHED
        if self._templates is None:  # on the first request: every router is included by then
            self._templates = {}
            for context in iter_route_contexts(self._routes()):
                if context.path is not None:
                    self._templates.setdefault(id(context.original_route), context.path)
        found = self._templates.get(id(route))
        if found is None:
            found = self._templates[id(route)] = getattr(route, "path", None) or UNMATCHED
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.request_seconds.labels(
                scope["method"], self.template(scope.get("route")), f"{status // 100}xx"
            ).observe(time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = False
        gauge = self.metrics.websocket_clients

        async def counted(message: Message) -> None:
            nonlocal accepted
            await send(message)
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                gauge.inc()

        try:
            await self.app(scope, receive, counted)
        finally:
            if accepted:
                gauge.dec()


class Families(Collector):
    """Hands a registry families gathered beforehand (at scrape time, asynchronously)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def merge_snapshots(
    snapshots: Mapping[str, str], label: str, taken: Iterable[str] = ()
) -> list[Metric]:
    """The families of several processes' snapshots (text exposition format, keyed by process)
    as one set, every sample labelled `label=<key>`: one family per name, as the format needs.

    A snapshot that does not parse is left out (logged), never the scrape. A family whose name
    is in `taken` (already exported by the caller), or whose type differs from the same name in
    another snapshot (processes of two versions), is left out of that snapshot rather than
    written twice."""
    merged: dict[str, Metric] = {}
    reserved = set(taken)
    for key, text in sorted(snapshots.items()):
        try:
            families = list(text_string_to_metric_families(text))
        except Exception as exc:  # a bad snapshot costs its own series only
            log.warning("ignored the metrics snapshot of %s: %s", key, type(exc).__name__)
            continue
        for family in families:
            if family.name in reserved:
                continue
            target = merged.get(family.name)
            if target is None:
                target = merged[family.name] = Metric(
                    family.name, family.documentation, family.type
                )
            elif target.type != family.type:
                continue
            target.samples.extend(
                Sample(sample.name, {**sample.labels, label: key}, sample.value)
                for sample in family.samples
            )
    return list(merged.values())
