"""What Orca measures for Prometheus, and how one scrape of any API replica shows the whole fleet.

Workers run anywhere, and what only they know (how long executions take, how they end, their
SSH pools and circuit breakers) lives in their memory. Each worker keeps its own registry
(`WorkerMetrics`) and, with every heartbeat, writes it in the text exposition format to Redis
under a key of its own that expires after ORCA_WORKER_HEARTBEAT_TTL_SECONDS: a worker that dies
stops renewing it and its series vanish with it; one that stops cleanly deletes it.

A scrape (`scrape`) renders the API process's own registry (request latency, WebSocket clients),
gauges read at that moment (executions and jobs in each live state and live workers from
PostgreSQL, the queue's depth from Redis), and every live worker's snapshot with a `worker`
label. Either store being away costs its own series, never the scrape: `orca_dependency_up`
says which answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connectors.registry import Connectors
from app.core.errors import safe_reason
from app.core.metrics import ApiMetrics, Families, merge_snapshots
from app.core.redis import QUEUE_NAME
from app.models.enums import ExecutionStatus, JobStatus
from app.repositories import metrics as metrics_repo

log = logging.getLogger("orca.metrics")
T = TypeVar("T")

SNAPSHOT_KEY = "orca:metrics:worker:"
# Who published (worker id → time of its last snapshot), so a scrape reads the snapshots
# without scanning Redis' keyspace; the snapshot keys' expiry says who is still alive.
SNAPSHOT_INDEX = "orca:metrics:workers"
# Index entries older than this are dropped by the next publisher (workers that died long ago).
INDEX_HORIZON_SECONDS = 3600.0
WORKER_LABEL = "worker"

# Local commands end in milliseconds; fleet changes can run for hours (jobs allow up to a day).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)


class WorkerMetrics:
    """One worker process's registry. The runner observes each execution; the rest (pools,
    circuits, executions running) is read from the connectors and runner when a snapshot is
    taken."""

    def __init__(self, connectors: Connectors, running: Callable[[], int], slots: int) -> None:
        # Not described on registration: the state collector reads the runner, which is made
        # after this (and takes it).
        self.registry = CollectorRegistry(auto_describe=False)
        self.execution_seconds = Histogram(
            "orca_execution_duration_seconds",
            "Time an execution spent in its connector (connecting, running, stopping), by "
            "connector.",
            ["connector"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.executions_finished = Counter(
            "orca_executions_finished",
            "Executions this worker recorded as ended, by connector and final status.",
            ["connector", "status"],
            registry=self.registry,
        )
        self.registry.register(_WorkerState(connectors, running, slots))
        # Named apart from the API's own process_* series, which the same scrape carries.
        ProcessCollector(namespace="orca_worker", registry=self.registry)

    def finished(self, connector: str, status: ExecutionStatus) -> None:
        self.executions_finished.labels(connector, status.value).inc()

    def snapshot(self) -> bytes:
        return generate_latest(self.registry)


class _WorkerState(Collector):
    def __init__(self, connectors: Connectors, running: Callable[[], int], slots: int) -> None:
        self.connectors = connectors
        self.running = running
        self.slots = slots

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "orca_worker_executions_running",
            "Executions this worker runs now.",
            value=self.running(),
        )
        yield GaugeMetricFamily(
            "orca_worker_execution_slots",
            "Executions this worker may run at once (ORCA_WORKER_MAX_JOBS).",
            value=self.slots,
        )
        # Systems by id: the connector knows no names (it gets plain values, never the
        # database), and an id stays one series across renames; orca_system_info has names.
        pooled = GaugeMetricFamily(
            "orca_connector_pool_connections",
            "Open pooled connections to each system, by connector and system id.",
            labels=["connector", "system_id"],
        )
        circuits = GaugeMetricFamily(
            "orca_connector_circuit_breakers_open",
            "Systems whose circuit breaker is open now (connections fail fast), by connector.",
            labels=["connector"],
        )
        open_systems = GaugeMetricFamily(
            "orca_connector_circuit_open",
            "1 for each system whose circuit breaker is open now, by connector and system id.",
            labels=["connector", "system_id"],
        )
        for name, connector in sorted(self.connectors.loaded().items()):
            stats = getattr(connector, "stats", None)
            if stats is None:
                continue
            state = stats()
            for system_id, count in sorted(state.pooled.items()):
                pooled.add_metric([name, system_id], count)
            circuits.add_metric([name], len(state.open_circuits))
            for system_id in sorted(state.open_circuits):
                open_systems.add_metric([name, system_id], 1)
        yield pooled
        yield circuits
        yield open_systems


async def publish_snapshot(
    redis: Redis, worker_id: str, snapshot: bytes, ttl_seconds: float
) -> None:
    """Store a worker's snapshot for ttl_seconds (its heartbeat's time to live)."""
    now = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(SNAPSHOT_KEY + worker_id, snapshot, px=max(1, int(ttl_seconds * 1000)))
        pipe.zadd(SNAPSHOT_INDEX, {worker_id: now})
        pipe.zremrangebyscore(SNAPSHOT_INDEX, "-inf", now - INDEX_HORIZON_SECONDS)
        await pipe.execute()


async def withdraw_snapshot(redis: Redis, worker_id: str) -> None:
    """A worker stopping cleanly: its series end now, not when the key expires."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(SNAPSHOT_KEY + worker_id)
        pipe.zrem(SNAPSHOT_INDEX, worker_id)
        await pipe.execute()


