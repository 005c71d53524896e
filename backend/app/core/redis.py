"""Redis connections: the arq queue, pub/sub and counters all go through here."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from arq.connections import RedisSettings
from redis.asyncio import Redis
from redis.exceptions import RedisError

# The arq queue every worker takes work from.
QUEUE_NAME = "orca:queue"
# What Redis being unreachable raises: its own errors, and the socket's.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


def create_redis(url: str, *, timeout: float = 5.0) -> Redis:
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        decode_responses=False,
    )
    return client


def arq_redis_settings(url: str, *, timeout: float = 5.0) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    # arq keeps the URL's percent-escapes in the credentials (redis-py decodes them): decode
    # here, or a password with a reserved character works for the API and fails for workers.
    parts = urlparse(url)
    settings.username = unquote(parts.username) if parts.username else None
    settings.password = unquote(parts.password) if parts.password else None
    settings.conn_timeout = max(1, int(timeout))
    return settings
