"""The credential vault: named secrets, encrypted at rest, write-only through the API.

Secrets are checked when saved (an SSH key must parse, with its passphrase; a client
certificate must match its key), so a bad secret is a 400 now rather than a failed job later.
Nothing here ever returns, logs or audits a secret value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.connectors.ssh_keys import KeyProblem, fingerprint, load_private_key
from app.core.errors import BadRequest, Conflict
from app.core.vault import Vault
from app.models import Credential, Job, JobTemplate, Schedule
from app.models.enums import CredentialKind
from app.repositories import common as common_repo
from app.repositories import credentials as credentials_repo
from app.repositories.pagination import Page, keyset_page, name_sorts
from app.schemas.credentials import SECRET_SCHEMAS
from app.services import audit
from app.services.common import changes_of, get_or_404, require_unique_name

SORTS = name_sorts(Credential)
ROTATE_BATCH = 500


def _plain(secret: BaseModel) -> dict[str, str]:
    values: dict[str, str] = {}
    for field, value in secret:
        if value is not None:
            values[field] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return values


def _bad_secret(field: str, problem: str) -> BadRequest:
    return BadRequest(
        f"secret.{field}: {problem}", details=[{"field": f"secret.{field}", "message": problem}]
    )


def check_secret(kind: CredentialKind, secret: dict[str, str]) -> str | None:
    """Refuse a secret that cannot work; return the public key's fingerprint for SSH keys."""
    if kind == CredentialKind.ssh_key:
        try:
            ssh_key = load_private_key(secret["private_key"], secret.get("passphrase"))
        except KeyProblem as exc:
            field = "passphrase" if "passphrase" in str(exc) else "private_key"
            raise _bad_secret(field, str(exc)) from None
        return fingerprint(ssh_key)
    if kind == CredentialKind.winrm_certificate:
        _check_certificate_pair(secret["certificate"], secret["private_key"])
    return None


def _check_certificate_pair(certificate_pem: str, key_pem: str) -> None:
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        raise _bad_secret("certificate", "not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), None)
    except (ValueError, TypeError):
        raise _bad_secret("private_key", "not an unencrypted PEM private key") from None
    encoding = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(encoding, spki) != certificate.public_key().public_bytes(
        encoding, spki
    ):
        raise _bad_secret("private_key", "does not belong to the certificate")


def parse_secret(kind: CredentialKind, raw: dict[str, Any]) -> dict[str, str]:
    """A secret given as a plain mapping (an update), validated for the credential's kind."""
    try:
        model = SECRET_SCHEMAS[kind].model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "secret"
        message = (
            "not allowed for this kind" if first["type"] == "extra_forbidden" else first["msg"]
        )
        raise _bad_secret(field, str(message)) from None
    return _plain(model)


async def get(
    session: AsyncSession, credential_id: uuid.UUID, *, for_update: bool = False
) -> Credential:
    return await get_or_404(session, Credential, credential_id, "credential", for_update=for_update)


async def search(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    q: str | None = None,
    kind: CredentialKind | None = None,
) -> Page[Credential]:
    stmt = credentials_repo.search(q=q, kind=kind)
    return await keyset_page(session, stmt, SORTS[sort], limit=limit, cursor=cursor)


async def system_counts(session: AsyncSession, rows: list[Credential]) -> dict[uuid.UUID, int]:
    return await credentials_repo.system_counts(session, [row.id for row in rows])


async def create(
    session: AsyncSession,
    vault: Vault,
    actor: Principal,
    *,
    name: str,
    kind: CredentialKind,
    username: str,
    description: str | None,
    secret: dict[str, Any],
) -> Credential:
    await require_unique_name(session, Credential, name, "credential")
    values = parse_secret(kind, secret)
    row = await common_repo.add(
        session,
        Credential(
            name=name,
            kind=kind,
            username=username,
            description=description,
            secret=vault.seal(values),
            fingerprint=check_secret(kind, values),
            created_by_id=actor.id,
        ),
    )
    await audit.record(
        session,
        "credential.create",
        actor=actor,
        target_type="credential",
        target_id=row.id,
        details={"name": name, "kind": kind.value, "username": username},
    )
    return row


async def update(
    session: AsyncSession,
    vault: Vault,
    actor: Principal,
    credential_id: uuid.UUID,
    changes: dict[str, Any],
    secret: dict[str, Any] | None,
) -> Credential:
    row = await get(session, credential_id, for_update=True)
    if "name" in changes:
        await require_unique_name(session, Credential, changes["name"], "credential", row.id)
    changed: dict[str, Any] = dict(changes_of(row, changes))
    if secret is not None:
        values = parse_secret(row.kind, secret)
        row.fingerprint = check_secret(row.kind, values)
        row.secret = vault.seal(values)
        # Which fields were replaced, never their values.
        changed["replaced_fields"] = sorted(values)
    await session.flush()
    await audit.record_update(session, actor, "credential", row, changed)
    return row


async def delete(session: AsyncSession, actor: Principal, credential_id: uuid.UUID) -> None:
    row = await get(session, credential_id, for_update=True)
    used = (await credentials_repo.system_counts(session, [row.id])).get(row.id, 0)
    if used:
        raise Conflict(
            f"credential {row.name!r} is used by {used} system(s); give them another first",
            details={"systems": used},
        )
    details = {"name": row.name, "kind": row.kind.value}
    await common_repo.delete(session, row)
    await audit.record(
        session,
        "credential.delete",
        actor=actor,
        target_type="credential",
        target_id=credential_id,
        details=details,
    )


@dataclass(frozen=True)
class Rotation:
    rotated: int
    already_current: int
    # Changed by someone else while rotating and still under an old key: run again.
    remaining: int = 0


SEALED_COLUMNS = (
    Credential.secret,
    Job.environment_sealed,
    JobTemplate.environment_sealed,
    Schedule.secrets_sealed,
)


async def rotate_keys(
    session: AsyncSession, vault: Vault, batch_size: int = ROTATE_BATCH
) -> Rotation:
    """Re-encrypt every secret under the vault's first key, committing batch by batch.

    Safe to stop at any point and run again: every stored token opens with one of the keys
    throughout, and tokens already under the first key are skipped. A final pass counts any
    secret still under an old key (one re-saved meanwhile by an API that had not yet got the
    new key): the old key may be dropped only when none remain.
    """
    rotated = current = remaining = 0
    # Credential secrets, and environments and parameters of jobs, templates and schedules
    # (their values may be secrets too).
    for column in SEALED_COLUMNS:
        async for batch in credentials_repo.secret_batches(session, batch_size, column):
            for row_id, token in batch:
                if vault.is_current(token):
                    current += 1
                elif await credentials_repo.replace_secret(
                    session, row_id, token, vault.rotate(token), column
                ):
                    rotated += 1
            await session.commit()
    for column in SEALED_COLUMNS:
        async for batch in credentials_repo.secret_batches(session, batch_size, column):
            remaining += sum(not vault.is_current(token) for _, token in batch)
    if rotated:
        await audit.record(
            session,
            "credential.rotate_keys",
            actor_username="orca-cli",
            details={"rotated": rotated, "already_current": current, "remaining": remaining},
        )
    await session.commit()
    return Rotation(rotated, current, remaining)
