"""Settings: one object, read from ORCA_* environment variables and an optional `.env` file.

Every field here is documented in the README's settings table; a test keeps the two in step.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "ORCA_"


class Environment(StrEnum):
    development = "development"
    production = "production"


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class SettingsError(Exception):
    """A setting is missing or invalid. The message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    env: Environment = Field(
        Environment.development,
        description="`development` or `production`. In production `orca up` refuses to start "
        "embedded PostgreSQL or Redis: point it at real servers.",
    )
    home: Path = Field(
        Path(".orca"),
        description="Data directory of `orca up`: embedded PostgreSQL and Redis data, generated "
        "secrets, logs.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URL (`postgresql+asyncpg://user:pass@host:5432/db`). Unset: "
        "`orca up` starts an embedded PostgreSQL under ORCA_HOME.",
    )
    redis_url: SecretStr | None = Field(
        None,
        description="Redis URL (`redis://:pass@host:6379/0`). Unset: `orca up` starts an embedded "
        "Redis under ORCA_HOME.",
    )
    api_host: str = Field("127.0.0.1", description="Address the API binds to.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    workers: int = Field(1, ge=1, le=64, description="Number of worker processes `orca up` starts.")
    worker_max_jobs: int = Field(
        32, ge=1, le=1000, description="Executions one worker process runs at once."
    )
    worker_heartbeat_seconds: float = Field(
        5.0, gt=0, le=300, description="How often a worker records its heartbeat."
    )
    worker_heartbeat_ttl_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A worker whose last heartbeat is older than this counts as gone "
        "(`/readyz` needs one live worker).",
    )
    health_check_seconds: int = Field(
        300,
        ge=0,
        le=86400,
        description="Workers check every system that many seconds after its last check "
        "(connect, authenticate, run `true`) and record its health. 0 turns it off.",
    )
    health_check_concurrency: int = Field(
        16, ge=1, le=256, description="Systems one health sweep checks at once."
    )
    schedule_tick_seconds: int = Field(
        10,
        ge=1,
        le=60,
        description="How often workers look for schedules that are due (a divisor of 60): a "
        "due time is launched at most this long after it.",
    )
    retention_output_days: int = Field(
        0,
        ge=0,
        le=36500,
        description="Remove the output of jobs finished more than this many days ago (the "
        "executions and their sizes stay). 0 keeps it as long as the job.",
    )
    retention_jobs_days: int = Field(
        0,
        ge=0,
        le=36500,
        description="Delete jobs finished more than this many days ago, with their executions "
        "and output. 0 keeps them for ever. The audit log is never touched.",
    )
    retention_batch_size: int = Field(
        500, ge=1, le=100000, description="Executions retention handles per transaction."
    )
    worker_poll_delay_seconds: float = Field(
        0.05,
        gt=0,
        le=5,
        description="How often an idle worker looks for work in Redis (lower: quicker starts, "
        "a little more Redis traffic).",
    )
    worker_shutdown_grace_seconds: int = Field(
        30,
        ge=0,
        le=3600,
        description="On SIGTERM a worker takes no new work and lets running executions finish "
        "for this long, then cancels them (killing their remote processes).",
    )
    system_max_concurrency: int = Field(
        4,
        ge=1,
        le=1000,
        description="Executions at once on one system, across all jobs (a system's own "
        "`max_concurrency` overrides it).",
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="Largest request body the API reads (a bigger one is refused with 413).",
    )
    job_max_targets: int = Field(
        10000, ge=1, le=100000, description="Most systems one job may target."
    )
    output_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=128 * 1024,
        le=2**40,
        description="Output kept per execution. Past it the first and last halves are kept "
        "and the bytes dropped between them are counted and shown.",
    )
    local_run_as: str | None = Field(
        None,
        description="Account the local connector runs commands as. Unset: `orca-local` (created "
        "when missing) if the worker runs as root, else the worker's own account, whose "
        "commands can then read Orca's secrets: grant local systems to admins only. `self` "
        "forces the worker's own account.",
    )
    jwt_secret: SecretStr | None = Field(
        None,
        description="Key that signs access tokens (at least 32 bytes). `orca up` generates one "
        "into ORCA_HOME; `orca api` refuses to start without it.",
    )
    jwt_algorithm: str = Field(
        "HS256", description="The one JWT algorithm accepted: HS256, HS384 or HS512."
    )
    access_token_ttl_seconds: int = Field(
        900, ge=30, le=86400, description="Lifetime of an access token."
    )
    refresh_token_ttl_seconds: int = Field(
        7 * 86400, ge=300, le=90 * 86400, description="Lifetime of a refresh token."
    )
    session_max_seconds: int = Field(
        30 * 86400,
        ge=300,
        le=365 * 86400,
        description="A login's refresh tokens stop rotating this long after the password was "
        "typed, however active the session: then the user logs in again.",
    )
    password_min_length: int = Field(
        12, ge=8, le=128, description="Shortest password accepted for an account."
    )
    login_max_failures_per_user: int = Field(
        5,
        ge=1,
        le=1000,
        description="Failed logins for one username within ORCA_LOGIN_LOCKOUT_SECONDS before "
        "further attempts get 429 (counted in Redis, across API replicas).",
    )
    login_max_failures_per_ip: int = Field(
        50,
        ge=1,
        le=100000,
        description="Failed logins from one client address within ORCA_LOGIN_LOCKOUT_SECONDS "
        "before further attempts get 429.",
    )
    login_lockout_seconds: int = Field(
        900,
        ge=1,
        le=86400,
        description="Window in which failed logins are counted; a locked username or address "
        "is free again when it ends.",
    )
    console_dir: Path | None = Field(
        None,
        description="The web console's production build (a directory with index.html), "
        "served at `/`. Unset: `frontend/dist` of the source tree, when it has been built.",
    )
    cookie_secure: bool | None = Field(
        None,
        description="Mark the web console's refresh-token cookie `Secure` (sent over HTTPS "
        "only). Unset: when the request came over HTTPS (as told by a trusted proxy's "
        "X-Forwarded-Proto, see ORCA_TRUSTED_PROXIES).",
    )
    trusted_proxies: str | None = Field(
        None,
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For is believed (for client IPs in the audit log and login limits). Unset: "
        "the peer address is the client.",
    )
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Fernet keys for credential secrets; the first encrypts, "
        "all decrypt. `orca up` generates one into ORCA_HOME; `orca api` and `orca worker` "
        "refuse to start without it.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field(
        LogFormat.json, description="`json` (one object per line) or `console`."
    )
    db_pool_size: int = Field(
        10, ge=1, le=200, description="Connections each process keeps to PostgreSQL."
    )
    db_max_overflow: int = Field(
        10, ge=0, le=200, description="Extra connections allowed above the pool size."
    )
    db_connect_timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="Give up connecting to PostgreSQL after this long."
    )
    db_idle_in_transaction_seconds: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="PostgreSQL ends a session left idle inside a transaction this long, "
        "releasing its locks: a process cut off from the database in the middle of a "
        "transaction does not hold rows others wait for any longer than this.",
    )
    readiness_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="Each `/readyz` check fails after this long."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="A static bearer token (at least 32 characters) that may read `/metrics`, "
        "for Prometheus, which cannot log in. Unset: only a signed-in user whose role has "
        "`metrics:read` may.",
    )

    @field_validator("schedule_tick_seconds")
    @classmethod
    def _divides_a_minute(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)")
        return value

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _check_fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for index, key in enumerate(value, start=1):
            try:
                raw = base64.urlsafe_b64decode(key.get_secret_value().encode())
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    f"key {index} is not a Fernet key (32 url-safe base64-encoded bytes; "
                    "make one with `orca generate-key`)"
                )
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _check_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes long")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if len(token) < 32:
            raise ValueError("must be at least 32 characters long")
        if token != token.strip() or " " in token:
            # It travels as `Authorization: Bearer <token>`: a space would cut it short.
            raise ValueError("must not contain spaces")
        return value

    @field_validator("jwt_algorithm")
    @classmethod
    def _check_algorithm(cls, value: str) -> str:
        if value not in {"HS256", "HS384", "HS512"}:
            raise ValueError("must be one of HS256, HS384, HS512")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        networks = []
        for part in (part.strip() for part in value.split(",")):
            if not part:
                continue
            try:
                # Normalised ("10.0.0.1/8" → "10.0.0.0/8"): uvicorn parses networks strictly
                # and would silently treat a loose one as a name matching nothing.
                networks.append(str(ipaddress.ip_network(part, strict=False)))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or network") from None
        return ",".join(networks)

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value()
        if url.startswith(("postgresql://", "postgres://")):
            # Accept the form every PostgreSQL tool prints; we always drive it through asyncpg.
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        if not url.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a postgresql:// or postgresql+asyncpg:// URL")
        return SecretStr(url)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        # Even in development: a copied .env.example must not sign real tokens.
        secrets = {
            "ORCA_JWT_SECRET": self.jwt_secret,
            "ORCA_DATABASE_URL": self.database_url,
            "ORCA_REDIS_URL": self.redis_url,
            "ORCA_METRICS_TOKEN": self.metrics_token,
        }
        for name, value in secrets.items():
            if value is not None and "change-me" in value.get_secret_value():
                raise ValueError(f"{name} still holds the change-me placeholder; set a real secret")
        return self

    @model_validator(mode="after")
    def _check_heartbeat(self) -> Settings:
        if self.worker_heartbeat_ttl_seconds <= self.worker_heartbeat_seconds:
            raise ValueError(
                "ORCA_WORKER_HEARTBEAT_TTL_SECONDS must be greater than "
                "ORCA_WORKER_HEARTBEAT_SECONDS"
            )
        return self

    # -- what each process needs before it may start --------------------------------------

    def require(self, *names: str) -> None:
        """Raise SettingsError naming the first required setting that is unset."""
        for name in names:
            value = getattr(self, name)
            if value is None or value == []:
                raise SettingsError(
                    f"{ENV_PREFIX}{name.upper()} is not set: `orca up` generates it for "
                    "development; production must provide it"
                )


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    if location:
        return f"{ENV_PREFIX}{location[0].upper()} is invalid: {message}"
    return message


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; turn validation failures into one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
