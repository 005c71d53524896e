"""The credential vault through the API: every kind stored, checked and never shown again."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.embedded import postgres_bin_dir
from app.core.vault import Vault
from app.models import Credential, Job
from app.models.enums import Role, Shell
from tests.fixtures.app import LiveApp
from tests.fixtures.auth import Account, add_account
from tests.fixtures.keys import make_certificate, make_ssh_key
from tests.fixtures.processes import ORCA
from tests.fixtures.systems import MakeSystem

CREDENTIALS = "/api/v1/credentials"
DISTINCTIVE = "Zebra-Quokka-7741-Orca-Secret"


def _body(kind: str, secret: dict[str, Any], name: str = "cred") -> dict[str, Any]:
    return {"name": name, "kind": kind, "username": "deploy", "secret": secret}


async def test_every_kind_is_stored_encrypted_and_never_shown(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, tmp_path: Path, app: Any
) -> None:
    key = make_ssh_key(tmp_path, "ed25519", passphrase="key-pass-123")
    certificate, cert_key = make_certificate()
    secrets = {
        "ssh-password": {"password": DISTINCTIVE},
        "ssh-key": {"private_key": key.private, "passphrase": "key-pass-123"},
        "winrm-password": {"password": DISTINCTIVE},
        "winrm-certificate": {"certificate": certificate, "private_key": cert_key},
    }
    for kind, secret in secrets.items():
        response = await client.post(
            CREDENTIALS, json=_body(kind, secret, f"c-{kind}"), headers=admin.headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert "secret" not in body and DISTINCTIVE not in response.text
        assert "PRIVATE KEY" not in response.text and "key-pass-123" not in response.text
        if kind == "ssh-key":
            assert body["public_key_fingerprint"] == key.fingerprint
        row = await session.get(Credential, body["id"])
        assert row is not None and DISTINCTIVE.encode() not in row.secret
        assert app.state.vault.open(row.secret) == secret
    listed = await client.get(CREDENTIALS, headers=admin.headers)
    assert listed.json()["total"] == 4 and DISTINCTIVE not in listed.text


@pytest.mark.parametrize(
    ("kind", "secret", "status", "field"),
    [
        ("ssh-key", {"private_key": "not a key"}, 400, "secret.private_key"),
        ("ssh-password", {"password": ""}, 400, "secret.password"),
        ("ssh-password", {"password": "x", "token": "y"}, 400, "secret.token"),
        ("ssh-password", {"private_key": "x"}, 400, "secret.password"),
        ("ssh-key", {"passphrase": "x"}, 400, "secret.private_key"),
        ("winrm-certificate", {"certificate": "x", "private_key": "y"}, 400, "secret.certificate"),
        ("telnet", {"password": "x"}, 422, "kind"),
    ],
)
async def test_bad_secrets_name_the_field(
    client: httpx.AsyncClient,
    admin: Account,
    kind: str,
    secret: dict[str, str],
    status: int,
    field: str,
) -> None:
    response = await client.post(CREDENTIALS, json=_body(kind, secret), headers=admin.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["details"][0]["field"] == field


async def test_key_passphrases_are_checked(
    client: httpx.AsyncClient, admin: Account, tmp_path: Path
) -> None:
    locked = make_ssh_key(tmp_path, "rsa", passphrase="right-one")
    for passphrase, message in ((None, "give its passphrase"), ("wrong-one", "does not open")):
        secret = {"private_key": locked.private}
        if passphrase:
            secret["passphrase"] = passphrase
        response = await client.post(
            CREDENTIALS, json=_body("ssh-key", secret), headers=admin.headers
        )
        assert response.status_code == 400
        assert message in response.json()["error"]["message"]
        assert response.json()["error"]["details"][0]["field"] == "secret.passphrase"
    mismatched_cert, _ = make_certificate()
    _, other_key = make_certificate()
    response = await client.post(
        CREDENTIALS,
        json=_body("winrm-certificate", {"certificate": mismatched_cert, "private_key": other_key}),
        headers=admin.headers,
    )
    assert response.status_code == 400 and "does not belong" in response.json()["error"]["message"]


async def test_update_replaces_the_secret_and_audits_only_field_names(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, app: Any
) -> None:
    created = (
        await client.post(
            CREDENTIALS,
            json=_body("ssh-password", {"password": "old-secret"}),
            headers=admin.headers,
        )
    ).json()
    response = await client.patch(
        f"{CREDENTIALS}/{created['id']}",
        json={"username": "root", "secret": {"password": DISTINCTIVE}},
        headers=admin.headers,
    )
    assert response.status_code == 200 and response.json()["username"] == "root"
    row = await session.get(Credential, created["id"])
    assert row is not None and app.state.vault.open(row.secret) == {"password": DISTINCTIVE}
    wrong_shape = await client.patch(
        f"{CREDENTIALS}/{created['id']}",
        json={"secret": {"private_key": "x"}},
        headers=admin.headers,
    )
    assert wrong_shape.status_code == 400
    audit_text = (
        (await session.execute(text("SELECT details::text FROM audit_log"))).scalars().all()
    )
    assert any('"replaced_fields": ["password"]' in row for row in audit_text)
    assert not any(DISTINCTIVE in row or "old-secret" in row for row in audit_text)


async def test_a_credential_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, make_system: MakeSystem
) -> None:
    created = (
        await client.post(
            CREDENTIALS, json=_body("ssh-password", {"password": "x"}), headers=admin.headers
        )
    ).json()
    system = await make_system()
    system.credential_id = created["id"]
    await session.flush()
    refused = await client.delete(f"{CREDENTIALS}/{created['id']}", headers=admin.headers)
    assert refused.status_code == 409 and "1 system" in refused.json()["error"]["message"]
    system.credential_id = None
    await session.flush()
    assert (
        await client.delete(f"{CREDENTIALS}/{created['id']}", headers=admin.headers)
    ).status_code == 200


async def test_the_plaintext_is_nowhere(
    live: LiveApp, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A distinctive password and a private key go in through the API; afterwards every
    response body, every log line, the audit table and a pg_dump of the whole database are
    searched for them."""
    caplog.set_level(logging.DEBUG)
    async with live.session() as session:
        admin = await add_account(session, live.settings, Role.admin, "vault-admin")
    key = make_ssh_key(tmp_path, "ed25519")
    key_body = key.private.splitlines()[1]  # a line of the key's base64
    bodies: list[str] = []

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await live.client.request(method, path, headers=admin.headers, **kwargs)
        bodies.append(response.text)
        return response

    created = (
        await call("POST", CREDENTIALS, json=_body("ssh-password", {"password": DISTINCTIVE}))
    ).json()
    await call("POST", CREDENTIALS, json=_body("ssh-key", {"private_key": key.private}, "k"))
    await call("POST", CREDENTIALS, json=_body("ssh-password", {"password": DISTINCTIVE}))  # 409
    await call("POST", CREDENTIALS, json=_body("ssh-key", {"private_key": DISTINCTIVE}, "bad"))
    await call("GET", CREDENTIALS)
    await call("GET", f"{CREDENTIALS}/{created['id']}")
    await call(
        "PATCH", f"{CREDENTIALS}/{created['id']}", json={"secret": {"password": DISTINCTIVE}}
    )
    await call("GET", "/api/v1/audit?limit=500")
    await call("GET", "/api/v1/audit/export?format=csv")

    dump = await asyncio.to_thread(
        subprocess.run,
        [
            str(postgres_bin_dir() / "pg_dump"),
            "--data-only",
            live.database_url.replace("+asyncpg", ""),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dump.returncode == 0, dump.stderr
    assert "COPY public.credentials" in dump.stdout
    async with live.session() as session:
        audit_rows = (
            (await session.execute(text("SELECT a::text FROM audit_log a"))).scalars().all()
        )
    logs = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    for place, content in {
        "responses": "\n".join(bodies),
        "logs": logs,
        "audit": "\n".join(audit_rows),
        "pg_dump": dump.stdout,
    }.items():
        assert DISTINCTIVE not in content, place
        assert key_body not in content, place


async def test_rotate_keys_re_encrypts_and_can_run_again(
    live: LiveApp, orca_env: dict[str, str]
) -> None:
    old_keys = [k.get_secret_value() for k in live.settings.encryption_keys]
    async with live.session() as session:
        for index in range(7):
            session.add(
                Credential(
                    name=f"c{index}",
                    kind="ssh-password",
                    username="u",
                    secret=Vault(old_keys).seal({"password": f"p{index}"}),
                )
            )
        await session.commit()
    from cryptography.fernet import Fernet

    new_key = Fernet.generate_key().decode()
    env = {
        **orca_env,
        "ORCA_DATABASE_URL": live.database_url,
        "ORCA_ENCRYPTION_KEYS": ",".join([new_key, *old_keys]),
    }

    def orca(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ORCA, *args], env={**env, **overrides}, capture_output=True, text=True, timeout=120
        )

    first = await asyncio.to_thread(orca, "rotate-keys")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "re-encrypted 7 secret(s); 0 already used the first key"
    again = await asyncio.to_thread(orca, "rotate-keys")
    assert again.stdout.strip() == "re-encrypted 0 secret(s); 7 already used the first key"
    # The old key can go now: every secret opens with the new one alone.
    new_only = Vault([new_key])
    async with live.session() as session:
        rows = (await session.execute(select(Credential).order_by(Credential.name))).scalars().all()
        assert [new_only.open(r.secret) for r in rows] == [{"password": f"p{i}"} for i in range(7)]
    lost = await asyncio.to_thread(
        orca, "rotate-keys", ORCA_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    assert lost.returncode == 2
    assert "opens with none of the keys" in lost.stderr and "Traceback" not in lost.stderr


async def test_an_interrupted_rotation_resumes(live: LiveApp) -> None:
    """A run stopped after its first batch committed: the next run finishes the rest and
    skips what is done, and every secret opens throughout."""
    from cryptography.fernet import Fernet

    from app.services import credentials as credentials_service

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old, both = Vault([old_key]), Vault([new_key, old_key])
    async with live.session() as session:
        for index in range(5):
            # The first two as an interrupted run left them: already under the new key.
            vault = both if index < 2 else old
            session.add(
                Credential(
                    name=f"r{index}",
                    kind="ssh-password",
                    username="u",
                    secret=vault.seal({"password": str(index)}),
                )
            )
        # A job's environment is sealed the same way, and rotated with the secrets.
        session.add(
            Job(
                name="deploy",
                command="env",
                shell=Shell.sh,
                targets={},
                timeout_seconds=60,
                environment_keys=["TOKEN"],
                environment_sealed=old.seal({"TOKEN": "t0ken"}),
            )
        )
        await session.commit()
    async with live.session() as session:
        result = await credentials_service.rotate_keys(session, both, batch_size=2)
    assert (result.rotated, result.already_current, result.remaining) == (4, 2, 0)
    async with live.session() as session:
        rows = (await session.execute(select(Credential).order_by(Credential.name))).scalars()
        assert [Vault([new_key]).open(r.secret)["password"] for r in rows] == list("01234")
        job = (await session.execute(select(Job))).scalar_one()
        assert job.environment_sealed is not None
        assert Vault([new_key]).open(job.environment_sealed) == {"TOKEN": "t0ken"}


async def test_pkcs8_and_pem_keys_are_accepted(client: httpx.AsyncClient, admin: Account) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    for name, key in (
        ("rsa-pkcs8", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ec-pkcs8", ec.generate_private_key(ec.SECP256R1())),
    ):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        response = await client.post(
            CREDENTIALS, json=_body("ssh-key", {"private_key": pem}, name), headers=admin.headers
        )
        assert response.status_code == 201, response.text
        assert response.json()["public_key_fingerprint"].startswith("SHA256:")
