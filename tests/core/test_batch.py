"""Group commit: batches form by themselves under load, and a bad item fails only itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from app.core.batch import GroupCommit


async def test_one_item_alone_goes_at_once_and_a_crowd_shares_batches() -> None:
    seen: list[list[int]] = []

    async def handle(items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        await asyncio.sleep(0.01)  # a transaction's round trips
        return [item * 10 for item in items]

    group: GroupCommit[int, int] = GroupCommit(handle, name="test")
    assert await group.submit(1) == 10
    assert seen == [[1]]
    results = await asyncio.gather(*(group.submit(n) for n in range(2, 102)))
    assert results == [n * 10 for n in range(2, 102)]
    # Submitted together: one batch. And while a batch is written, the next one gathers.
    assert seen[1] == list(range(2, 102))
    first = asyncio.create_task(group.submit(200))
    await asyncio.sleep(0.001)  # 200 is being written
    rest = [asyncio.create_task(group.submit(n)) for n in (201, 202, 203)]
    assert await first == 2000 and [await r for r in rest] == [2010, 2020, 2030]
    assert seen[2:] == [[200], [201, 202, 203]]
    assert group.batches == 4 and group.items == 105


async def test_batches_are_capped() -> None:
    sizes: list[int] = []

    async def handle(items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        await asyncio.sleep(0)
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(handle, name="test", max_batch=10)
    assert await asyncio.gather(*(group.submit(n) for n in range(35))) == list(range(35))
    assert max(sizes) == 10 and sum(sizes) == 35


async def test_a_failing_batch_is_retried_one_by_one() -> None:
    calls: list[list[int]] = []

    async def handle(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if 13 in items:
            raise ValueError("thirteen")
        return [-item for item in items]

    group: GroupCommit[int, int] = GroupCommit(handle, name="test")
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0)  # the first batch starts with 1 alone
    crowd = [asyncio.create_task(group.submit(n)) for n in (12, 13, 14)]
    assert await first == -1
    assert await crowd[0] == -12 and await crowd[2] == -14
    with pytest.raises(ValueError, match="thirteen"):
        await crowd[1]
    assert calls == [[1], [12, 13, 14], [12], [13], [14]]


async def test_a_waiter_cancelled_does_not_cancel_the_batch() -> None:
    release = asyncio.Event()
    done: list[int] = []

    async def handle(items: Sequence[int]) -> list[int]:
        await release.wait()
        done.extend(items)
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(handle, name="test")
    impatient = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0.01)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    release.set()
    assert await group.submit(2) == 2
    assert done == [1, 2]  # the cancelled one's write still happened, once
