"""The worker processes: who is alive, how loaded, which are shutting down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter

from app.api.deps import SessionDep, SettingsDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.repositories import workers as workers_repo
from app.schemas.jobs import WorkerOut

router = APIRouter(prefix="/workers", tags=["workers"])


@router.get("", response_model=list[WorkerOut], summary="List workers")
async def list_workers(
    principal: Annotated[Principal, requires(Permission.workers_read)],
    session: SessionDep,
    settings: SettingsDep,
) -> list[WorkerOut]:
    """Every worker that reported in the last day, newest first; `alive` when its last
    heartbeat is within ORCA_WORKER_HEARTBEAT_TTL_SECONDS."""
    now = datetime.now(UTC)
    ttl = timedelta(seconds=settings.worker_heartbeat_ttl_seconds)
    rows = await workers_repo.recent(session, timedelta(days=1))
    return [
        WorkerOut(
            worker_id=row.worker_id,
            hostname=row.hostname,
            pid=row.pid,
            version=row.version,
            max_jobs=row.max_jobs,
            running_jobs=row.running_jobs,
            draining=row.draining,
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            alive=now - row.last_seen_at < ttl,
        )
        for row in rows
    ]
