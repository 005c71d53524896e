"""Worker snapshots in real Redis: published with their heartbeat's time to live, gone when it
lapses or the worker withdraws; merged into one family per name with a `worker` label."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from app.core.metrics import Families, merge_snapshots
from app.services import metrics


def _snapshot(count: float) -> str:
    registry = CollectorRegistry()
    Counter("orca_things", "Things.", ["kind"], registry=registry).labels("a").inc(count)
    return generate_latest(registry).decode()


async def test_a_snapshot_lives_as_long_as_its_heartbeat(redis: Redis) -> None:
    await metrics.publish_snapshot(redis, "w-short", _snapshot(1).encode(), ttl_seconds=0.3)
    await metrics.publish_snapshot(redis, "w-long", _snapshot(2).encode(), ttl_seconds=30)
    assert set(await metrics.read_snapshots(redis)) == {"w-short", "w-long"}
    await asyncio.sleep(0.5)  # w-short died without a word: its key lapsed
    assert set(await metrics.read_snapshots(redis)) == {"w-long"}
    await metrics.withdraw_snapshot(redis, "w-long")
    assert await metrics.read_snapshots(redis) == {}
    assert await redis.zcard(metrics.SNAPSHOT_INDEX) == 1  # w-short's entry, pruned in time


async def test_snapshots_merge_into_one_family_per_name() -> None:
    registry = CollectorRegistry()
    Counter("orca_taken", "Ours already.", registry=registry).inc()
    snapshots = {
        "w1": _snapshot(1) + generate_latest(registry).decode(),
        "w2": _snapshot(5),
        "broken": "orca_things_total{kind= 1\n",
    }
    families = merge_snapshots(snapshots, "worker", taken={"orca_taken"})
    assert [family.name for family in families] == ["orca_things"]
    (family,) = families
    assert {(s.labels["worker"], s.labels["kind"], s.value) for s in family.samples} == {
        ("w1", "a", 1.0),
        ("w2", "a", 5.0),
    }
    # What comes out is valid exposition again.
    out = CollectorRegistry(auto_describe=False)
    out.register(Families(families))
    (parsed,) = text_string_to_metric_families(generate_latest(out).decode())
    assert parsed.name == "orca_things" and len(parsed.samples) == 2
