"""The scheduler: due times in time zones, and each due time dispatched exactly once, however
many ticks race for it and whatever happened while no worker ran."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from app.core.errors import BadRequest
from app.models import AuditEvent, Job, Schedule, ScheduleRun, User
from app.models.enums import Role
from app.services import schedules
from app.services.schedules import Cron
from tests.fixtures.engine import Engine

SCHEDULES = "/api/v1/schedules"
TEMPLATES = "/api/v1/templates"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# Due times ---------------------------------------------------------------------------------


def test_due_times_follow_the_time_zone_across_daylight_saving() -> None:
    berlin = Cron.parse("30 2 * * *", "Europe/Berlin")
    # Spring forward: 02:30 does not exist that night; it runs at 03:00 local (01:00 UTC).
    assert berlin.upcoming(_utc(2026, 3, 28, 12), 2) == [
        _utc(2026, 3, 29, 1, 0),
        _utc(2026, 3, 30, 0, 30),
    ]
    # Fall back: 02:30 happens twice that night; a fixed-time schedule runs once.
    assert berlin.upcoming(_utc(2026, 10, 24, 12), 2) == [
        _utc(2026, 10, 25, 0, 30),
        _utc(2026, 10, 26, 1, 30),
    ]
    # An interval keeps its pace through the repeated hour instead.
    every = Cron.parse("0 * * * *", "Europe/Berlin")
    assert every.upcoming(_utc(2026, 10, 24, 23, 30), 3) == [
        _utc(2026, 10, 25, 0),
        _utc(2026, 10, 25, 1),
        _utc(2026, 10, 25, 2),
    ]
    weekdays = Cron.parse("0 9 * * 1-5", "America/New_York")
    assert weekdays.next_after(_utc(2026, 11, 20, 15)) == _utc(2026, 11, 23, 14)  # Fri → Mon
    assert Cron.parse("@daily", "UTC").next_after(_utc(2026, 1, 1, 0)) == _utc(2026, 1, 2)
    # Strictly after: a moment that is itself a due time gives the next one.
    assert Cron.parse("*/5 * * * *", "UTC").next_after(_utc(2026, 1, 1, 0, 5)) == _utc(
        2026, 1, 1, 0, 10
    )


@pytest.mark.parametrize(
    ("expression", "timezone", "field", "words"),
    [
        ("* * * *", "UTC", "cron", "five fields"),
        ("* * * * * *", "UTC", "cron", "seconds"),
        ("61 * * * *", "UTC", "cron", "not a cron expression"),
        ("0 0 31 2 *", "UTC", "cron", "never due"),
        ("@often", "UTC", "cron", "unknown macro"),
        ("0 3 * * *", "Mars/Olympus", "timezone", "IANA"),
        ("0 3 * * *", "../../etc/passwd", "timezone", "IANA"),
    ],
)
def test_bad_expressions_and_zones_name_their_field(
    expression: str, timezone: str, field: str, words: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        Cron.parse(expression, timezone)
    assert caught.value.details[0]["field"] == field
    assert words in caught.value.message


# Dispatching -----------------------------------------------------------------------------------


async def _scheduled(orca: Engine, **extra: Any) -> dict[str, Any]:
    system = await orca.local_system(f"h-{uuid.uuid4().hex[:4]}")
    template = await orca.post(
        TEMPLATES,
        {
            "name": f"t-{uuid.uuid4().hex[:6]}",
            "command": "echo {{ word }}",
            "shell": "sh",
            "targets": {"systems": [system["name"]]},
            "parameters": [{"name": "word", "type": "string"}],
        },
    )
    body = {
        "name": f"s-{uuid.uuid4().hex[:6]}",
        "template": template["name"],
        "cron": "*/10 * * * *",
        "parameters": {"word": "tick"},
        "skip_if_running": False,
        **extra,
    }
    return dict(await orca.post(SCHEDULES, body))


async def _due_at(orca: Engine, schedule_id: str, moment: datetime) -> None:
    async with orca.live.session() as session:
        await session.execute(
            update(Schedule).where(Schedule.id == uuid.UUID(schedule_id)).values(next_run_at=moment)
        )
        await session.commit()


async def _runs(orca: Engine, schedule_id: str) -> list[ScheduleRun]:
    async with orca.live.session() as session:
        result = await session.execute(
            select(ScheduleRun)
            .where(ScheduleRun.schedule_id == uuid.UUID(schedule_id))
            .order_by(ScheduleRun.due_at)
        )
        return list(result.scalars())


async def _jobs_of(orca: Engine, schedule_id: str) -> int:
    async with orca.live.session() as session:
        count = await session.scalar(
            select(func.count()).where(Job.schedule_id == uuid.UUID(schedule_id))
        )
    return int(count or 0)


def _tick(orca: Engine, now: datetime) -> Any:
    state = orca.live.app.state
    return schedules.dispatch_due(state.sessionmaker, state.dispatcher, state.vault, now=now)


async def test_racing_ticks_dispatch_a_due_time_once(idle_orca: Engine) -> None:
    orca = idle_orca
    schedule = await _scheduled(orca)
    due = _utc(2026, 11, 23, 10, 0)
    await _due_at(orca, schedule["id"], due)
    ticks = await asyncio.gather(*(_tick(orca, due + timedelta(seconds=5)) for _ in range(6)))
    assert sum(tick.launched for tick in ticks) == 1
    (run,) = await _runs(orca, schedule["id"])
    assert run.due_at == due and run.status == "launched" and run.message is None
    assert await _jobs_of(orca, schedule["id"]) == 1
    job = await orca.job(str(run.job_id))
    assert job["schedule_id"] == schedule["id"] and job["command"] == "echo tick"
    assert job["created_by_username"] == "boss"  # as its owner
    shown = await orca.get(f"{SCHEDULES}/{schedule['id']}")
    assert shown["next_run_at"].startswith("2026-11-23T10:10:00")
    assert shown["last_run"]["job_id"] == str(run.job_id)
    # Ticking again at the same moment, or later before the next due time, does nothing.
    again = await _tick(orca, due + timedelta(minutes=9))
    assert again.launched == 0 and len(await _runs(orca, schedule["id"])) == 1


async def test_a_tick_that_dies_before_its_commit_leaves_the_due_time_to_the_next(
    idle_orca: Engine,
) -> None:
    orca = idle_orca
    schedule = await _scheduled(orca)
    due = _utc(2026, 11, 23, 10, 0)
    await _due_at(orca, schedule["id"], due)
    # A worker holds the schedule mid-dispatch: other ticks pass it by rather than wait.
    dying = orca.live.session()
    await dying.execute(
        select(Schedule).where(Schedule.id == uuid.UUID(schedule["id"])).with_for_update()
    )
    pid = await dying.scalar(text("SELECT pg_backend_pid()"))
    passed_by = await asyncio.wait_for(_tick(orca, due + timedelta(seconds=1)), 10)
    assert passed_by.launched == 0 and passed_by.schedules == 0
    # Then it dies: its connection goes, and what it held with it.
    async with orca.live.session() as session:
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(Exception):  # noqa: B017 - its connection is gone, whatever it raises
        await dying.commit()
    await dying.close()
    after = await _tick(orca, due + timedelta(seconds=2))
    assert after.launched == 1
    assert [run.status for run in await _runs(orca, schedule["id"])] == ["launched"]


@pytest.mark.parametrize(("policy", "launched"), [("skip", 0), ("run_once", 1)])
async def test_due_times_missed_while_no_worker_ran_follow_the_policy(
    idle_orca: Engine, policy: str, launched: int
) -> None:
    orca = idle_orca
    schedule = await _scheduled(orca, missed_policy=policy, grace_seconds=60)
    first = _utc(2026, 11, 23, 10, 0)
    await _due_at(orca, schedule["id"], first)
    tick = await _tick(orca, first + timedelta(minutes=35))  # 10:00 .. 10:30 passed
    runs = await _runs(orca, schedule["id"])
    assert [run.due_at.minute for run in runs] == [0, 10, 20, 30]
    expected = ["missed"] * 4 if policy == "skip" else ["missed"] * 3 + ["launched"]
    assert [run.status for run in runs] == expected
    assert tick.launched == launched and await _jobs_of(orca, schedule["id"]) == launched
    if launched:
        assert runs[-1].message is not None and "late by 300s" in runs[-1].message
    assert all("grace period" in (run.message or "") for run in runs if run.status == "missed")
    shown = await orca.get(f"{SCHEDULES}/{schedule['id']}")
    assert shown["next_run_at"].startswith("2026-11-23T10:40:00")
    async with orca.live.session() as session:
        (audited,) = (
            await session.execute(
                select(AuditEvent.details).where(AuditEvent.action == "schedule.missed")
            )
        ).scalars()
    assert audited["missed"] == 4 - launched


async def test_on_time_due_times_queued_up_launch_only_the_latest(idle_orca: Engine) -> None:
    orca = idle_orca
    schedule = await _scheduled(orca, grace_seconds=3600)
    first = _utc(2026, 11, 23, 10, 0)
    await _due_at(orca, schedule["id"], first)
    tick = await _tick(orca, first + timedelta(minutes=25))
    assert tick.launched == 1
    assert [run.status for run in await _runs(orca, schedule["id"])] == [
        "missed",
        "missed",
        "launched",
    ]


async def test_a_running_job_skips_the_next_due_time_when_asked(idle_orca: Engine) -> None:
    orca = idle_orca
    schedule = await _scheduled(orca)
    patched = await orca.client.patch(
        f"{SCHEDULES}/{schedule['id']}", json={"skip_if_running": True}, headers=orca.admin.headers
    )
    assert patched.status_code == 200, patched.text
    first = _utc(2026, 11, 23, 10, 0)
    await _due_at(orca, schedule["id"], first)
    assert (await _tick(orca, first + timedelta(seconds=1))).launched == 1
    # No worker runs, so the job is still pending at the next due time.
    second = await _tick(orca, first + timedelta(minutes=10, seconds=1))
    assert second.skipped == 1 and second.launched == 0
    runs = await _runs(orca, schedule["id"])
    assert [run.status for run in runs] == ["launched", "skipped"]
    assert runs[1].job_id == runs[0].job_id and "still running" in (runs[1].message or "")


async def test_an_owner_who_lost_access_makes_the_run_fail_not_launch(idle_orca: Engine) -> None:
    orca = idle_orca
    schedule = await _scheduled(orca)
    first = _utc(2026, 11, 23, 10, 0)
    await _due_at(orca, schedule["id"], first)
    async with orca.live.session() as session:
        await session.execute(update(User).where(User.username == "boss").values(is_active=False))
        await session.commit()
    tick = await _tick(orca, first + timedelta(seconds=1))
    assert tick.failed == 1 and tick.launched == 0
    (run,) = await _runs(orca, schedule["id"])
    assert run.status == "failed" and run.job_id is None and "deactivated" in (run.message or "")
    assert await _jobs_of(orca, schedule["id"]) == 0
    async with orca.live.session() as session:
        actions = list(
            (
                await session.execute(
                    select(AuditEvent.action).where(
                        AuditEvent.target_id == schedule["id"],
                        AuditEvent.action != "schedule.create",
                    )
                )
            ).scalars()
        )
        # The failed launch left nothing else behind: no job, no job.create row.
        created = await session.scalar(
            select(func.count()).where(AuditEvent.action == "job.create")
        )
    assert actions == ["schedule.failed"] and created == 0


async def test_a_template_changed_under_a_schedule_fails_its_runs_naming_the_parameter(
    idle_orca: Engine,
) -> None:
    orca = idle_orca
    schedule = await _scheduled(orca)
    template_id = schedule["template_id"]
    response = await orca.client.patch(
        f"{TEMPLATES}/{template_id}",
        json={"parameters": [{"name": "word", "type": "integer"}]},
        headers=orca.admin.headers,
    )
    assert response.status_code == 200, response.text
    first = _utc(2026, 11, 23, 10, 0)
    await _due_at(orca, schedule["id"], first)
    assert (await _tick(orca, first)).failed == 1
    (run,) = await _runs(orca, schedule["id"])
    assert run.status == "failed" and "parameters.word" in (run.message or "")


async def test_roles_cannot_be_dodged_through_an_admin_made_schedule(idle_orca: Engine) -> None:
    orca = idle_orca
    schedule = await _scheduled(orca)
    async with orca.live.session() as session:
        await session.execute(update(User).where(User.username == "boss").values(role=Role.viewer))
        await session.commit()
    first = _utc(2026, 11, 23, 10, 0)
    await _due_at(orca, schedule["id"], first)
    assert (await _tick(orca, first)).failed == 1
    (run,) = await _runs(orca, schedule["id"])
    assert run.status == "failed" and "launch" in (run.message or "")
