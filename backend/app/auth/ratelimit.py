"""Login attempt limits, counted in Redis so they hold across every API replica.

Each attempt first *reserves* a place in two fixed-window counters, one for the username
(whether or not such a user exists, so the limit reveals nothing) and one for the client
address (for IPv6, its /64, which one client usually holds whole). The reservation is one Lua
script: if either counter is at its limit the attempt is refused with 429 before any password
is checked; otherwise both are incremented before the password is checked, so a burst of
parallel guesses cannot all slip in ahead of the first failure being counted. A successful
login gives its reservation back (the username's count is cleared, the address's decremented).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass

from redis.asyncio import Redis

from app.core.config import Settings

_PREFIX = "orca:login-attempts"

# KEYS: counters; ARGV[1]: window in ms; ARGV[1 + i]: the limit of KEYS[i].
# Returns {0, 0} when reserved, or {i, ttl_ms} for the first counter at its limit.
_RESERVE = """
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl > 0 then return {i, ttl} end
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return {0, 0}
"""

# INCR, and start the window with the first count.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""

_GIVE_BACK = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return count
"""


@dataclass(frozen=True)
class Lock:
    scope: str  # "username" or "address"
    retry_after: int  # whole seconds, at least 1
    first_refusal: bool  # the first attempt refused under this lock (audit that one only)


def address_bucket(address: str) -> str:
    """The unit an address limit counts: the address itself, or its /64 for IPv6."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


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
        # Hashed: names typed by strangers do not belong in Redis in clear.
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        return f"{_PREFIX}:{scope}:{digest}"

    def _keys(self, username: str | None, address: str | None) -> dict[str, str]:
        keys = {}
        if username is not None:
            keys["username"] = self._key("username", username.strip().lower())
        if address:
            keys["address"] = self._key("address", address_bucket(address))
        return keys

    async def reserve(self, username: str | None, address: str | None) -> Lock | None:
        """Count this attempt, or return the lock that refuses it."""
        keys = self._keys(username, address)
        if not keys:
            return None
        scopes = list(keys)
        reply = await self.redis.eval(  # type: ignore[misc]
            _RESERVE,
            len(keys),
            *keys.values(),
            str(self.window_ms),
            *(str(self.limits[scope]) for scope in scopes),
        )
        index, ttl_ms = int(reply[0]), int(reply[1])
        if index == 0:
            return None
        key = keys[scopes[index - 1]]
        refusals = await self.redis.eval(_COUNT, 1, key + ":refused", str(ttl_ms))  # type: ignore[misc]
        return Lock(scopes[index - 1], max(1, math.ceil(ttl_ms / 1000)), int(refusals) == 1)

    async def release(self, username: str | None, address: str | None) -> None:
        """Give a successful attempt's reservation back."""
        keys = self._keys(username, address)
        if "username" in keys:
            await self.redis.delete(keys["username"], keys["username"] + ":refused")
        if "address" in keys:
            await self.redis.eval(_GIVE_BACK, 1, keys["address"])  # type: ignore[misc]
