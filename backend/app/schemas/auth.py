from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, StringConstraints

from app.models.enums import Role
from app.schemas.common import NO_NUL, ORMModel

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"
    ),
]
PasswordField = Annotated[SecretStr, Field(min_length=1, max_length=256)]


class LoginRequest(BaseModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
    password: PasswordField
    refresh_cookie: bool = Field(
        False,
        strict=True,
        description="Browsers: deliver the refresh token as an httpOnly cookie instead of in "
        "the body, where page scripts cannot read it.",
    )

    model_config = {"json_schema_extra": {"examples": [{"username": "admin", "password": "…"}]}}


class RefreshRequest(BaseModel):
    refresh_token: Annotated[SecretStr | None, Field(min_length=1, max_length=200)] = Field(
        None,
        description="The refresh token. Leave it out to spend the `orca_refresh` cookie "
        "instead (the request must then carry `X-Requested-With`).",
    )


class LogoutRequest(BaseModel):
    everywhere: bool = Field(
        False,
        strict=True,
        description="End every session of this user, on every device, not just this one.",
    )


class TokenResponse(BaseModel):
    """A fresh pair. The access token goes in `Authorization: Bearer …`; the refresh token is
    spent by `/auth/refresh`, once, for the next pair."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str | None = Field(
        description="Null when the refresh token went into the `orca_refresh` cookie."
    )
    refresh_expires_at: datetime


class ChangePasswordRequest(BaseModel):
    current_password: PasswordField
    new_password: PasswordField


class TeamBrief(ORMModel):
    id: uuid.UUID
    name: str


class Me(BaseModel):
    id: uuid.UUID
    username: str
    email: str | None
    full_name: str | None
    role: Role
    permissions: list[str]
    teams: list[TeamBrief]
    last_login_at: datetime | None
    password_changed_at: datetime | None


class LogoutResponse(BaseModel):
    revoked_tokens: int
