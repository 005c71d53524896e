"""The periodic health sweep: due systems are checked with bounded concurrency, each result
stored, and every change of status published on Redis."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import select

from app.connectors.registry import Connectors
from app.core.db import create_sessionmaker
from app.core.embedded import free_port
from app.core.vault import Vault
from app.models import Credential, System
from app.models.enums import HealthStatus
from app.services import connectivity
from app.worker.settings import check_systems
from tests.fixtures.app import LiveApp
from tests.fixtures.sshd import SshAccount, SshServer


async def test_a_sweep_checks_due_systems_and_publishes_changes(
    live: LiveApp, redis: Redis, sshd: SshServer, ssh_account: SshAccount
) -> None:
    vault = Vault([k.get_secret_value() for k in live.settings.encryption_keys])
    secret = {"private_key": ssh_account.keys["ed25519"].private}
    async with live.session() as session:
        credential = Credential(
            name="key", kind="ssh-key", username=ssh_account.username, secret=vault.seal(secret)
        )
        session.add(credential)
        await session.flush()
        session.add_all(
            [
                System(name="here", kind="linux", connector="local", host="localhost"),
                System(
                    name="good",
                    kind="linux",
                    connector="ssh",
                    host="127.0.0.1",
                    port=sshd.port,
                    credential_id=credential.id,
                    host_key=sshd.host_key_line,
                ),
                System(
                    name="down",
                    kind="linux",
                    connector="ssh",
                    host="127.0.0.1",
                    port=free_port(),
                    credential_id=credential.id,
                    host_key=sshd.host_key_line,
                ),
                System(
                    name="fresh",
                    kind="linux",
                    connector="local",
                    host="localhost",
                    health_status=HealthStatus.error,
                    last_checked_at=datetime.now(UTC),
                ),
            ]
        )
        await session.commit()

    pubsub = redis.pubsub()
    await pubsub.subscribe(connectivity.EVENTS_CHANNEL)
    connectors = Connectors()
    try:
        sweep = await connectivity.check_due_systems(
            create_sessionmaker(live.engine),
            vault,
            connectors,
            redis,
            interval_seconds=300,
            concurrency=2,
        )
        assert (sweep.checked, sweep.changed) == (3, 3)
        events = []
        for _ in range(30):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message:
                events.append(json.loads(message["data"]))
            if len(events) == 3:
                break
        again = await connectivity.check_due_systems(
            create_sessionmaker(live.engine),
            vault,
            connectors,
            redis,
            interval_seconds=300,
            concurrency=2,
        )
        assert again.checked == 0  # nothing is due until the interval passes
    finally:
        await pubsub.aclose()
        await connectors.close()

    async with live.session() as session:
        rows = {s.name: s for s in (await session.execute(select(System))).scalars()}
    assert rows["here"].health_status == HealthStatus.healthy
    assert rows["good"].health_status == HealthStatus.healthy
    assert rows["down"].health_status == HealthStatus.unreachable
    assert rows["down"].last_error is not None and rows["down"].last_error.startswith("refused")
    assert rows["fresh"].health_status == HealthStatus.error  # not due: untouched
    by_system = {e["system_id"]: e for e in events}
    assert by_system[str(rows["down"].id)]["status"] == "unreachable"
    assert by_system[str(rows["down"].id)]["previous"] == "unknown"
    assert {e["type"] for e in events} == {"system.health"}


async def test_the_worker_function_runs_a_sweep(live: LiveApp, redis: Redis) -> None:
    async with live.session() as session:
        session.add(System(name="solo", kind="linux", connector="local", host="localhost"))
        await session.commit()
    ctx = {
        "settings": live.settings,
        "sessionmaker": create_sessionmaker(live.engine),
        "vault": Vault([k.get_secret_value() for k in live.settings.encryption_keys]),
        "connectors": Connectors(),
        "redis": redis,
    }
    try:
        assert await check_systems(ctx) == {"checked": 1, "changed": 1}
    finally:
        await ctx["connectors"].close()  # type: ignore[attr-defined]
    await asyncio.sleep(0)


async def test_a_broken_credential_does_not_stop_the_sweep(live: LiveApp, redis: Redis) -> None:
    """A secret no configured key opens: that system is marked, the others still checked;
    a second sweep right away finds nothing due (the first claimed them)."""
    from cryptography.fernet import Fernet

    foreign = Vault([Fernet.generate_key().decode()])
    async with live.session() as session:
        lost = Credential(
            name="lost", kind="ssh-password", username="u", secret=foreign.seal({"password": "x"})
        )
        session.add(lost)
        await session.flush()
        session.add_all(
            [
                System(
                    name="orphan",
                    kind="linux",
                    connector="ssh",
                    host="127.0.0.1",
                    port=22,
                    credential_id=lost.id,
                ),
                System(name="fine", kind="linux", connector="local", host="localhost"),
            ]
        )
        await session.commit()
    vault = Vault([k.get_secret_value() for k in live.settings.encryption_keys])
    connectors = Connectors()
    maker = create_sessionmaker(live.engine)
    try:
        sweep = await connectivity.check_due_systems(
            maker, vault, connectors, redis, interval_seconds=300, concurrency=4
        )
        assert sweep.checked == 2
        assert (
            await connectivity.check_due_systems(
                maker, vault, connectors, redis, interval_seconds=300, concurrency=4
            )
        ).checked == 0
    finally:
        await connectors.close()
    async with live.session() as session:
        rows = {s.name: s for s in (await session.execute(select(System))).scalars()}
    assert rows["orphan"].health_status == HealthStatus.error
    assert "cannot be decrypted" in (rows["orphan"].last_error or "")
    assert rows["fine"].health_status == HealthStatus.healthy
