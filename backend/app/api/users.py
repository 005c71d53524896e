"""User accounts (admins manage, auditors read)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from app.api.deps import SessionDep, SettingsDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.models.enums import Role
from app.schemas.common import Cursor, Deleted, Limit, Page, Search, UserSort, page_of
from app.schemas.users import (
    PasswordReset,
    PasswordResetDone,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from app.services import users as users_service

router = APIRouter(prefix="/users", tags=["users"])

Reader = Annotated[Principal, requires(Permission.users_read)]
Manager = Annotated[Principal, requires(Permission.users_manage)]


@router.get("", response_model=Page[UserOut], summary="List users")
async def list_users(
    _: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: UserSort = "username",
    q: Search = None,
    role: Role | None = None,
    is_active: bool | None = None,
    team_id: uuid.UUID | None = None,
) -> Page[UserOut]:
    """Users matching every given filter; `q` looks in username, full name and e-mail."""
    page = await users_service.search(
        session,
        limit=limit,
        cursor=cursor,
        sort=sort,
        q=q,
        role=role,
        is_active=is_active,
        team_id=team_id,
    )
    return page_of(UserOut, page)


@router.post(
    "", response_model=UserCreated, status_code=status.HTTP_201_CREATED, summary="Create a user"
)
async def create_user(
    body: UserCreate, actor: Manager, session: SessionDep, settings: SettingsDep
) -> UserCreated:
    """Create an account. Without a password, one is generated and returned this once."""
    created = await users_service.create(
        session,
        settings,
        actor,
        username=body.username,
        password=body.password.get_secret_value() if body.password else None,
        role=body.role,
        email=body.email,
        full_name=body.full_name,
    )
    out = UserOut.model_validate(created.user).model_dump()
    return UserCreated(**out, generated_password=created.generated_password)


@router.get("/{user_id}", response_model=UserOut, summary="Get a user")
async def get_user(user_id: uuid.UUID, _: Reader, session: SessionDep) -> UserOut:
    return UserOut.model_validate(await users_service.get(session, user_id))


@router.patch("/{user_id}", response_model=UserOut, summary="Change a user")
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, actor: Manager, session: SessionDep
) -> UserOut:
    """Change role, active flag, e-mail or full name. A new role or a deactivation ends the
    user's sessions at once. The last active admin cannot be demoted or deactivated."""
    changes = body.model_dump(exclude_unset=True)
    for field in ("role", "is_active"):
        if field in changes and changes[field] is None:
            changes.pop(field)
    user = await users_service.update(session, actor, user_id, changes)
    return UserOut.model_validate(user)


@router.post(
    "/{user_id}/password", response_model=PasswordResetDone, summary="Reset a user's password"
)
async def reset_password(
    user_id: uuid.UUID,
    actor: Manager,
    session: SessionDep,
    settings: SettingsDep,
    body: PasswordReset | None = None,
) -> PasswordResetDone:
    """Set a new password for the user (generated when omitted, and then returned once). The
    user's sessions end at once."""
    password = body.password.get_secret_value() if body and body.password else None
    generated = await users_service.reset_password(session, settings, actor, user_id, password)
    return PasswordResetDone(generated_password=generated)


@router.post("/{user_id}/deactivate", response_model=UserOut, summary="Deactivate a user")
async def deactivate_user(user_id: uuid.UUID, actor: Manager, session: SessionDep) -> UserOut:
    """Stop the user from logging in; every session and token of theirs ends at once. Undo
    with PATCH `is_active: true`."""
    user = await users_service.update(session, actor, user_id, {"is_active": False})
    return UserOut.model_validate(user)


@router.delete("/{user_id}", response_model=Deleted, summary="Delete a user")
async def delete_user(user_id: uuid.UUID, actor: Manager, session: SessionDep) -> Deleted:
    """Remove the account. The audit log keeps its history under its id and username."""
    await users_service.delete(session, actor, user_id)
    return Deleted()
