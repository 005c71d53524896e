"""Group commit: many tasks' small writes handled together, one transaction for a batch.

Each task awaits `submit(item)` and gets its own result. Nothing waits for a batch to fill:
the first item starts a batch at once, and whatever is submitted while that batch is being
written goes into the next one. With little traffic every batch holds one item (no added
latency); under load batches grow by themselves and the cost per item (round trips, commits,
the audit lock) falls.

If a batch fails, each of its items is tried again alone, so one bad item fails only its own
task and the others' results are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("orca.batch")

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        handle: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        name: str,
        max_batch: int = 256,
    ) -> None:
        self._handle = handle
        self.name = name
        self.max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0  # for tests and diagnostics
        self.items = 0

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain(), name=f"group-commit-{self.name}")
        # The batch runs in its own task: a submitter cancelled while waiting does not cancel
        # the others' writes (its own item may still be written).
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_consume)  # nobody will read its outcome
            raise

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self.batches += 1
            self.items += len(batch)
            try:
                results = await self._handle([item for item, _ in batch])
            except Exception as error:
                if len(batch) == 1:
                    _settle(batch[0][1], error=error)
                    continue
                log.warning("%s: a batch of %d failed (%s); one at a time",
                            self.name, len(batch), type(error).__name__)  # fmt: skip
                for item, future in batch:
                    try:
                        _settle(future, result=(await self._handle([item]))[0])
                    except Exception as alone:
                        _settle(future, error=alone)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result=result)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # read, so asyncio does not report it as never retrieved


def _settle(
    future: asyncio.Future[Result],
    *,
    result: Result | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():  # its task gave up waiting
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
