from __future__ import annotations

from app.core.redis import arq_redis_settings


def test_arq_settings_decode_percent_escaped_credentials() -> None:
    settings = arq_redis_settings("redis://us%3Aer:p%40ss%2Fw%25rd@cache.internal:6380/3")
    assert settings.username == "us:er"
    assert settings.password == "p@ss/w%rd"
    assert (settings.host, settings.port, settings.database) == ("cache.internal", 6380, 3)


def test_arq_settings_without_credentials() -> None:
    settings = arq_redis_settings("redis://127.0.0.1:6379/0")
    assert settings.username is None and settings.password is None
