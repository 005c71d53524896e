"""Logging in and out, token refresh, the caller's own account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.api.deps import RedisDep, SessionDep, SettingsDep
from app.auth.dependencies import API_PREFIX, requires
from app.auth.policy import ROLE_PERMISSIONS, Permission
from app.auth.principal import Principal
from app.core.config import Settings
from app.core.errors import BadRequest, ErrorBody, Unauthorized
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
        "refresh_cookie": {
            "type": "boolean",
            "default": False,
            "description": "Browsers: deliver the refresh token as an httpOnly cookie.",
        },
    },
}
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

# The web console's refresh token lives in this cookie: httpOnly (no script reads it),
# SameSite=Strict and scoped to the auth routes (no other request carries it). Spending it
# also needs an X-Requested-With header, which a cross-site form cannot send.
REFRESH_COOKIE = "orca_refresh"
_COOKIE_PATH = f"{API_PREFIX}/auth"


def _secure(request: Request, settings: Settings) -> bool:
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return request.url.scheme == "https"


def _tokens(
    tokens: auth_service.Tokens,
    *,
    cookie: tuple[Request, Response, Settings] | None = None,
) -> TokenResponse:
    """The response body for a new pair; with `cookie`, the refresh token goes into the
    httpOnly cookie instead of the body."""
    refresh_token: str | None = tokens.refresh_token
    if cookie is not None:
        request, response, settings = cookie
        response.set_cookie(
            REFRESH_COOKIE,
            tokens.refresh_token,
            max_age=max(0, int((tokens.refresh_expires_at - datetime.now(UTC)).total_seconds())),
            path=_COOKIE_PATH,
            secure=_secure(request, settings),
            httponly=True,
            samesite="strict",
        )
        refresh_token = None
    return TokenResponse(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=refresh_token,
        refresh_expires_at=tokens.refresh_expires_at,
    )


def _cleared_cookie(request: Request, settings: Settings) -> str:
    """A Set-Cookie header value that removes the refresh cookie."""
    response = Response()
    response.delete_cookie(
        REFRESH_COOKIE,
        path=_COOKIE_PATH,
        secure=_secure(request, settings),
        httponly=True,
        samesite="strict",
    )
    return response.headers["set-cookie"]


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
    request: Request,
    response: Response,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> TokenResponse:
    """Exchange a username and password for an access token and a refresh token.

    Failed attempts are limited per username and per client address (429 with Retry-After).
    Whether the username exists or the password is wrong, the answer is the same. With
    `refresh_cookie`, the refresh token is set as the httpOnly cookie `orca_refresh` (scoped
    to `/api/v1/auth`, SameSite=Strict) and the body's `refresh_token` is null.
    """
    body = await _credentials(request)
    tokens = await auth_service.login(
        session, redis, settings, body.username, body.password.get_secret_value()
    )
    return _tokens(tokens, cookie=(request, response, settings) if body.refresh_cookie else None)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    summary="Rotate the refresh token",
    responses={401: {"model": ErrorBody, "description": "Unknown, spent or expired token"}},
)
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
    body: RefreshRequest | None = None,
) -> TokenResponse:
    """Spend a refresh token for a new pair. Each refresh token works once: presenting one a
    second time revokes its whole session, as that means someone else holds a copy.

    The token comes from the body, or, when the body has none, from the `orca_refresh` cookie;
    the new one then goes back into the cookie. Spending the cookie needs an
    `X-Requested-With` header (any value), which a cross-site form cannot send."""
    if body is not None and body.refresh_token is not None:
        tokens = await auth_service.refresh(
            session, redis, settings, body.refresh_token.get_secret_value()
        )
        return _tokens(tokens)
    presented = request.cookies.get(REFRESH_COOKIE)
    if not presented:
        raise BadRequest(
            "refresh_token: send it in the body, or send the orca_refresh cookie",
            details=[{"field": "refresh_token", "message": "missing"}],
        )
    if not request.headers.get("x-requested-with"):
        raise BadRequest(
            "X-Requested-With: required when the refresh token comes from the cookie",
            details=[{"field": "X-Requested-With", "message": "missing"}],
        )
    try:
        tokens = await auth_service.refresh(session, redis, settings, presented[:200])
    except Unauthorized as exc:
        # A cookie that no longer works is removed, so the browser stops sending it.
        exc.headers = {**(exc.headers or {}), "set-cookie": _cleared_cookie(request, settings)}
        raise
    return _tokens(tokens, cookie=(request, response, settings))


@router.post("/logout", response_model=LogoutResponse, summary="Log out")
async def logout(
    request: Request,
    response: Response,
    principal: Self,
    session: SessionDep,
    settings: SettingsDep,
    body: LogoutRequest | None = None,
) -> LogoutResponse:
    """End this session: its refresh tokens and access tokens stop working at once. With
    `everywhere`, end every session of the user. The `orca_refresh` cookie, if any, is
    removed."""
    everywhere = body.everywhere if body is not None else False
    revoked = await auth_service.logout(session, principal, everywhere=everywhere)
    if REFRESH_COOKIE in request.cookies:
        response.headers.append("set-cookie", _cleared_cookie(request, settings))
    return LogoutResponse(revoked_tokens=revoked)


@router.get("/me", response_model=Me, summary="Who am I")
async def get_me(principal: Self, session: SessionDep) -> Me:
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
    request: Request,
    response: Response,
    body: ChangePasswordRequest,
    principal: Self,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> TokenResponse:
    """Change the caller's password. Every session and token of the user ends; the response
    carries a fresh pair for the client that made the change (its refresh token in the
    `orca_refresh` cookie when the request came with one)."""
    tokens = await auth_service.change_password(
        session,
        redis,
        settings,
        principal,
        body.current_password.get_secret_value(),
        body.new_password.get_secret_value(),
    )
    in_cookie = REFRESH_COOKIE in request.cookies
    return _tokens(tokens, cookie=(request, response, settings) if in_cookie else None)
