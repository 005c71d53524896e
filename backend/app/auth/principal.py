"""The authenticated caller, as services see it (no FastAPI here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.auth.policy import Permission, allows
from app.models.enums import Role


@dataclass(frozen=True)
class Principal:
    id: uuid.UUID
    username: str
    # Read from the database on every request, not from the token: a demotion applies at once.
    role: Role
    session_id: uuid.UUID
    # The account's token version when this was checked: what a WebSocket ticket binds to.
    token_version: int = 0

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)
