"""Credentials (admins manage, auditors read metadata). Secrets go in and never come out."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from app.api.deps import SessionDep, VaultDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.models import Credential
from app.models.enums import CredentialKind
from app.schemas.common import Cursor, Deleted, Limit, NameSort, Page, Search, page_of
from app.schemas.credentials import (
    CredentialCreate,
    CredentialOut,
    CredentialUpdate,
    SecretFields,
)
from app.services import credentials as credentials_service

router = APIRouter(prefix="/credentials", tags=["credentials"])

Reader = Annotated[Principal, requires(Permission.credentials_read)]
Manager = Annotated[Principal, requires(Permission.credentials_manage)]


def _revealed(fields: SecretFields) -> dict[str, str | None]:
    """The secret's values, for the service to validate by kind and seal at once."""
    return {key: value.get_secret_value() if value else None for key, value in fields.items()}


def _out(row: Credential, systems: int) -> CredentialOut:
    return CredentialOut.model_validate(row).model_copy(
        update={"system_count": systems, "public_key_fingerprint": row.fingerprint}
    )


async def _one(session: SessionDep, row: Credential) -> CredentialOut:
    counts = await credentials_service.system_counts(session, [row])
    return _out(row, counts.get(row.id, 0))


@router.get("", response_model=Page[CredentialOut], summary="List credentials")
async def list_credentials(
    _: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NameSort = "name",
    q: Search = None,
    kind: CredentialKind | None = None,
) -> Page[CredentialOut]:
    """Names, kinds, usernames and fingerprints; never a secret."""
    page = await credentials_service.search(
        session, limit=limit, cursor=cursor, sort=sort, q=q, kind=kind
    )
    counts = await credentials_service.system_counts(session, page.items)
    return page_of(CredentialOut, page, [_out(r, counts.get(r.id, 0)) for r in page.items])


@router.post(
    "",
    response_model=CredentialOut,
    status_code=status.HTTP_201_CREATED,
    summary="Store a credential",
)
async def create_credential(
    body: CredentialCreate, actor: Manager, session: SessionDep, vault: VaultDep
) -> CredentialOut:
    """Store a secret, encrypted. `kind` decides the secret's fields: `ssh-password`
    {password}, `ssh-key` {private_key, passphrase?}, `winrm-password` {password},
    `winrm-certificate` {certificate, private_key}. Keys and certificates are checked now."""
    row = await credentials_service.create(
        session,
        vault,
        actor,
        name=body.name,
        kind=body.kind,
        username=body.username,
        description=body.description,
        secret=_revealed(body.secret),
    )
    return _out(row, 0)


@router.get("/{credential_id}", response_model=CredentialOut, summary="Get a credential")
async def get_credential(credential_id: uuid.UUID, _: Reader, session: SessionDep) -> CredentialOut:
    return await _one(session, await credentials_service.get(session, credential_id))


@router.patch("/{credential_id}", response_model=CredentialOut, summary="Change a credential")
async def update_credential(
    credential_id: uuid.UUID,
    body: CredentialUpdate,
    actor: Manager,
    session: SessionDep,
    vault: VaultDep,
) -> CredentialOut:
    """Rename, change the username or description, or replace the secret (all its fields at
    once; the kind stays)."""
    fields = body.model_dump(exclude_unset=True, exclude={"secret"})
    changes = {k: v for k, v in fields.items() if v is not None or k == "description"}
    secret = _revealed(body.secret) if body.secret is not None else None
    row = await credentials_service.update(session, vault, actor, credential_id, changes, secret)
    return await _one(session, row)


@router.delete("/{credential_id}", response_model=Deleted, summary="Delete a credential")
async def delete_credential(
    credential_id: uuid.UUID, actor: Manager, session: SessionDep
) -> Deleted:
    """Remove a credential no system uses (409 names how many still do)."""
    await credentials_service.delete(session, actor, credential_id)
    return Deleted()
