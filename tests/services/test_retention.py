"""Retention: old output and old finished jobs go, in batches, with a dry run first and one
audit row after; recent work and the audit log stay."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from app.models import AuditEvent, Execution, Job, OutputChunk
from app.services import retention
from tests.fixtures.engine import Engine
from tests.test_cli import _orca


async def _finished_job(orca: Engine, systems: list[str], days_ago: float) -> dict[str, str]:
    job = await orca.submit(
        {"command": "echo some output; echo more >&2", "targets": {"systems": systems}}
    )
    assert (await orca.finished(job["id"]))["status"] == "succeeded"
    async with orca.live.session() as session:
        await session.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job["id"]))
            .values(finished_at=func.now() - timedelta(days=days_ago))
        )
        await session.commit()
    return job


async def _count(orca: Engine, model: type, *where: object) -> int:
    async with orca.live.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_retention_removes_old_output_and_old_jobs_in_batches(orca: Engine) -> None:
    names = ["r1", "r2", "r3"]
    for name in names:
        await orca.local_system(name)
    ancient = await _finished_job(orca, names, 40)  # past both ages: deleted
    old = await _finished_job(orca, names, 10)  # past the output age: output removed
    recent = await _finished_job(orca, names, 1)  # kept whole
    audit_rows = await _count(orca, AuditEvent)
    policy = retention.Policy(output_days=7, jobs_days=30, batch_size=2)

    async with orca.live.session() as session:
        dry = await retention.dry_run(session, policy)
    assert dry.dry_run
    assert dry.jobs_removed == 1 and dry.executions_removed == 3
    assert dry.executions_output_removed == 6  # ancient's and old's
    assert dry.output_bytes_removed == 6 * len("some output\nmore\n")
    assert await _count(orca, AuditEvent) == audit_rows  # a dry run changes nothing

    report = await retention.enforce(orca.live.app.state.sessionmaker, policy)
    assert report.complete and not report.dry_run
    assert (report.jobs_removed, report.executions_removed) == (1, 3)
    assert report.executions_output_removed == 6
    assert report.output_bytes_removed == dry.output_bytes_removed

    assert await _count(orca, Job, Job.id == uuid.UUID(ancient["id"])) == 0
    assert await _count(orca, Execution, Execution.job_id == uuid.UUID(ancient["id"])) == 0
    kept = await orca.job(old["id"])
    assert kept["output_purged_at"] is not None
    for execution in await orca.executions(old["id"]):
        assert execution["output"]["purged_at"] is not None
        assert execution["output"]["bytes"] == len("some output\nmore\n")  # what there was
        assert await orca.output(execution["id"]) == ""
    for execution in await orca.executions(recent["id"]):
        assert execution["output"]["purged_at"] is None
        assert await orca.output(execution["id"], "stdout") == "some output\n"
    assert (await orca.job(recent["id"]))["output_purged_at"] is None
    async with orca.live.session() as session:
        chunks = await session.scalar(
            select(func.count())
            .select_from(OutputChunk)
            .join(Execution, Execution.id == OutputChunk.execution_id)
            .where(Execution.job_id == uuid.UUID(old["id"]))
        )
        (purge,) = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "retention.purge"))
        ).scalars()
        # The deleted job's own history stays in the audit log.
        history = await session.scalar(
            select(func.count()).where(AuditEvent.target_id == ancient["id"])
        )
    assert chunks == 0 and history and history > 0
    assert purge.actor_username == "orca-retention"
    assert purge.details["jobs_removed"] == 1 and purge.details["executions_output_removed"] == 6
    assert await _count(orca, AuditEvent) == audit_rows + 1

    # Nothing is left to do; a second run removes nothing and writes no audit row.
    again = await retention.enforce(orca.live.app.state.sessionmaker, policy)
    assert not again.removed_anything
    assert await _count(orca, AuditEvent) == audit_rows + 1


async def test_the_audit_log_is_out_of_retentions_reach(orca: Engine) -> None:
    """Retention never deletes audit rows, and could not: the database refuses it."""
    await orca.local_system("a1")
    await _finished_job(orca, ["a1"], 400)
    before = await _count(orca, AuditEvent)
    report = await retention.enforce(orca.live.app.state.sessionmaker, retention.Policy(1, 1, 100))
    assert report.jobs_removed == 1
    assert await _count(orca, AuditEvent) == before + 1  # only its own row
    async with orca.live.session() as session:
        with pytest.raises(DBAPIError, match="audit_log is append-only: DELETE is not allowed"):
            await session.execute(text("DELETE FROM audit_log"))


async def test_the_cli_dry_run_reports_and_the_run_applies(
    orca: Engine, orca_env: dict[str, str]
) -> None:
    await orca.local_system("c1")
    await _finished_job(orca, ["c1"], 50)
    env = {
        **orca_env,
        "ORCA_DATABASE_URL": orca.live.database_url,
        "ORCA_RETENTION_JOBS_DAYS": "30",
    }
    dry = _orca(["retention", "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr
    assert "would remove" in dry.stdout and "1 job(s) with 1 execution(s)" in dry.stdout
    assert "audit log is always kept" in dry.stdout
    applied = _orca(["retention"], env)
    assert applied.returncode == 0, applied.stderr
    assert "removed: the output of 1 execution(s)" in applied.stdout
    assert "1 job(s) with 1 execution(s)" in applied.stdout
    unset = _orca(["retention"], {**env, "ORCA_RETENTION_JOBS_DAYS": "0"})
    assert unset.returncode == 1 and "no retention configured" in unset.stderr
