"""Authentication and the permission gate, as FastAPI dependencies.

Every route declares the permission it needs with `requires(Permission.x)`, either as a
parameter (`principal: Annotated[Principal, requires(...)]`) or in the decorator's
`dependencies=`. A test walks every route and fails on one without a gate.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import SessionDep, SettingsDep
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.auth.tokens import InvalidToken, decode_access_token
from app.core.config import Settings
from app.core.errors import Forbidden, Unauthorized
from app.models.enums import AuditOutcome
from app.repositories import users as users_repo
from app.services import audit

API_PREFIX = "/api/v1"

# Makes /docs show the Authorize button; the form it posts is accepted by the login route.
bearer = OAuth2PasswordBearer(tokenUrl=f"{API_PREFIX}/auth/login", auto_error=False)

INVALID_TOKEN = "Missing, invalid or expired access token."  # noqa: S105 (a message)


def _unauthorized() -> Unauthorized:
    # One body for every reason: which check failed is nobody's business but the log's.
    return Unauthorized(INVALID_TOKEN, headers={"WWW-Authenticate": "Bearer"})


async def principal_for(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, token_version: int
) -> Principal | None:
    """The user behind a token, if it is still good: active, same token version (no password
    change or forced logout since), its session not revoked. None otherwise."""
    state = await users_repo.token_state(session, user_id, session_id)
    if (
        state is None
        or not state.is_active
        or state.token_version != token_version
        or state.session_revoked
    ):
        return None
    return Principal(
        id=user_id,
        username=state.username,
        role=state.role,
        session_id=session_id,
        token_version=token_version,
    )


async def authenticate(session: AsyncSession, settings: Settings, token: str) -> Principal | None:
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken:
        return None
    return await principal_for(session, claims.user_id, claims.session_id, claims.token_version)


async def current_principal(
    request: Request,
    token: Annotated[str | None, Depends(bearer)],
    session: SessionDep,
    settings: SettingsDep,
) -> Principal:
    """The caller, from a valid access token whose user, version and session are current.

    Costs one indexed query per request; in return a deactivation, password change, role
    change or logout takes effect on the very next request, not when the token expires.
    A token presented and refused is audited as `auth.token_rejected` (a request with none is
    not): at most one row per client address and reason a minute, so a flood of forgeries
    cannot flood the log.
    """
    if not token:
        raise _unauthorized()
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as exc:
        raise await _rejected(request, exc.reason, None) from None
    principal = await principal_for(
        session, claims.user_id, claims.session_id, claims.token_version
    )
    if principal is None:
        # Signed by us, but its user is gone or inactive, its session ended, or the password
        # changed since.
        raise await _rejected(request, "revoked", claims.user_id)
    return principal


REJECTION_WINDOW_SECONDS = 60


async def _rejected(request: Request, reason: str, user_id: uuid.UUID | None) -> Unauthorized:
    error = _unauthorized()
    client = request.client.host if request.client else "unknown"
    key = f"orca:audit-throttle:token_rejected:{client}:{reason}"
    try:
        first = await request.app.state.redis.set(key, b"1", ex=REJECTION_WINDOW_SECONDS, nx=True)
    except Exception:  # Redis away: audit every one rather than none
        first = True
    if first:
        details: dict[str, Any] = {
            "reason": reason,
            "method": request.method,
            "path": request.url.path,
        }
        if user_id is not None:
            details["user_id"] = str(user_id)
        error.on_rollback = (
            audit.later("auth.token_rejected", outcome=AuditOutcome.denied, details=details),
        )
    return error


PrincipalDep = Annotated[Principal, Depends(current_principal)]


class PermissionGate:
    """Lets the request through when the caller's role holds `permission`; otherwise 403,
    audited as `access.denied`."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request, principal: PrincipalDep) -> Principal:
        if principal.can(self.permission):
            return principal
        raise Forbidden(
            f"Your role ({principal.role.value}) does not have the {self.permission.value} "
            "permission.",
            details={"permission": self.permission.value},
            on_rollback=[
                audit.later(
                    "access.denied",
                    actor=principal,
                    outcome=AuditOutcome.denied,
                    details={
                        "permission": self.permission.value,
                        "role": principal.role.value,
                        "method": request.method,
                        "path": request.url.path,
                    },
                )
            ],
        )

    def __repr__(self) -> str:
        return f"requires({self.permission.value})"


def requires(permission: Permission) -> Any:
    """The gate for a route: `Annotated[Principal, requires(Permission.users_read)]`."""
    return Depends(PermissionGate(permission))
