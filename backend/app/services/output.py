"""Storing an execution's output as it arrives: ordered chunks, flushed often, capped.

A writer collects what the connector sends and stores it as chunks `(seq, stream, data)`:
at the latest 250 ms after the first byte not yet stored, or as soon as 64 KiB wait. stdout
and stderr stay apart, and one seq numbering across both keeps their interleaving, so the
combined view is the chunks in seq order. Chunks are cut on UTF-8 character boundaries, so
each one decodes alone. Each stored chunk is then published for live viewers.

Past the cap (ORCA_OUTPUT_MAX_BYTES) the first half of the cap is kept, and the last half:
older tail chunks are deleted as newer ones arrive, and the bytes dropped between head and tail
are counted on the execution, which says it is truncated. The seq numbers of deleted chunks
are never reused, so a reader sees exactly where the gap is.

When PostgreSQL is away the writer retries (the same chunks with the same seq numbers, so a
write that did land is not stored twice) and, meanwhile, blocks the connector's sink: the
command's output waits in the pipe instead of in our memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import retrying
from app.models import OutputChunk
from app.models.enums import OutputStream
from app.repositories import output as output_repo
from app.services import events

log = logging.getLogger("orca.output")

FLUSH_SECONDS = 0.25
FLUSH_BYTES = 64 * 1024


class OutputLost(Exception):
    """Output could not be stored (the database stayed away too long)."""


def complete_prefix(data: bytes) -> int:
    """The length of `data` without a UTF-8 character cut off at its end."""
    size = len(data)
    for back in range(1, min(4, size) + 1):
        byte = data[size - back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for its lead
            continue
        if byte < 0x80:
            return size
        needs = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
        return size if back >= needs else size - back
    return size


def boundary_before(data: bytes | bytearray, index: int) -> int:
    """The nearest character boundary at or before `index` (at most 3 bytes back)."""
    floor = max(index - 3, 0)
    while index > floor and index < len(data) and data[index] & 0xC0 == 0x80:
        index -= 1
    return index


def boundary_after(data: bytes | bytearray, index: int) -> int:
    ceiling = min(index + 3, len(data))
    while index < ceiling and data[index] & 0xC0 == 0x80:
        index += 1
    return index


class OutputWriter:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        *,
        job_id: uuid.UUID,
        execution_id: uuid.UUID,
        cap: int,
        seq: int = 0,
        kept: int = 0,
        dropped: int = 0,
        flush_seconds: float = FLUSH_SECONDS,
        flush_bytes: int = FLUSH_BYTES,
        retry_seconds: float = 300.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._redis = redis
        self.job_id = job_id
        self.execution_id = execution_id
        self.flush_seconds = flush_seconds
        self.flush_bytes = flush_bytes
        self.retry_seconds = retry_seconds
        self.seq = seq
        self.dropped = dropped
        self._head_left = max(cap // 2 - kept, 0)
        self._head_used = kept
        self._tail_budget = cap - cap // 2
        self._tail: deque[tuple[int, int]] = deque()  # (seq, size) of stored tail chunks
        self._tail_used = 0
        self._segments: list[tuple[OutputStream, bytearray]] = []
        self._size = 0
        self._partial: dict[OutputStream, bytes] = {}
        self._lock = asyncio.Lock()
        self._waiting = asyncio.Event()
        self._failure: BaseException | None = None
        self._publish_paused_until = 0.0
        self._flusher = asyncio.create_task(self._flush_periodically())

    @property
    def kept(self) -> int:
        return self._head_used + self._tail_used

    async def write(self, stream: OutputStream, data: bytes) -> None:
        """The connector's sink."""
        if self._failure is not None:
            raise OutputLost("output could not be stored") from self._failure
        if not data:
            return
        data = self._partial.pop(stream, b"") + data
        cut = complete_prefix(data)
        if cut < len(data):
            self._partial[stream] = data[cut:]
        self._add(stream, data[:cut])
        if self._size >= self.flush_bytes:
            await self.flush()
        elif self._size:
            self._waiting.set()

    def _add(self, stream: OutputStream, data: bytes) -> None:
        if not data:
            return
        if self._segments and self._segments[-1][0] == stream:
            self._segments[-1][1].extend(data)
        else:
            self._segments.append((stream, bytearray(data)))
        self._size += len(data)

    async def _flush_periodically(self) -> None:
        while True:
            await self._waiting.wait()
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # reported to the connector through write()
                self._failure = exc
                return

    async def flush(self) -> None:
        async with self._lock:
            segments, self._segments, self._size = self._segments, [], 0
            self._waiting.clear()
            if not segments:
                return
            rows, dropped_seqs = self._plan(segments)
            await self._store(rows, dropped_seqs)
            await self.publish(rows)

    def _plan(
        self, segments: list[tuple[OutputStream, bytearray]]
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """Number the new chunks, and decide which tail chunks the cap pushes out."""
        rows: dict[int, dict[str, Any]] = {}
        dropped_seqs: list[int] = []

        def add(stream: OutputStream, data: bytes) -> int:
            self.seq += 1
            rows[self.seq] = {
                "execution_id": self.execution_id,
                "seq": self.seq,
                "stream": stream,
                "data": data,
            }
            return self.seq

        for stream, data in segments:
            start = 0
            while start < len(data):
                end = boundary_before(data, min(start + self.flush_bytes, len(data)))
                if end <= start:  # not UTF-8: cut where the size says
                    end = min(start + self.flush_bytes, len(data))
                piece = bytes(data[start:end])
                start = end
                if self._head_left > 0:
                    cut = min(self._head_left, len(piece))
                    if cut < len(piece):
                        cut = boundary_before(piece, cut) or cut
                    add(stream, piece[:cut])
                    self._head_left -= cut
                    self._head_used += cut
                    piece = piece[cut:]
                    if not piece:
                        continue
                    self._head_left = 0  # the head is closed, even if a few bytes short
                if len(piece) > self._tail_budget:
                    keep_from = boundary_after(piece, len(piece) - self._tail_budget)
                    self.dropped += keep_from
                    piece = piece[keep_from:]
                seq = add(stream, piece)
                self._tail.append((seq, len(piece)))
                self._tail_used += len(piece)
                while self._tail_used > self._tail_budget:
                    old_seq, size = self._tail.popleft()
                    self._tail_used -= size
                    self.dropped += size
                    if rows.pop(old_seq, None) is None:
                        dropped_seqs.append(old_seq)
        return list(rows.values()), dropped_seqs

    async def _store(self, rows: list[dict[str, Any]], dropped_seqs: list[int]) -> None:
        seq, kept, dropped = self.seq, self.kept, self.dropped

        async def work(session: AsyncSession) -> None:
            await output_repo.append(session, rows)
            await output_repo.drop(session, self.execution_id, dropped_seqs)
            await output_repo.record_totals(
                session, self.execution_id, seq=seq, kept=kept, dropped=dropped
            )

        await retrying(
            self._sessionmaker, work, what="storing output", give_up_after=self.retry_seconds
        )

    async def publish(self, rows: list[dict[str, Any]]) -> None:
        """Live copies of what was stored. Best effort: a viewer that misses one fetches it
        from the database by its seq."""
        if not rows or time.monotonic() < self._publish_paused_until:
            return
        chunks = [OutputChunk(**row) for row in rows]
        try:
            await events.publish(
                self._redis,
                events.job_channel(self.job_id),
                [events.output_event(self.job_id, chunk) for chunk in chunks],
            )
        except Exception as exc:  # Redis away: live viewers catch up from the database
            log.warning("publishing output failed: %s", type(exc).__name__)
            self._publish_paused_until = time.monotonic() + 5.0

    async def finish(self) -> FinalOutput:
        """Stop, and hand back what is still held (including a character left incomplete at
        the end) for the caller to store in the transaction that records the execution's end:
        one write instead of two, and the end is never visible without all of the output."""
        # A periodic flush under way has taken its segments: cancelling it mid-store would lose
        # them. Stop the flusher only between flushes.
        async with self._lock:
            self._flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flusher
        for stream, rest in list(self._partial.items()):
            self._add(stream, rest)
        self._partial.clear()
        if self._failure is not None:
            raise OutputLost("output could not be stored") from self._failure
        async with self._lock:
            segments, self._segments, self._size = self._segments, [], 0
            rows, dropped_seqs = self._plan(segments) if segments else ([], [])
        return FinalOutput(rows, dropped_seqs, self.seq, self.kept, self.dropped)

    async def close(self) -> None:
        """Stop, and store and publish everything still held."""
        final = await self.finish()
        if final.rows or final.dropped_seqs:
            await self._store(final.rows, final.dropped_seqs)
            await self.publish(final.rows)


@dataclass(frozen=True)
class FinalOutput:
    """What an output writer still held when it finished, with the execution's totals."""

    rows: list[dict[str, Any]]
    dropped_seqs: list[int]
    seq: int
    kept: int
    dropped: int

    def totals(self) -> dict[str, Any]:
        """The execution's output columns."""
        return {
            "output_seq": self.seq,
            "output_bytes": self.kept,
            "output_dropped_bytes": self.dropped,
            "output_truncated": self.dropped > 0,
        }
