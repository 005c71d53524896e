"""How the long-lived processes (`orca api`, `orca worker`) run Python's garbage collector.

Full collections walk every tracked object. With the application loaded, each took tens of
milliseconds in the middle of a request (bench/api_latency: the lists' p99 at one connection was
50-85 ms where their p90 was 10 ms). So what exists after start-up, which lives as long as the
process, is frozen out of the collector's walks, and the young generation is collected every
10,000 allocations instead of 700 (requests allocate in bursts; the p99 fell to 6-14 ms).

Collected that rarely, garbage in reference cycles waits long for a full collection, and the
API's memory kept rising under load (the 10-minute soak: +26 MiB, still rising; with the
default settings, flat). So a full collection also runs on a timer, once every
`COLLECT_SECONDS`: garbage waits at most that long, and the cost is one pause per interval,
not one per burst of requests.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("orca.memory")

COLLECT_SECONDS = 30.0
_settled = False


def settle() -> None:
    """Freeze what exists now out of the collector's walks; collect young objects less often."""
    global _settled
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    _settled = True


async def collect_periodically(seconds: float = COLLECT_SECONDS) -> None:
    """A full collection every `seconds`, in the event loop (finalizers run where asyncio
    expects them), for as long as the process settled by `settle()` runs; else nothing."""
    if not _settled:
        return
    while True:
        await asyncio.sleep(seconds)
        started = time.perf_counter()
        found = gc.collect()
        log.debug("collected %d objects in %.1f ms", found, (time.perf_counter() - started) * 1e3)
