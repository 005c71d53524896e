"""Who may read `/metrics`: a signed-in user whose role has `metrics:read`, or Prometheus, which
cannot log in, presenting the static scrape token (ORCA_METRICS_TOKEN) as its bearer token.

The scrape token is checked before anything touches PostgreSQL, so a scrape with it still
answers (and reports the database down) during an outage."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import Depends, Request

from app.api.deps import SessionDep, SettingsDep
from app.auth.dependencies import PermissionGate, bearer, current_principal
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.core.config import Settings


def is_scrape_token(settings: Settings, token: str) -> bool:
    """Whether `token` is the configured scrape token, compared in constant time (digests of
    both, so not even the length leaks)."""
    if settings.metrics_token is None:
        return False
    expected = hashlib.sha256(settings.metrics_token.get_secret_value().encode()).digest()
    return hmac.compare_digest(hashlib.sha256(token.encode()).digest(), expected)


class ScrapeGate(PermissionGate):
    """The permission gate (the route walk finds it like any other), which also lets the scrape
    token through. Anything else goes the usual way: 401 without a valid access token, 403
    (audited) for a role without the permission."""

    # FastAPI reads the dependencies from this signature: a different one from the base gate's
    # is the point (the token is looked at before any user is).
    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        token: Annotated[str | None, Depends(bearer)],
        session: SessionDep,
        settings: SettingsDep,
    ) -> Principal | None:
        if token and is_scrape_token(settings, token):
            return None
        principal = await current_principal(request, token, session, settings)
        return await super().__call__(request, principal)


def scrape_or(permission: Permission) -> Any:
    """`Annotated[Principal | None, scrape_or(Permission.metrics_read)]`: None for the scrape
    token, else the caller."""
    return Depends(ScrapeGate(permission))
