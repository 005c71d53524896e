"""Live events: what changed, published on Redis pub/sub after the change is committed.

Channels:
    orca:job:<job id>   every state change of the job's executions, and their output chunks
    orca:jobs           every change of any job (the feed), numbered by `event_seq`
    orca:cancel         execution ids a worker should stop (each worker listens)

Events are level-triggered where they can be: an execution event carries the execution's whole
state and its `version`, a job event the job's whole state and its `seq`, so a receiver keeps
the highest version it has seen and missing one in between loses nothing. Output chunks carry
their `seq`; a receiver that sees a jump fetches the gap from PostgreSQL (see api/ws.py).
Redis pub/sub delivers at most once: nothing here is the record, PostgreSQL is.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from app.models import Execution, Job, OutputChunk

FEED_CHANNEL = "orca:jobs"
CANCEL_CHANNEL = "orca:cancel"
JOB_CHANNEL_PREFIX = "orca:job:"


def job_channel(job_id: uuid.UUID | str) -> str:
    return f"{JOB_CHANNEL_PREFIX}{job_id}"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def execution_event(execution: Execution) -> dict[str, Any]:
    return {
        "type": "execution",
        "job_id": str(execution.job_id),
        "execution_id": str(execution.id),
        "system_id": str(execution.system_id) if execution.system_id else None,
        "system_name": execution.system_name,
        "position": execution.position,
        "status": execution.status.value,
        "version": execution.version,
        "attempt": execution.attempt,
        "exit_code": execution.exit_code,
        "signal": execution.signal,
        "error_code": execution.error_code,
        "error_reason": execution.error_reason,
        "error_message": execution.error_message,
        "queued_at": _time(execution.queued_at),
        "started_at": _time(execution.started_at),
        "finished_at": _time(execution.finished_at),
        "output_seq": execution.output_seq,
        "output_bytes": execution.output_bytes,
        "output_dropped_bytes": execution.output_dropped_bytes,
        "cancel_requested": execution.cancel_requested_at is not None,
    }


def job_event(job: Job, counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "job",
        "job_id": str(job.id),
        "seq": job.event_seq,
        "name": job.name,
        "status": job.status.value,
        "priority": job.priority,
        "target_count": job.target_count,
        "created_by_id": str(job.created_by_id) if job.created_by_id else None,
        "created_by_username": job.created_by_username,
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "cancel_requested": job.cancel_requested_at is not None,
        "threshold_reached": job.threshold_reached_at is not None,
    }
    if counts is not None:
        event["counts"] = dict(counts)
    return event


def decode_output(data: bytes) -> str:
    """Chunks are cut on UTF-8 character boundaries, so each decodes alone; bytes that are not
    UTF-8 at all show as U+FFFD (the raw download keeps them exactly)."""
    return bytes(data).decode("utf-8", errors="replace")


def output_event(job_id: uuid.UUID, chunk: OutputChunk) -> dict[str, Any]:
    return {
        "type": "output",
        "job_id": str(job_id),
        "execution_id": str(chunk.execution_id),
        "seq": chunk.seq,
        "stream": chunk.stream.value,
        "data": decode_output(chunk.data),
    }


def _dumps(event: Mapping[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


async def publish(redis: Redis, channel: str, events: Iterable[Mapping[str, Any]]) -> None:
    """Publish `events` in order on `channel`, in one round trip."""
    batch = [_dumps(event) for event in events]
    if not batch:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for message in batch:
            pipe.publish(channel, message)
        await pipe.execute()


async def publish_executions(
    redis: Redis, executions: Iterable[Execution], jobs: Iterable[Job] = ()
) -> None:
    """The new state of `executions` on their jobs' channels, and of `jobs` on the feed."""
    async with redis.pipeline(transaction=False) as pipe:
        for execution in executions:
            pipe.publish(job_channel(execution.job_id), _dumps(execution_event(execution)))
        for job in jobs:
            event = _dumps(job_event(job))
            pipe.publish(job_channel(job.id), event)
            pipe.publish(FEED_CHANNEL, event)
        await pipe.execute()


async def request_cancel(redis: Redis, execution_ids: Iterable[uuid.UUID]) -> None:
    ids = [str(each) for each in execution_ids]
    if ids:
        await redis.publish(CANCEL_CHANNEL, _dumps({"execution_ids": ids}))
