"""Logging in and out, token refresh, the caller's own account."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.api.deps import RedisDep, SessionDep, SettingsDep
from app.auth.dependencies import requires
from app.auth.policy import ROLE_PERMISSIONS, Permission
from app.auth.principal import Principal
from app.core.errors import BadRequest, ErrorBody
from app.schemas.auth import (
    ChangePasswordRequest,
    LoginRequest,
    LogoutRequest,
    LogoutResponse,
    Me,
    RefreshRequest,
    TeamBrief,
    TokenResponse,
)
from app.services import auth as auth_service
from app.services import teams as teams_service
from app.services import users as users_service

router = APIRouter(prefix="/auth", tags=["auth"])

Self = Annotated[Principal, requires(Permission.account_self)]

_LOGIN_SCHEMA = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "maxLength": 64},
        "password": {"type": "string", "format": "password", "maxLength": 256},
    },
}
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _tokens(tokens: auth_service.Tokens) -> TokenResponse:
    return TokenResponse(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        refresh_expires_at=tokens.refresh_expires_at,
    )


async def _credentials(request: Request) -> LoginRequest:
    """The login body, as JSON or as the OAuth2 password form (which /docs sends)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Any
    if content_type in _FORMS:
        form = await request.form()
        data = {key: form.get(key) for key in ("username", "password") if key in form}
    else:
        try:
            data = await request.json()
        except ValueError:
            raise BadRequest(
                "body: send JSON {username, password} or the OAuth2 password form",
                details=[{"field": "body", "message": "not valid JSON"}],
            ) from None
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


@router.post(
    "/login",
    response_model=TokenResponse,
    summary="Log in",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _LOGIN_SCHEMA},
                "application/x-www-form-urlencoded": {"schema": _LOGIN_SCHEMA},
            },
        }
    },
    responses={
        401: {"model": ErrorBody, "description": "Wrong username or password"},
        429: {"model": ErrorBody, "description": "Too many failures; see Retry-After"},
    },
)
async def login(
    request: Request, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> TokenResponse:
    """Exchange a username and password for an access token and a refresh token.

    Failed attempts are limited per username and per client address (429 with Retry-After).
    Whether the username exists or the password is wrong, the answer is the same.
    """
    body = await _credentials(request)
    tokens = await auth_service.login(
        session, redis, settings, body.username, body.password.get_secret_value()
    )
    return _tokens(tokens)


@router.post("/refresh", response_model=TokenResponse, summary="Rotate the refresh token")
async def refresh(
    body: RefreshRequest, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> TokenResponse:
    """Spend a refresh token for a new pair. Each refresh token works once: presenting one a
    second time revokes its whole session, as that means someone else holds a copy."""
    tokens = await auth_service.refresh(
        session, redis, settings, body.refresh_token.get_secret_value()
    )
    return _tokens(tokens)


@router.post("/logout", response_model=LogoutResponse, summary="Log out")
async def logout(
    principal: Self, session: SessionDep, body: LogoutRequest | None = None
) -> LogoutResponse:
    """End this session: its refresh tokens and access tokens stop working at once. With
    `everywhere`, end every session of the user."""
    everywhere = body.everywhere if body is not None else False
    revoked = await auth_service.logout(session, principal, everywhere=everywhere)
    return LogoutResponse(revoked_tokens=revoked)


@router.get("/me", response_model=Me, summary="Who am I")
async def me(principal: Self, session: SessionDep) -> Me:
    """The caller's account, role, permissions and teams."""
    user = await users_service.get(session, principal.id)
    teams = await teams_service.teams_of(session, principal)
    return Me(
        id=user.id,
        username=user.username,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[user.role]),
        teams=[TeamBrief.model_validate(team) for team in teams],
        last_login_at=user.last_login_at,
        password_changed_at=user.password_changed_at,
    )


@router.post("/password", response_model=TokenResponse, summary="Change my password")
async def change_password(
    body: ChangePasswordRequest,
    principal: Self,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> TokenResponse:
    """Change the caller's password. Every session and token of the user ends; the response
    carries a fresh pair for the client that made the change."""
    tokens = await auth_service.change_password(
        session,
        redis,
        settings,
        principal,
        body.current_password.get_secret_value(),
        body.new_password.get_secret_value(),
    )
    return _tokens(tokens)
