"""The dashboard overview: counts by status and over time, within what the caller may see."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Execution, Job, System
from app.models.enums import GrantLevel, HealthStatus, Role
from tests.fixtures.auth import Account, MakeAccount
from tests.fixtures.systems import MakeGroup, MakeSystem, grant_to

OVERVIEW = "/api/v1/stats/overview"


async def test_the_overview_counts_what_the_caller_may_see(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin: Account,
    make_account: MakeAccount,
    make_group: MakeGroup,
    make_system: MakeSystem,
) -> None:
    web = await make_group("web")
    for name in ("web-1", "web-2"):
        await make_system(name, groups=(web,))
    db = await make_system("db-1")
    await session.execute(
        update(System).where(System.id == db.id).values(health_status=HealthStatus.unreachable)
    )
    job = (
        await client.post(
            "/api/v1/jobs",
            json={"command": "ls", "targets": {"systems": ["web-1", "web-2", "db-1"]}},
            headers=admin.headers,
        )
    ).json()
    # Two hours ago, one of them failed; the others are still pending now.
    await session.execute(
        update(Execution)
        .where(Execution.job_id == job["id"], Execution.system_name == "web-2")
        .values(status="failed", created_at=func.now() - timedelta(hours=2))
    )
    old = await client.post(
        "/api/v1/jobs",
        json={"command": "ls", "targets": {"systems": ["db-1"]}},
        headers=admin.headers,
    )
    await session.execute(
        update(Execution)
        .where(Execution.job_id == old.json()["id"])
        .values(created_at=func.now() - timedelta(days=3))
    )
    await session.execute(
        update(Job)
        .where(Job.id == old.json()["id"])
        .values(created_at=func.now() - timedelta(days=3))
    )

    response = await client.get(OVERVIEW, headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bucket_seconds"] == 3600 and len(body["timeline"]) == 24
    assert body["executions"] == {
        "pending": 2,
        "queued": 0,
        "running": 0,
        "succeeded": 0,
        "failed": 1,
        "timed_out": 0,
        "error": 0,
        "cancelled": 0,
    }
    assert body["timeline"][-1]["counts"] == {"pending": 2}
    assert body["timeline"][-3]["counts"] == {"failed": 1}
    assert sum(sum(b["counts"].values()) for b in body["timeline"]) == 3
    assert body["jobs"]["pending"] == 1 and body["active_jobs"] == 2
    assert body["systems"]["unreachable"] == 1 and body["systems"]["unknown"] == 2

    week = (await client.get(OVERVIEW, params={"hours": 168}, headers=admin.headers)).json()
    assert week["bucket_seconds"] == 86400 and len(week["timeline"]) == 7
    assert sum(week["executions"].values()) == 4 and week["jobs"]["pending"] == 2

    # A viewer granted the web group sees its systems and their executions only.
    viewer = await make_account(Role.viewer)
    await grant_to(session, viewer, web, GrantLevel.view)
    seen = (await client.get(OVERVIEW, headers=viewer.headers)).json()
    assert seen["executions"]["pending"] == 1 and seen["executions"]["failed"] == 1
    assert sum(seen["systems"].values()) == 2
    assert seen["active_jobs"] == 1

    for bad in ("0", "721", "x"):
        refused = await client.get(OVERVIEW, params={"hours": bad}, headers=admin.headers)
        assert refused.status_code == 422 and "hours" in str(refused.json()["error"]), bad


async def test_an_account_with_no_grants_sees_zeros(
    client: httpx.AsyncClient, make_account: MakeAccount, make_system: MakeSystem
) -> None:
    await make_system("web-1")
    operator: Account = await make_account(Role.operator)
    body = (await client.get(OVERVIEW, headers=operator.headers)).json()
    assert sum(body["executions"].values()) == 0 and sum(body["systems"].values()) == 0
