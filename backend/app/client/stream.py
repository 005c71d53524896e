"""Following a job live over the WebSocket (protocol: backend/app/api/ws.py).

A `Follower` gets a single-use ticket, connects, subscribes to the job with its output, and
hands every state change and every complete output line to a `Sink`. It remembers, per
execution, the highest state version and output seq it has. When the connection drops it
connects again and subscribes with `after` (execution id → last seq held), so the server
replays exactly what is missing: no line lost, none repeated. It is done when every execution
it follows has ended and its output up to the final seq has arrived; if the end of some
output does not arrive within a few seconds of the end (a live event lost in between), it is
read over HTTP instead.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from app.client.errors import ApiError, AuthRequired, Unreachable, UsageError
from app.client.http import USER_AGENT, Api

TERMINAL = frozenset({"succeeded", "failed", "timed_out", "error", "cancelled"})
FAILED = frozenset({"failed", "timed_out", "error", "cancelled"})
STATES = ("pending", "queued", "running", "succeeded", "failed", "timed_out", "error", "cancelled")
MAX_PARTIAL = 64 * 1024  # a "line" this long without a newline is shown as it is
SETTLE_SECONDS = 3.0
GIVE_UP_SECONDS = 120.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403


@dataclass
class Execution:
    id: str
    name: str
    position: int
    status: str = "pending"
    version: int = -1
    seq: int = 0  # the last output seq held (or skipped as dropped)
    final_seq: int | None = None  # the output's last seq, once the execution has ended
    exit_code: int | None = None
    signal: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    error_message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    partial: dict[str, str] = field(default_factory=dict)
    flushed: bool = False

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Execution:
        error = item.get("error") or {}
        execution = cls(
            id=str(item["id"]),
            name=str(item["system_name"]),
            position=int(item["position"]),
            status=str(item["status"]),
            version=int(item.get("version", -1)),
            exit_code=item.get("exit_code"),
            signal=item.get("signal"),
            error_code=error.get("code"),
            error_reason=error.get("reason"),
            error_message=error.get("message"),
            started_at=item.get("started_at"),
            finished_at=item.get("finished_at"),
        )
        if execution.terminal:
            execution.final_seq = int(item["output"]["seq"])
        return execution

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def complete(self) -> bool:
        return self.terminal and self.seq >= (self.final_seq or 0)

    def apply(self, event: dict[str, Any]) -> bool:
        """Take a state event; True if it was news (a higher version)."""
        version = int(event.get("version", 0))
        if version <= self.version:
            return False
        self.version = version
        self.status = str(event["status"])
        self.exit_code = event.get("exit_code")
        self.signal = event.get("signal")
        self.error_code = event.get("error_code")
        self.error_reason = event.get("error_reason")
        self.error_message = event.get("error_message")
        self.started_at = event.get("started_at")
        self.finished_at = event.get("finished_at")
        if self.terminal:
            self.final_seq = int(event.get("output_seq") or 0)
        return True

    def reason(self) -> str:
        """Why it did not succeed, in a few words."""
        if self.status == "failed":
            return f"exit {self.exit_code}" if self.exit_code is not None else "failed"
        if self.status == "timed_out":
            return "timed out"
        parts = [p for p in (self.error_reason, self.error_message) if p]
        if parts:
            return ": ".join(parts)
        if self.error_code:
            return self.error_code.replace("_", " ")
        return self.status


class Sink(Protocol):
    def line(self, execution: Execution, stream: str, text: str, newline: bool) -> None: ...

    def gap(self, execution: Execution, first: int, last: int) -> None: ...

    def changed(self, execution: Execution) -> None: ...

    def job(self, event: dict[str, Any]) -> None: ...

    def notice(self, message: str) -> None: ...


class Follower:
    """Follows `job_id` (or one execution of it, `only`) until all of it has ended."""

    def __init__(
        self,
        api: Api,
        job_id: str,
        executions: Iterable[Execution],
        sink: Sink,
        *,
        output: bool = True,
        only: Execution | None = None,
    ) -> None:
        self.api = api
        self.job_id = job_id
        self.executions = {execution.id: execution for execution in executions}
        self.sink = sink
        self.output = output
        self.only = only
        self.connections = 0

    # State ---------------------------------------------------------------------------------

    def _followed(self) -> Iterable[Execution]:
        return [self.only] if self.only is not None else self.executions.values()

    def done(self) -> bool:
        if self.output:
            return all(execution.complete for execution in self._followed())
        return all(execution.terminal for execution in self._followed())

    def _all_ended(self) -> bool:
        return all(execution.terminal for execution in self._followed())

    # Running -------------------------------------------------------------------------------

    async def run(self) -> None:
        for execution in self._followed():
            self._maybe_flush(execution)
        trouble_since: float | None = None
        delay = 0.5
        while not self.done():
            try:
                await self._connection()
                trouble_since, delay = None, 0.5
            except BrokenPipeError:
                raise  # our own stdout, not the connection
            except (
                ConnectionClosed,
                InvalidHandshake,
                OSError,
                TimeoutError,
                Unreachable,
                ApiError,
            ) as exc:
                if isinstance(exc, ApiError) and exc.status < 500:
                    raise  # a refusal, not an outage (5xx: the server's Redis or database)
                if self.done():
                    break
                if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
                    if exc.rcvd.code == CLOSE_FORBIDDEN:
                        raise UsageError(f"the server refused: {exc.rcvd.reason}") from None
                now = time.monotonic()
                trouble_since = trouble_since or now
                if now - trouble_since > GIVE_UP_SECONDS:
                    raise Unreachable(
                        f"lost the live connection to {self.api.server} for over "
                        f"{GIVE_UP_SECONDS:.0f} s; the job goes on without us: `orca jobs logs "
                        f"{self.job_id} --follow` picks it up again"
                    ) from None
                self.sink.notice(f"connection lost ({_why(exc)}); reconnecting")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _connection(self) -> None:
        ticket = await self.api.ws_ticket()
        url = self.api.ws_url(ticket)
        async with connect(
            url,
            ssl=self.api.ssl if url.startswith("wss://") else None,
            user_agent_header=USER_AGENT,
            open_timeout=15,
            close_timeout=2,
            max_size=None,
        ) as ws:
            self.connections += 1
            hello = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if hello.get("type") != "hello":
                raise Unreachable(f"unexpected greeting from {self.api.server}: {hello}")
            await ws.send(json.dumps(self._subscription()))
            while not self.done():
                if self._all_ended():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), SETTLE_SECONDS)
                    except TimeoutError:
                        await self._read_rest()
                        continue
                else:
                    raw = await ws.recv()
                self._handle(json.loads(raw))
            await _close(ws)

    def _subscription(self) -> dict[str, Any]:
        if self.only is not None:
            return {
                "op": "subscribe",
                "execution_id": self.only.id,
                "after_seq": self.only.seq,
            }
        message: dict[str, Any] = {"op": "subscribe", "job_id": self.job_id}
        if self.output:
            message["output"] = True
            held = {e.id: e.seq for e in self.executions.values() if e.seq > 0}
            if held:
                message["after"] = held
        return message

    # Messages ------------------------------------------------------------------------------

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "execution":
            execution = self._execution(message)
            if execution is not None and execution.apply(message):
                self.sink.changed(execution)
                self._maybe_flush(execution)
        elif kind == "output":
            execution = self.executions.get(str(message.get("execution_id")))
            if execution is not None and self._wanted(execution):
                self._chunk(execution, int(message["seq"]), message["stream"], message["data"])
        elif kind == "output.gap":
            execution = self.executions.get(str(message.get("execution_id")))
            if execution is not None and self._wanted(execution):
                last = int(message["to_seq"])
                if last > execution.seq:
                    self.sink.gap(execution, execution.seq + 1, last)
                    execution.seq = last
                    self._maybe_flush(execution)
        elif kind == "job":
            self.sink.job(message)
        elif kind == "error":
            code = str(message.get("code", "error"))
            exit_code = 3 if code == "unauthorized" else 2
            if exit_code == 3:
                raise AuthRequired(str(message.get("message")))
            raise ApiError(0, code, str(message.get("message")), exit_code=exit_code)
        # hello, subscribed, caught_up, ping, pong: nothing to do

    def _execution(self, event: dict[str, Any]) -> Execution | None:
        key = str(event.get("execution_id"))
        execution = self.executions.get(key)
        if execution is None and self.only is None:
            # An execution the first listing did not have (should not happen: targets are
            # resolved at submit); follow it all the same.
            execution = Execution(key, str(event.get("system_name")), int(event.get("position", 0)))
            self.executions[key] = execution
        return execution

    def _wanted(self, execution: Execution) -> bool:
        return self.output and (self.only is None or execution is self.only)

    def _chunk(self, execution: Execution, seq: int, stream: str, data: str) -> None:
        feed(execution, self.sink, seq, stream, data)
        self._maybe_flush(execution)

    def _maybe_flush(self, execution: Execution) -> None:
        if execution.complete or (execution.terminal and not self.output):
            flush(execution, self.sink)

    async def _read_rest(self) -> None:
        """Everything has ended but some output's end did not come live: read it over HTTP."""
        for execution in self._followed():
            if execution.complete or not self._wanted(execution):
                continue
            await read_stored(self.api, execution, self.sink)
            if not execution.complete:  # what is missing is gone (past the output cap)
                assert execution.final_seq is not None
                self.sink.gap(execution, execution.seq + 1, execution.final_seq)
                execution.seq = execution.final_seq
            self._maybe_flush(execution)


