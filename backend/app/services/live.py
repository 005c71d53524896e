"""Live views for WebSocket clients: subscriptions, gapless replay, RBAC on every event.

One `LiveSession` per connected client. It owns one Redis pub/sub connection and subscribes
to the channels of the jobs the client follows (and to the feed of all jobs). Everything sent
goes through one ordered outbox, drained by a single sender, which keeps per execution the
highest state `version` and output `seq` the client has:

  - a state event older than what was sent is dropped (level-triggered: nothing is lost);
  - an output chunk at or below the sent seq is a duplicate and dropped; one beyond the next
    expected seq means some were missed (a replay racing live events, a pub/sub message lost),
    so the missing ones are read from PostgreSQL first. Chunks the cap deleted are reported as
    an `output.gap` with their seq range, never silently skipped.

So a client that subscribes with the last seq it holds gets every chunk after it exactly once,
in order: first from the database, then live. Subscribing to the channel happens before the
replay is read, so nothing falls between the two.

RBAC: a job is followed only if the user may see it, and only the executions on systems they
may see are sent; both are re-checked every `RECHECK_SECONDS`, together with the user's
account and session (a deactivated user or revoked session is disconnected). Feed events are
checked job by job. A client that does not keep up (its outbox over `MAX_OUTBOX_BYTES`) is
disconnected with close code 4008 rather than allowed to grow the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.principal import Principal
from app.core.db import run_after_rollback
from app.core.errors import BadRequest, OrcaError
from app.models import Execution, Job, OutputChunk
from app.repositories import jobs as jobs_repo
from app.repositories import output as output_repo
from app.services import events
from app.services import jobs as jobs_service

log = logging.getLogger("orca.live")

PING_SECONDS = 20.0
RECHECK_SECONDS = 15.0
MAX_OUTBOX_BYTES = 16 * 1024 * 1024
MAX_SUBSCRIPTIONS = 200
REPLAY_PAGE = 500
FEED_REPLAY_LIMIT = 1000
FEED_JOBS_REMEMBERED = 10000

# Close codes (4000-4999 belong to the application).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_SLOW_CONSUMER = 4008


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class _Follow:
    job_id: uuid.UUID
    visible: set[uuid.UUID] | None  # None: every execution of the job
    # Followed for itself (a subscribe by job_id), not only for some execution's output: ending
    # those outputs then leaves the job's state events flowing.
    whole_job: bool = False
    output_all: bool = False
    output_of: set[uuid.UUID] = field(default_factory=set)

    def wants_output(self, execution_id: uuid.UUID) -> bool:
        return self.output_all or execution_id in self.output_of

    def may_see(self, execution_id: uuid.UUID) -> bool:
        return self.visible is None or execution_id in self.visible


Send = Callable[[str], Awaitable[None]]
Recheck = Callable[[], Awaitable[Principal | None]]


class LiveSession:
    def __init__(
        self,
        principal: Principal,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        send: Send,
        recheck: Recheck,
    ) -> None:
        self.principal = principal
        self._sessionmaker = sessionmaker
        self._redis = redis
        self._send = send
        self._recheck = recheck
        self._follows: dict[uuid.UUID, _Follow] = {}
        self._feed = False
        self._feed_seq = 0  # the highest feed number sent: where a reconnect resumes
        self._feed_sent: dict[uuid.UUID, int] = {}  # per job, the feed number last sent
        self._feed_floor = 0  # what is at or below it was sent or is too old to matter
        self._feed_visible: dict[uuid.UUID, tuple[bool, float]] = {}
        self._sent_seq: dict[uuid.UUID, int] = {}
        self._sent_version: dict[uuid.UUID, int] = {}
        self._outbox: deque[tuple[str, Any, int]] = deque()
        self._outbox_bytes = 0
        self._wake = asyncio.Event()
        self._pubsub = redis.pubsub()
        self._pubsub_lock = asyncio.Lock()
        self._listening = asyncio.Event()
        self._confirmations: dict[str, asyncio.Future[None]] = {}

    # Running --------------------------------------------------------------------------------

    async def run(self, messages: Callable[[], Awaitable[str]]) -> Closed:
        """Serve until the client leaves or is closed; the close code and reason to send."""
        tasks = [
            asyncio.create_task(self._receive(messages), name="receive"),
            asyncio.create_task(self._listen(), name="listen"),
            asyncio.create_task(self._deliver(), name="deliver"),
            asyncio.create_task(self._keepalive(), name="keepalive"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = task.exception()
                if isinstance(error, Closed):
                    return error
                if error is not None:
                    log.warning("live session ended by %r", error)
            return Closed(1000, "bye")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _receive(self, messages: Callable[[], Awaitable[str]]) -> None:
        while True:
            text = await messages()
            try:
                message = json.loads(text)
                if not isinstance(message, dict):
                    raise ValueError
            except ValueError:
                self._post({"type": "error", "code": "bad_message", "message": "not a JSON object"})
                continue
            try:
                await self._handle(message)
            except OrcaError as error:
                await self._keep_refusal(error)
                self._post(
                    {
                        "type": "error",
                        "code": error.code,
                        "message": error.message,
                        "request": _echo(message),
                    }
                )

    async def _keep_refusal(self, error: OrcaError) -> None:
        """Write the audit row a refusal carries (a job out of reach), as a request would."""
        if not error.on_rollback:
            return
        try:
            async with self._sessionmaker() as session:
                await run_after_rollback(session, error)
        except Exception as exc:  # the database away: the client still hears the refusal
            log.warning("could not audit a refused subscription: %s", type(exc).__name__)

    async def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "ping":
            self._post({"type": "pong"})
        elif op == "pong":
            return
        elif op == "subscribe":
            await self._subscribe(message)
        elif op == "unsubscribe":
            await self._unsubscribe(message)
        else:
            raise BadRequest("op must be subscribe, unsubscribe or ping")

    # Subscribing ---------------------------------------------------------------------------

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if message.get("feed"):
            since = _int(message.get("after_seq"), "after_seq")
            await self._channel(events.FEED_CHANNEL, subscribe=True)
            self._feed = True
            if since is None:
                async with self._sessionmaker() as session:
                    since = await jobs_repo.latest_seq(session)
            self._feed_seq = max(self._feed_seq, since)
            self._post({"type": "subscribed", "feed": True, "seq": self._feed_seq})
            self._queue("feed_replay", None)
            return
        execution_id = _uuid(message.get("execution_id"), "execution_id")
        job_id = _uuid(message.get("job_id"), "job_id")
        if execution_id is None and job_id is None:
            raise BadRequest("subscribe to a job_id, an execution_id, or the feed")
        async with self._sessionmaker() as session:
            if execution_id is not None:
                _, job = await jobs_service.get_execution(session, self.principal, execution_id)
            else:
                assert job_id is not None
                job = await jobs_service.get(session, self.principal, job_id)
            visible = await self._visible_executions(session, job)
        if job.id not in self._follows and len(self._follows) >= MAX_SUBSCRIPTIONS:
            raise BadRequest(f"at most {MAX_SUBSCRIPTIONS} jobs at once")
        follow = self._follows.get(job.id) or _Follow(job.id, visible)
        follow.visible = visible
        after: dict[uuid.UUID, int] = {}
        if execution_id is not None:
            follow.output_of.add(execution_id)
            seq = _int(message.get("after_seq"), "after_seq")
            after[execution_id] = seq or 0
        else:
            follow.whole_job = True
            follow.output_all = follow.output_all or bool(message.get("output"))
            given = message.get("after") or {}
            if not isinstance(given, dict):
                raise BadRequest("after: an object of execution id → last seq held")
            for key, value in given.items():
                parsed = _uuid(key, "after")
                assert parsed is not None
                after[parsed] = _int(value, "after") or 0
        # What the client holds counts as sent before any live event can arrive: a live chunk
        # handled before the replay would otherwise fill from seq 1 and repeat it all (seen
        # when the API was killed under viewers that then resumed).
        for held, seq in after.items():
            if follow.may_see(held):
                self._sent_seq[held] = max(self._sent_seq.get(held, 0), seq)
        # Subscribe first, then replay: a chunk published meanwhile is in one or the other,
        # and the sender drops whichever copy comes second.
        await self._channel(events.job_channel(job.id), subscribe=True)
        self._follows[job.id] = follow
        self._post(
            {
                "type": "subscribed",
                "job_id": str(job.id),
                **({"execution_id": str(execution_id)} if execution_id else {}),
            }
        )
        self._queue("replay", (job.id, execution_id, after))

    async def _unsubscribe(self, message: dict[str, Any]) -> None:
        if message.get("feed"):
            self._feed = False
            await self._channel(events.FEED_CHANNEL, subscribe=False)
            self._post({"type": "unsubscribed", "feed": True})
            return
        execution_id = _uuid(message.get("execution_id"), "execution_id")
        job_id = _uuid(message.get("job_id"), "job_id")
        for follow in list(self._follows.values()):
            if execution_id is not None and execution_id in follow.output_of:
                follow.output_of.discard(execution_id)
                wanted = follow.whole_job or follow.output_all or follow.output_of
                if not wanted and job_id is None:
                    job_id = follow.job_id
            if job_id == follow.job_id:
                del self._follows[follow.job_id]
                await self._channel(events.job_channel(follow.job_id), subscribe=False)
        self._post(
            {
                "type": "unsubscribed",
                **({"job_id": str(job_id)} if job_id else {}),
                **({"execution_id": str(execution_id)} if execution_id else {}),
            }
        )

    async def _channel(self, channel: str, *, subscribe: bool) -> None:
        """(Un)subscribe; a subscription returns once Redis confirmed it, so whatever is
        published from then on reaches us."""
        async with self._pubsub_lock:
            if not subscribe:
                await self._pubsub.unsubscribe(channel)
                return
            confirmed = asyncio.get_running_loop().create_future()
            self._confirmations[channel] = confirmed
            await self._pubsub.subscribe(channel)
            self._listening.set()
            try:
                await asyncio.wait_for(confirmed, timeout=10)
            finally:
                self._confirmations.pop(channel, None)

    async def _visible_executions(self, session: AsyncSession, job: Job) -> set[uuid.UUID] | None:
        if jobs_service.sees_every_execution(self.principal, job):
            return None
        result = await session.execute(
            select(Execution.id).where(
                Execution.job_id == job.id, jobs_service.executions_filter(self.principal, job)
            )
        )
        return set(result.scalars())

    # Receiving from Redis --------------------------------------------------------------------

    async def _listen(self) -> None:
        await self._listening.wait()  # nothing to read before the first subscription
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                confirmed = self._confirmations.get(channel)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
                continue
            if message["type"] != "message":
                continue
            data = message["data"]
            try:
                event = json.loads(data)
            except ValueError:
                continue
            if channel == events.FEED_CHANNEL:
                if self._feed:
                    self._queue("feed", event, len(data))
            else:
                self._queue("event", event, len(data))

    # Sending ---------------------------------------------------------------------------------

    def _post(self, message: dict[str, Any]) -> None:
        self._queue("message", message, 256)

    def _queue(self, kind: str, item: Any, size: int = 256) -> None:
        if self._outbox_bytes + size > MAX_OUTBOX_BYTES:
            # Raised in the task that queues, which ends the session even while the sender
            # is stuck writing to a client that stopped reading.
            raise Closed(
                CLOSE_SLOW_CONSUMER,
                "slow consumer: too far behind; reconnect and resume from your last seq",
            )
        self._outbox.append((kind, item, size))
        self._outbox_bytes += size
        self._wake.set()

    async def _deliver(self) -> None:
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            kind, item, size = self._outbox.popleft()
            self._outbox_bytes -= size
            if kind == "message":
                await self._emit(item)
            elif kind == "event":
                await self._on_event(item)
            elif kind == "feed":
                await self._on_feed(item)
            elif kind == "replay":
                await self._replay(*item)
            elif kind == "feed_replay":
                await self._feed_replay()

    async def _emit(self, message: dict[str, Any]) -> None:
        await self._send(json.dumps(message, separators=(",", ":")))

    async def _on_event(self, event: dict[str, Any]) -> None:
        job_id = _uuid(event.get("job_id"), "job_id")
        follow = self._follows.get(job_id) if job_id else None
        if follow is None:
            return
        kind = event.get("type")
        if kind == "job":
            await self._emit(event)
            return
        execution_id = _uuid(event.get("execution_id"), "execution_id")
        if execution_id is None or not follow.may_see(execution_id):
            return
        if kind == "execution":
            await self._state(event, execution_id)
        elif kind == "output" and follow.wants_output(execution_id):
            await self._output(execution_id, event)

    async def _state(self, event: dict[str, Any], execution_id: uuid.UUID) -> None:
        version = int(event.get("version", 0))
        if version <= self._sent_version.get(execution_id, -1):
            return
        self._sent_version[execution_id] = version
        await self._emit(event)

    async def _output(self, execution_id: uuid.UUID, event: dict[str, Any]) -> None:
        seq = int(event["seq"])
        sent = self._sent_seq.get(execution_id, 0)
        if seq <= sent:
            return
        if seq > sent + 1:
            await self._fill(execution_id, uuid.UUID(event["job_id"]), until=seq - 1)
            if seq <= self._sent_seq.get(execution_id, 0):
                return
        self._sent_seq[execution_id] = seq
        await self._emit(event)

    async def _fill(self, execution_id: uuid.UUID, job_id: uuid.UUID, until: int | None) -> None:
        """Send what the database holds after the last seq sent (up to `until`)."""
        while True:
            after = self._sent_seq.get(execution_id, 0)
            async with self._sessionmaker() as session:
                chunks = await output_repo.chunks(
                    session, execution_id, after_seq=after, until_seq=until, limit=REPLAY_PAGE
                )
            for chunk in chunks:
                await self._chunk(job_id, chunk)
            if len(chunks) < REPLAY_PAGE:
                break
        if until is not None and self._sent_seq.get(execution_id, 0) < until:
            # Deleted past the cap: say so, and move on.
            await self._gap(execution_id, job_id, until)

    async def _chunk(self, job_id: uuid.UUID, chunk: OutputChunk) -> None:
        sent = self._sent_seq.get(chunk.execution_id, 0)
        if chunk.seq <= sent:
            return
        if chunk.seq > sent + 1:
            await self._gap(chunk.execution_id, job_id, chunk.seq - 1)
        self._sent_seq[chunk.execution_id] = chunk.seq
        await self._emit(events.output_event(job_id, chunk))

    async def _gap(self, execution_id: uuid.UUID, job_id: uuid.UUID, until: int) -> None:
        sent = self._sent_seq.get(execution_id, 0)
        if until <= sent:
            return
        await self._emit(
            {
                "type": "output.gap",
                "job_id": str(job_id),
                "execution_id": str(execution_id),
                "from_seq": sent + 1,
                "to_seq": until,
                "message": "output dropped past the execution's output cap",
            }
        )
        self._sent_seq[execution_id] = until

    async def _replay(
        self, job_id: uuid.UUID, only: uuid.UUID | None, after: dict[uuid.UUID, int]
    ) -> None:
        follow = self._follows.get(job_id)
        if follow is None:
            return
        async with self._sessionmaker() as session:
            job = await jobs_repo.get_visible(
                session, job_id, jobs_service.jobs_filter(self.principal)
            )
            if job is None:
                return
            stmt = select(Execution).where(Execution.job_id == job_id).order_by(Execution.position)
            if only is not None:
                stmt = stmt.where(Execution.id == only)
            rows = [
                row for row in (await session.execute(stmt)).scalars() if follow.may_see(row.id)
            ]
        if only is None:
            await self._emit(events.job_event(job))
        for execution_id, seq in after.items():
            if follow.may_see(execution_id):
                self._sent_seq[execution_id] = max(self._sent_seq.get(execution_id, 0), seq)
        for row in rows:
            await self._state(events.execution_event(row), row.id)
        for row in rows:
            if follow.wants_output(row.id) and row.output_seq > self._sent_seq.get(row.id, 0):
                await self._fill(row.id, job_id, until=None)
        await self._emit(
            {
                "type": "caught_up",
                "job_id": str(job_id),
                **({"execution_id": str(only)} if only else {}),
            }
        )

    async def _on_feed(self, event: dict[str, Any]) -> None:
        seq = int(event.get("seq", 0))
        job_id = _uuid(event.get("job_id"), "job_id")
        # Older than what this client has of that job: drop. Not older than the newest of any
        # job: feed numbers are taken before commit, so two transactions can publish theirs in
        # the other order, and the lower one is news about its own job (found by the
        # throughput benchmark, which waited for job ends dropped this way).
        if job_id is None or seq <= self._feed_sent.get(job_id, self._feed_floor):
            return
        if not await self._may_see_job(job_id):
            return
        self._feed_sent_seq(job_id, seq)
        await self._emit({**event, "type": "job", "feed": True})

    def _feed_sent_seq(self, job_id: uuid.UUID, seq: int) -> None:
        self._feed_sent[job_id] = seq
        self._feed_seq = max(self._feed_seq, seq)
        if len(self._feed_sent) > FEED_JOBS_REMEMBERED:
            # Forget the least recently changed half; their seqs are below the floor kept.
            ordered = sorted(self._feed_sent.items(), key=lambda item: item[1])
            half = ordered[: len(ordered) // 2]
            self._feed_floor = max(self._feed_floor, half[-1][1])
            for forgotten, _ in half:
                del self._feed_sent[forgotten]

    async def _feed_replay(self) -> None:
        async with self._sessionmaker() as session:
            jobs = await jobs_repo.feed_after(
                session, jobs_service.jobs_filter(self.principal), self._feed_seq, FEED_REPLAY_LIMIT
            )
        for job in jobs:
            if job.event_seq <= self._feed_sent.get(job.id, self._feed_floor):
                continue  # a live event already brought this state or a newer one
            self._feed_sent_seq(job.id, job.event_seq)
            await self._emit({**events.job_event(job), "feed": True})
        await self._emit({"type": "caught_up", "feed": True, "seq": self._feed_seq})

    async def _may_see_job(self, job_id: uuid.UUID) -> bool:
        cached = self._feed_visible.get(job_id)
        now = time.monotonic()
        if cached is not None and now - cached[1] < RECHECK_SECONDS:
            return cached[0]
        async with self._sessionmaker() as session:
            job = await jobs_repo.get_visible(
                session, job_id, jobs_service.jobs_filter(self.principal)
            )
        self._feed_visible[job_id] = (job is not None, now)
        if len(self._feed_visible) > 10000:
            self._feed_visible.clear()
        return job is not None

    # Keeping alive and honest ----------------------------------------------------------------

    async def _keepalive(self) -> None:
        last_check = time.monotonic()
        while True:
            await asyncio.sleep(min(PING_SECONDS, RECHECK_SECONDS))
            self._post({"type": "ping"})
            if time.monotonic() - last_check >= RECHECK_SECONDS:
                last_check = time.monotonic()
                await self._revalidate()

    async def _revalidate(self) -> None:
        principal = await self._recheck()
        if principal is None:
            raise Closed(CLOSE_UNAUTHORIZED, "session ended: sign in again")
        self.principal = principal
        self._feed_visible.clear()
        async with self._sessionmaker() as session:
            for job_id, follow in list(self._follows.items()):
                job = await jobs_repo.get_visible(
                    session, job_id, jobs_service.jobs_filter(principal)
                )
                if job is None:
                    del self._follows[job_id]
                    await self._channel(events.job_channel(job_id), subscribe=False)
                    self._post({"type": "unsubscribed", "job_id": str(job_id), "reason": "access"})
                    continue
                follow.visible = await self._visible_executions(session, job)


def _uuid(value: Any, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadRequest(f"{name}: not a UUID") from None


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise BadRequest(f"{name}: a non-negative integer")
    return value


def _echo(message: dict[str, Any]) -> dict[str, Any]:
    return {key: message[key] for key in ("op", "job_id", "execution_id", "feed") if key in message}
