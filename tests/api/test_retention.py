"""The retention report: the policy in force and a dry run, for admins and auditors."""

from __future__ import annotations

import httpx
import pytest

from app.models.enums import Role
from tests.fixtures.auth import MakeAccount


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.admin, 200), (Role.auditor, 200), (Role.operator, 403), (Role.viewer, 403)],
)
async def test_the_report_is_for_those_who_see_everything(
    client: httpx.AsyncClient, make_account: MakeAccount, role: Role, status: int
) -> None:
    account = await make_account(role)
    response = await client.get("/api/v1/retention", headers=account.headers)
    assert response.status_code == status, response.text
    if status == 200:
        body = response.json()
        assert body["output_days"] == 0 and body["jobs_days"] == 0  # keep for ever by default
        assert body["output_before"] is None and body["jobs_removed"] == 0
        assert "never removed" in body["audit_log"]
    else:
        assert response.json()["error"]["details"]["permission"] == "retention:read"