def feed(execution: Execution, sink: Sink, seq: int, stream: str, data: str) -> None:
    """Take one output chunk: complete lines go to the sink, the rest waits for its newline."""
    if seq <= execution.seq:
        return  # a repeat
    if seq > execution.seq + 1:
        sink.gap(execution, execution.seq + 1, seq - 1)
    execution.seq = seq
    text = execution.partial.get(stream, "") + data
    *lines, rest = text.split("\n")
    for line in lines:
        sink.line(execution, stream, line, True)
    if len(rest) > MAX_PARTIAL:
        sink.line(execution, stream, rest, False)
        rest = ""
    execution.partial[stream] = rest


def flush(execution: Execution, sink: Sink) -> None:
    """Show what is left without a newline (once the output is all here)."""
    if execution.flushed:
        return
    execution.flushed = True
    for stream, rest in execution.partial.items():
        if rest:
            sink.line(execution, stream, rest, False)
    execution.partial.clear()


async def read_stored(api: Api, execution: Execution, sink: Sink) -> None:
    """Feed what the server has stored of the execution's output after what we hold."""
    while True:
        page = await api.get(
            f"/executions/{execution.id}/output", {"after_seq": execution.seq, "limit": 5000}
        )
        for chunk in page["chunks"]:
            feed(execution, sink, int(chunk["seq"]), chunk["stream"], chunk["data"])
        if not page["chunks"]:
            return


async def _close(ws: ClientConnection) -> None:
    try:
        await asyncio.wait_for(ws.close(), 2)
    except (TimeoutError, ConnectionClosed, OSError):
        pass


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is None:
            return "closed without a word"
        return f"{frame.code} {frame.reason}".strip()
    if isinstance(exc, Unreachable):
        return exc.message
    return str(exc) or type(exc).__name__


async def executions_of(api: Api, job_id: str) -> list[Execution]:
    page = await api.collect(f"/jobs/{job_id}/executions", {}, limit=500, every=True)
    return [Execution.from_api(item) for item in page.items]
