"""The garbage collector's settings of `orca api` and `orca worker`, and the timed collection
that keeps garbage in reference cycles from piling up under them."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from app.core import memory


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it


@pytest.fixture
def collector_as_before() -> Iterator[None]:
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    gc.disable()  # no automatic collection may free the cycle in the test's place
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    memory._settled = False
    if enabled:
        gc.enable()


async def _garbage_left_after(seconds: float) -> bool:
    node = _Node()
    gone = weakref.ref(node)
    del node
    collecting = asyncio.create_task(memory.collect_periodically(0.05))
    await asyncio.sleep(seconds)
    collecting.cancel()
    return gone() is not None


async def test_settled_processes_collect_cycles_on_a_timer(collector_as_before: None) -> None:
    memory.settle()
    assert gc.get_threshold() == (10_000, 20, 20) and gc.get_freeze_count() > 0
    assert not await _garbage_left_after(0.3)


async def test_unsettled_processes_are_left_alone(collector_as_before: None) -> None:
    assert await _garbage_left_after(0.3)  # the tests' own processes keep Python's defaults
