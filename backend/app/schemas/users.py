from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, StrictBool, StringConstraints

from app.models.enums import Role
from app.schemas.auth import PasswordField, Username
from app.schemas.common import NO_NUL, ORMModel

FullName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]


class UserOut(ORMModel):
    id: uuid.UUID
    username: str
    email: str | None
    full_name: str | None
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    password_changed_at: datetime | None


class UserCreate(BaseModel):
    username: Username
    password: PasswordField | None = Field(
        None, description="Omit to have one generated and returned once."
    )
    role: Role = Role.viewer
    email: EmailStr | None = None
    full_name: FullName | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [{"username": "alice", "role": "operator", "email": "alice@example.com"}]
        }
    }


class UserCreated(UserOut):
    generated_password: str | None = Field(
        None, description="Present only when the password was generated; shown this once."
    )


class UserUpdate(BaseModel):
    role: Role | None = None
    is_active: StrictBool | None = None
    email: EmailStr | None = None
    full_name: FullName | None = None


class PasswordReset(BaseModel):
    password: PasswordField | None = Field(
        None, description="Omit to have one generated and returned once."
    )


class PasswordResetDone(BaseModel):
    generated_password: str | None = Field(
        None, description="Present only when the password was generated; shown this once."
    )