async def read_snapshots(redis: Redis) -> dict[str, str]:
    """Every live worker's snapshot, by worker id."""
    ids = [each.decode() for each in await redis.zrange(SNAPSHOT_INDEX, 0, -1)]
    if not ids:
        return {}
    values = await redis.mget([SNAPSHOT_KEY + each for each in ids])
    return {
        worker_id: value.decode() for worker_id, value in zip(ids, values, strict=True) if value
    }


@dataclass
class _Database:
    executions: dict[ExecutionStatus, int]
    jobs: dict[JobStatus, int]
    live_workers: int


@dataclass
class _Redis:
    queue_depth: int
    snapshots: dict[str, str]


async def _bounded(what: str, work: Awaitable[T], limit: float) -> T | None:
    try:
        return await asyncio.wait_for(work, limit)
    except Exception as exc:  # unreachable, slow, or failing: report the rest without it
        reason = f"no answer within {limit:g}s" if isinstance(exc, TimeoutError) else None
        log.warning("metrics: %s unavailable (%s)", what, reason or safe_reason(exc))
        return None


async def scrape(
    api: ApiMetrics,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
    *,
    heartbeat_ttl_seconds: float,
    check_timeout: float,
) -> bytes:
    """The whole exposition: this process's series, then the fleet's."""

    async def database() -> _Database:
        async with sessionmaker() as session:
            return _Database(
                await metrics_repo.live_executions(session),
                await metrics_repo.live_jobs(session),
                await metrics_repo.live_workers(session, heartbeat_ttl_seconds),
            )

    async def store() -> _Redis:
        depth = await redis.zcard(QUEUE_NAME)
        return _Redis(int(depth), await read_snapshots(redis))

    db, queue = await asyncio.gather(
        _bounded("PostgreSQL", database(), check_timeout),
        _bounded("Redis", store(), check_timeout),
    )
    families = _fleet_families(db, queue)
    taken = api.names | {family.name for family in families}
    workers = merge_snapshots(queue.snapshots if queue else {}, WORKER_LABEL, taken)
    families.extend(workers)
    systems = _system_ids(workers)
    if db is not None and systems:
        names = await _bounded("PostgreSQL", _names(sessionmaker, systems), check_timeout)
        if names:
            info = GaugeMetricFamily(
                "orca_system_info",
                "1 for each system the workers' series name by id, with its name: join on "
                "system_id to show names.",
                labels=["system_id", "system"],
            )
            for system_id, name in sorted(names.items()):
                info.add_metric([str(system_id), name], 1)
            families.append(info)
    fleet = CollectorRegistry(auto_describe=False)
    fleet.register(Families(families))
    return generate_latest(api.registry) + generate_latest(fleet)


def _fleet_families(db: _Database | None, queue: _Redis | None) -> list[Metric]:
    up = GaugeMetricFamily(
        "orca_dependency_up",
        "1 when the dependency answered this scrape, 0 when it did not (its series are "
        "missing from this scrape).",
        labels=["dependency"],
    )
    up.add_metric(["postgresql"], 1 if db is not None else 0)
    up.add_metric(["redis"], 1 if queue is not None else 0)
    families: list[Metric] = [up]
    if db is not None:
        executions = GaugeMetricFamily(
            "orca_executions_live",
            "Executions now in each live state (pending, queued, running), fleet-wide.",
            labels=["status"],
        )
        for status, count in db.executions.items():
            executions.add_metric([status.value], count)
        jobs = GaugeMetricFamily(
            "orca_jobs_live",
            "Jobs not finished yet, by status (pending, running), fleet-wide.",
            labels=["status"],
        )
        for job_status, count in db.jobs.items():
            jobs.add_metric([job_status.value], count)
        workers = GaugeMetricFamily(
            "orca_workers_live",
            "Workers whose last heartbeat is within ORCA_WORKER_HEARTBEAT_TTL_SECONDS.",
            value=db.live_workers,
        )
        families.extend([executions, jobs, workers])
    if queue is not None:
        families.append(
            GaugeMetricFamily(
                "orca_queue_depth",
                "Tasks waiting in the arq queue for a worker to take them.",
                value=queue.queue_depth,
            )
        )
    return families


def _system_ids(families: list[Metric]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for family in families:
        for sample in family.samples:
            raw = sample.labels.get("system_id")
            if raw:
                try:
                    found.add(uuid.UUID(raw))
                except ValueError:
                    continue
    return found


async def _names(
    sessionmaker: async_sessionmaker[AsyncSession], ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    async with sessionmaker() as session:
        return await metrics_repo.system_names(session, ids)
