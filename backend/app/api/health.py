"""Liveness and readiness probes (no authentication: load balancers and orchestrators call them)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app import __version__
from app.api.deps import RedisDep, SettingsDep
from app.core.errors import error_body
from app.services import health

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: str
    version: str


class CheckResult(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None
    info: dict[str, Any] = {}


class Readiness(BaseModel):
    status: str
    checks: dict[str, CheckResult]


@router.get("/healthz", response_model=Liveness, summary="Liveness")
async def healthz() -> Liveness:
    """The API process is up and serving requests. Checks nothing else."""
    return Liveness(status="ok", version=__version__)


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    responses={503: {"description": "Not ready: the error body's details carry every check."}},
)
async def readyz(request: Request, settings: SettingsDep, redis: RedisDep) -> Any:
    """Ready when PostgreSQL and Redis answer and at least one worker has a fresh heartbeat."""
    checks = await health.readiness(
        request.app.state.sessionmaker,
        redis,
        heartbeat_ttl_seconds=settings.worker_heartbeat_ttl_seconds,
        check_timeout=settings.readiness_timeout_seconds,
    )
    rendered = {name: asdict(check) for name, check in checks.items()}
    failing = [name for name, check in checks.items() if not check.ok]
    if failing:
        reasons = "; ".join(f"{name}: {checks[name].error}" for name in failing)
        return JSONResponse(
            error_body("not_ready", f"Not ready ({reasons})", {"checks": rendered}),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return Readiness(status="ready", checks={k: CheckResult(**v) for k, v in rendered.items()})
