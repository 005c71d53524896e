"""Prometheus metrics: `GET /metrics` in the text exposition format (see services/metrics.py).

Not in the OpenAPI document: it is text for Prometheus, not part of the generated client."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import RedisDep, SettingsDep
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.auth.scrape import scrape_or
from app.services import metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def read_metrics(
    caller: Annotated[Principal | None, scrape_or(Permission.metrics_read)],
    request: Request,
    settings: SettingsDep,
    redis: RedisDep,
) -> Response:
    """This API process's series and the fleet's: gauges read from PostgreSQL and Redis now,
    and every live worker's last snapshot. Answers even when either store is down, with
    `orca_dependency_up` saying which."""
    body = await metrics.scrape(
        request.app.state.metrics,
        request.app.state.sessionmaker,
        redis,
        heartbeat_ttl_seconds=settings.worker_heartbeat_ttl_seconds,
        check_timeout=settings.readiness_timeout_seconds,
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
