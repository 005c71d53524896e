"""Every route declares its permission, and every role gets exactly what the policy says.

(a) Walking the application's routes fails on any route without a permission gate, other than
the few that must be public. (b) The matrix below names each route's permission by hand: a route
added or changed without updating it fails here, and each route is called with a token of every
role, expecting 403 exactly where the role lacks the permission.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import PermissionGate
from app.auth.policy import ROLE_PERMISSIONS, Permission
from app.main import create_app
from app.models import AuditEvent
from app.models.enums import Role
from tests.fixtures.app import make_settings
from tests.fixtures.auth import MakeAccount

P = Permission

# Reachable without a token: how one gets a token, probes for load balancers, and the docs.
PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}

MATRIX: dict[tuple[str, str], Permission] = {
    ("POST", "/api/v1/auth/logout"): P.account_self,
    ("GET", "/api/v1/auth/me"): P.account_self,
    ("POST", "/api/v1/auth/password"): P.account_self,
    ("GET", "/api/v1/users"): P.users_read,
    ("POST", "/api/v1/users"): P.users_manage,
    ("GET", "/api/v1/users/{user_id}"): P.users_read,
    ("PATCH", "/api/v1/users/{user_id}"): P.users_manage,
    ("POST", "/api/v1/users/{user_id}/password"): P.users_manage,
    ("POST", "/api/v1/users/{user_id}/deactivate"): P.users_manage,
    ("DELETE", "/api/v1/users/{user_id}"): P.users_manage,
    ("GET", "/api/v1/teams"): P.teams_read,
    ("POST", "/api/v1/teams"): P.teams_manage,
    ("GET", "/api/v1/teams/{team_id}"): P.teams_read,
    ("PATCH", "/api/v1/teams/{team_id}"): P.teams_manage,
    ("DELETE", "/api/v1/teams/{team_id}"): P.teams_manage,
    ("GET", "/api/v1/teams/{team_id}/members"): P.teams_read,
    ("POST", "/api/v1/teams/{team_id}/members"): P.teams_manage,
    ("DELETE", "/api/v1/teams/{team_id}/members/{user_id}"): P.teams_manage,
    ("GET", "/api/v1/groups"): P.groups_read,
    ("POST", "/api/v1/groups"): P.groups_manage,
    ("GET", "/api/v1/groups/{group_id}"): P.groups_read,
    ("PATCH", "/api/v1/groups/{group_id}"): P.groups_manage,
    ("DELETE", "/api/v1/groups/{group_id}"): P.groups_manage,
    ("GET", "/api/v1/groups/{group_id}/systems"): P.groups_read,
    ("POST", "/api/v1/groups/{group_id}/systems"): P.groups_manage,
    ("DELETE", "/api/v1/groups/{group_id}/systems/{system_id}"): P.groups_manage,
    ("GET", "/api/v1/grants"): P.grants_read,
    ("POST", "/api/v1/grants"): P.grants_manage,
    ("GET", "/api/v1/grants/{grant_id}"): P.grants_read,
    ("PATCH", "/api/v1/grants/{grant_id}"): P.grants_manage,
    ("DELETE", "/api/v1/grants/{grant_id}"): P.grants_manage,
    ("GET", "/api/v1/credentials"): P.credentials_read,
    ("POST", "/api/v1/credentials"): P.credentials_manage,
    ("GET", "/api/v1/credentials/{credential_id}"): P.credentials_read,
    ("PATCH", "/api/v1/credentials/{credential_id}"): P.credentials_manage,
    ("DELETE", "/api/v1/credentials/{credential_id}"): P.credentials_manage,
    ("GET", "/api/v1/systems"): P.systems_read,
    ("GET", "/api/v1/systems/{system_id}"): P.systems_read,
    ("POST", "/api/v1/systems"): P.systems_admin,
    ("POST", "/api/v1/systems/import"): P.systems_admin,
    ("PATCH", "/api/v1/systems/{system_id}"): P.systems_edit,
    ("DELETE", "/api/v1/systems/{system_id}"): P.systems_admin,
    ("PUT", "/api/v1/systems/{system_id}/host-key"): P.systems_admin,
    ("POST", "/api/v1/systems/{system_id}/test"): P.systems_read,
    ("POST", "/api/v1/systems/{system_id}/host-key/scan"): P.systems_edit,
    ("POST", "/api/v1/systems/{system_id}/host-key/trust"): P.systems_edit,
    ("POST", "/api/v1/jobs"): P.jobs_run,
    ("GET", "/api/v1/jobs"): P.jobs_read,
    ("GET", "/api/v1/jobs/{job_id}"): P.jobs_read,
    ("GET", "/api/v1/jobs/{job_id}/executions"): P.jobs_read,
    ("POST", "/api/v1/jobs/{job_id}/cancel"): P.jobs_run,
    ("POST", "/api/v1/jobs/{job_id}/rerun"): P.jobs_run,
    ("POST", "/api/v1/jobs/{job_id}/duplicate"): P.jobs_run,
    ("POST", "/api/v1/jobs/targets/preview"): P.jobs_run,
    ("GET", "/api/v1/stats/overview"): P.jobs_read,
    ("GET", "/api/v1/executions/{execution_id}"): P.jobs_read,
    ("GET", "/api/v1/executions/{execution_id}/output"): P.jobs_read,
    ("GET", "/api/v1/executions/{execution_id}/output/raw"): P.jobs_read,
    ("POST", "/api/v1/executions/{execution_id}/cancel"): P.jobs_run,
    ("GET", "/api/v1/workers"): P.workers_read,
    ("GET", "/metrics"): P.metrics_read,
    ("POST", "/api/v1/ws/ticket"): P.jobs_read,
    ("GET", "/api/v1/templates"): P.templates_read,
    ("POST", "/api/v1/templates"): P.templates_edit,
    ("GET", "/api/v1/templates/{template_id}"): P.templates_read,
    ("PATCH", "/api/v1/templates/{template_id}"): P.templates_edit,
    ("DELETE", "/api/v1/templates/{template_id}"): P.templates_edit,
    ("POST", "/api/v1/templates/{template_id}/launch"): P.templates_launch,
    ("GET", "/api/v1/schedules"): P.schedules_read,
    ("POST", "/api/v1/schedules"): P.schedules_manage,
    ("POST", "/api/v1/schedules/preview"): P.schedules_read,
    ("GET", "/api/v1/schedules/{schedule_id}"): P.schedules_read,
    ("PATCH", "/api/v1/schedules/{schedule_id}"): P.schedules_manage,
    ("DELETE", "/api/v1/schedules/{schedule_id}"): P.schedules_manage,
    ("GET", "/api/v1/schedules/{schedule_id}/runs"): P.schedules_read,
    ("GET", "/api/v1/retention"): P.retention_read,
    ("GET", "/api/v1/audit"): P.audit_read,
    ("GET", "/api/v1/audit/export"): P.audit_export,
    ("GET", "/api/v1/audit/verify"): P.audit_verify,
}


def _gates(dependant: Dependant) -> set[Permission]:
    found = set()
    if isinstance(dependant.call, PermissionGate):
        found.add(dependant.call.permission)
    for child in dependant.dependencies:
        found |= _gates(child)
    return found


def _routes(app: FastAPI) -> dict[tuple[str, str], set[Permission]]:
    routes = {}
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        gates = _gates(dependant) if dependant is not None else set()
        for method in (context.methods or set()) - {"HEAD"}:
            routes[(method, str(context.path))] = gates
    return routes


@pytest.fixture(scope="module")
def application() -> FastAPI:
    return create_app(make_settings("postgresql+asyncpg://u:p@127.0.0.1:1/none", "redis://x"))


def test_every_route_declares_a_permission(application: FastAPI) -> None:
    routes = _routes(application)
    ungated = {route for route, gates in routes.items() if not gates} - PUBLIC
    assert not ungated, f"routes without a permission gate: {sorted(ungated)}"
    assert PUBLIC <= set(routes), "a public route listed here no longer exists"
    for route in PUBLIC:
        assert not routes[route], f"{route} is meant to be public"
    multiple = {route: gates for route, gates in routes.items() if len(gates) > 1}
    assert not multiple, f"routes with several gates: {multiple}"


def test_the_matrix_names_every_gated_route_and_its_permission(application: FastAPI) -> None:
    declared = {route: next(iter(g)) for route, g in _routes(application).items() if g}
    assert declared == MATRIX


def test_every_permission_is_used_and_admin_holds_all() -> None:
    assert set(MATRIX.values()) == set(Permission)
    assert ROLE_PERMISSIONS[Role.admin] == frozenset(Permission)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


@pytest.mark.parametrize(("method", "path"), list(MATRIX))
async def test_route_by_role(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_account: MakeAccount,
    method: str,
    path: str,
) -> None:
    """Each role in turn on one route (one app for the four: building an app's routes is the
    dearest part of a test here)."""
    permission = MATRIX[(method, path)]
    for role in Role:
        account = await make_account(role)
        body: dict[str, Any] | None = {} if method in {"POST", "PATCH"} else None
        response = await client.request(method, _concrete(path), json=body, headers=account.headers)
        if permission in ROLE_PERMISSIONS[role]:
            # Through the gate: whatever the random ids and empty body lead to, it is not a
            # refusal of the role (nor a crash).
            assert response.status_code not in {401, 403}, (role, response.text)
            assert response.status_code < 500, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["error"]["details"] == {"permission": permission.value}
            denied = (
                await session.execute(
                    select(AuditEvent).where(
                        AuditEvent.action == "access.denied", AuditEvent.actor_id == account.user.id
                    )
                )
            ).scalar_one()
            assert denied.details["permission"] == permission.value
            assert denied.details["method"] == method


async def test_every_gated_route_refuses_a_request_without_a_token(
    client: httpx.AsyncClient,
) -> None:
    refused = {
        (method, path): (await client.request(method, _concrete(path))).status_code
        for method, path in MATRIX
    }
    assert {route: status for route, status in refused.items() if status != 401} == {}
