from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from app.models.enums import HealthStatus, SystemKind
from app.schemas.common import NO_NUL, Description, ORMModel

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?)+$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$")


def _host(value: str) -> str:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ValueError("must be a host name or an IP address")
    return value.lower()


def _labels(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 50:
        raise ValueError("at most 50 labels")
    for key, text in value.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(
                f"label key {key!r}: letters, digits and . _ / - (at most 63, "
                "starting and ending with a letter or digit)"
            )
        if len(text) > 200 or "\x00" in text:
            raise ValueError(f"label {key!r}: at most 200 characters, no NUL")
    return value


SystemName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00/]*$"),
]
Host = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
ConnectorName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
]


class SystemCreate(BaseModel):
    name: SystemName
    description: Description | None = None
    kind: SystemKind | None = Field(
        None, description="linux or windows; omitted: what the connector reaches (winrm: windows)."
    )
    connector: ConnectorName = Field("ssh", description="ssh, winrm, local, or a plugin's name.")
    host: Host
    port: Port | None = Field(None, description="Omit for the connector's default.")
    credential_id: uuid.UUID | None = None
    host_key: Annotated[str, StringConstraints(max_length=20000, pattern=NO_NUL)] | None = Field(
        None,
        description="The host's public key (`ssh-ed25519 AAAA…`), pinned now. Otherwise, scan "
        "and trust it before the first connection.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Connector settings, checked by the connector."
    )
    labels: Labels = Field(default_factory=dict)
    group_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    max_concurrency: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "name": "web-1",
                    "kind": "linux",
                    "connector": "ssh",
                    "host": "10.0.0.11",
                    "port": 22,
                    "credential_id": "0b6f2b8e-3f1d-4c4a-9a63-2f3c1d9e8a10",
                    "labels": {"env": "prod", "role": "web"},
                }
            ]
        },
    }


class SystemUpdate(BaseModel):
    model_config = {"extra": "forbid"}

    name: SystemName | None = None
    description: Description | None = None
    kind: SystemKind | None = None
    connector: ConnectorName | None = None
    host: Host | None = None
    port: Port | None = None
    credential_id: uuid.UUID | None = None
    options: dict[str, Any] | None = None
    labels: Labels | None = None
    group_ids: list[uuid.UUID] | None = Field(None, max_length=100)
    max_concurrency: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None


class SystemOut(ORMModel):
    id: uuid.UUID
    name: str
    description: str | None
    kind: SystemKind
    connector: str
    host: str
    port: int | None
    credential_id: uuid.UUID | None
    options: dict[str, Any]
    labels: dict[str, Any]
    group_ids: list[uuid.UUID] = []
    max_concurrency: int | None
    health_status: HealthStatus
    last_checked_at: datetime | None
    last_error: str | None
    host_key: str | None
    host_key_fingerprint: str | None
    created_at: datetime
    updated_at: datetime


class HostKeyPin(BaseModel):
    host_key: Annotated[str, StringConstraints(min_length=1, max_length=20000, pattern=NO_NUL)]


class ImportResult(BaseModel):
    created: int
    ids: list[uuid.UUID]


class TestResult(BaseModel):
    ok: bool
    latency_ms: float | None = Field(description="Connect, authenticate and run `true`.")
    category: str | None = Field(
        description="When not ok: dns, refused, timeout, network, protocol, circuit_open, "
        "auth, host_key or unsupported."
    )
    message: str | None
    checked_at: datetime


class HostKeyScan(BaseModel):
    host_key: str
    fingerprint: str
    pinned_fingerprint: str | None
    matches_pinned: bool


class HostKeyTrust(BaseModel):
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)] = (
        Field(description="The fingerprint you checked on the host itself, `SHA256:…`.")
    )
