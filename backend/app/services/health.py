"""Readiness: is each thing Orca depends on reachable right now?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import safe_reason
from app.repositories import workers as workers_repo


@dataclass
class Check:
    ok: bool
    latency_ms: float
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


async def _timed(probe: Callable[[], Awaitable[dict[str, Any]]], limit: float) -> Check:
    started = time.perf_counter()
    try:
        info = await asyncio.wait_for(probe(), limit)
    except TimeoutError:
        return Check(False, _ms(started), f"no answer within {limit:g}s")
    except Exception as exc:  # any failure to reach it means "not ready"; say which kind
        return Check(False, _ms(started), safe_reason(exc))
    ok = bool(info.pop("ok", True))
    return Check(ok, _ms(started), None if ok else info.pop("error", "failed"), info)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def readiness(
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
    *,
    heartbeat_ttl_seconds: float,
    check_timeout: float,
) -> dict[str, Check]:
    async def database() -> dict[str, Any]:
        async with sessionmaker() as session:
            await session.execute(text("SELECT 1"))
        return {}

    async def redis_ping() -> dict[str, Any]:
        await redis.ping()
        return {}

    async def worker() -> dict[str, Any]:
        async with sessionmaker() as session:
            live = await workers_repo.live(session, heartbeat_ttl_seconds)
        if not live:
            return {
                "ok": False,
                "error": f"no worker heartbeat in the last {heartbeat_ttl_seconds:g}s",
                "live_workers": 0,
            }
        return {"live_workers": len(live)}

    results = await asyncio.gather(
        _timed(database, check_timeout),
        _timed(redis_ping, check_timeout),
        _timed(worker, check_timeout),
    )
    checks = dict(zip(("database", "redis", "worker"), results, strict=True))
    if not checks["database"].ok:
        # Heartbeats live in the database: without it the worker check cannot say anything.
        checks["worker"] = Check(False, checks["worker"].latency_ms, "database unavailable")
    return checks
