"""Failed-login limits, counted in Redis so they hold across every API replica.

Each failure increments two fixed-window counters, one for the username (whether or not such a
user exists, so the limit reveals nothing) and one for the client address. While either is at
its limit, logins for that username or from that address are refused with 429 before any
password is checked, until the window that started with the first failure ends. A successful
login clears the username's counter, not the address's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from redis.asyncio import Redis

from app.core.config import Settings

_PREFIX = "orca:login-failures"

# INCR, and start the window with the first count. One script, so a crash between the two
# commands cannot leave a counter that never expires.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@dataclass(frozen=True)
class Lock:
    scope: str  # "username" or "address"
    retry_after: int  # whole seconds, at least 1
    first_refusal: bool  # the first attempt refused under this lock


class LoginLimiter:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.window_ms = settings.login_lockout_seconds * 1000
        self.limits = {
            "username": settings.login_max_failures_per_user,
            "address": settings.login_max_failures_per_ip,
        }

    @staticmethod
    def _key(scope: str, value: str) -> str:
        # Hashed: usernames typed by strangers do not belong in Redis in clear.
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        return f"{_PREFIX}:{scope}:{digest}"

    def _keys(self, username: str | None, address: str | None) -> dict[str, str]:
        keys = {}
        if username is not None:
            keys["username"] = self._key("username", username.strip().lower())
        if address:
            keys["address"] = self._key("address", address)
        return keys

    async def check(self, username: str, address: str | None) -> Lock | None:
        """The lock in force for this username or address, if any."""
        keys = self._keys(username, address)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys.values():
                pipe.get(key)
                pipe.pttl(key)
            replies = await pipe.execute()
        for index, (scope, key) in enumerate(keys.items()):
            count, ttl_ms = replies[2 * index], replies[2 * index + 1]
            if count is not None and int(count) >= self.limits[scope] and ttl_ms > 0:
                # Count refusals under this lock: the first is audited, not the whole flood.
                refusals = await self.redis.eval(  # type: ignore[misc]
                    _COUNT, 1, key + ":refused", str(ttl_ms)
                )
                return Lock(scope, max(1, math.ceil(ttl_ms / 1000)), int(refusals) == 1)
        return None

    async def fail(self, username: str | None, address: str | None) -> None:
        """Count a failure against the username (when there is one) and the address."""
        for key in self._keys(username, address).values():
            await self.redis.eval(_COUNT, 1, key, str(self.window_ms))  # type: ignore[misc]

    async def succeed(self, username: str) -> None:
        key = self._keys(username, None)["username"]
        await self.redis.delete(key, key + ":refused")
