"""The dashboard's overview, counted in SQL over what the caller may see: executions of their
own jobs and on systems they can view, the same rule as the job pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.models.enums import ExecutionStatus, GrantLevel, HealthStatus, JobStatus
from app.repositories import stats as stats_repo
from app.schemas.stats import Overview, TimelineBucket
from app.services import access
from app.services import jobs as jobs_service

# Hourly buckets up to two days, then daily ones: at most 48 bars either way (30 days max).
HOURLY_UP_TO = 48


def _every(
    names: type[ExecutionStatus | JobStatus | HealthStatus], counts: dict[str, int]
) -> dict[str, int]:
    return {member.value: counts.get(member.value, 0) for member in names}


async def overview(
    session: AsyncSession, principal: Principal, hours: int, now: datetime | None = None
) -> Overview:
    # The database's clock, which stamped every created_at counted here.
    now = now or await stats_repo.database_now(session)
    bucket_seconds = 3600 if hours <= HOURLY_UP_TO else 86400
    # Whole buckets, the last one ending at the next bucket boundary after now.
    end = datetime.fromtimestamp((now.timestamp() // bucket_seconds + 1) * bucket_seconds, tz=UTC)
    buckets = -(-hours * 3600 // bucket_seconds)
    since = end - timedelta(seconds=buckets * bucket_seconds)

    rows = await stats_repo.executions_by_bucket(
        session, since, bucket_seconds, jobs_service.visible_executions_filter(principal)
    )
    timeline = [
        TimelineBucket(start=since + timedelta(seconds=i * bucket_seconds), counts={})
        for i in range(buckets)
    ]
    totals: dict[str, int] = {}
    for index, status, count in rows:
        totals[status] = totals.get(status, 0) + count
        if 0 <= index < buckets:
            counts = timeline[index].counts
            counts[status] = counts.get(status, 0) + count

    visible_jobs = jobs_service.jobs_filter(principal)
    return Overview(
        since=since,
        until=end,
        bucket_seconds=bucket_seconds,
        executions=_every(ExecutionStatus, totals),
        timeline=timeline,
        jobs=_every(JobStatus, await stats_repo.jobs_by_status(session, since, visible_jobs)),
        active_jobs=await stats_repo.active_jobs(session, visible_jobs),
        systems=_every(
            HealthStatus,
            await stats_repo.systems_by_health(
                session, access.systems_filter(principal, GrantLevel.view)
            ),
        ),
    )
