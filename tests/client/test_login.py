"""`orca login`, `logout`, `whoami` and the session behind every command: kept private,
refreshed when it expires (once, even by two processes at once), and "log in again" when it
cannot be; an unreachable or untrusted server is one line and exit 4."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from typing import Any

import httpx
import pytest
from jose import jwt

from app.client.config import Store
from app.client.http import Api
from app.core.embedded import free_port
from tests.client.conftest import ADMIN, Orca, Server, TlsProxy, unique
from tests.fixtures.auth import PASSWORD

pytestmark = pytest.mark.slow


def _entry(orca: Orca, url: str) -> dict[str, Any]:
    return dict(orca.stored()["servers"][url])


def _expired(server: Server, token: str) -> str:
    """The same access token, signed by the server, but expired (beyond the clock leeway)."""
    claims = jwt.get_unverified_claims(token)
    past = int(time.time()) - 600
    claims.update(iat=past - 900, nbf=past - 900, exp=past)
    return str(jwt.encode(claims, server.jwt_secret, algorithm="HS256"))


def _set_entry(orca: Orca, url: str, **changes: Any) -> None:
    data = orca.stored()
    data["servers"][url].update(changes)
    orca.store(data)


def test_login_keeps_the_session_private(anonymous: Orca, server: Server) -> None:
    directory = anonymous.config_file.parent
    directory.mkdir(parents=True)
    directory.chmod(0o755)  # left loose by something else: tightened
    old = os.umask(0)  # the loosest umask there is: the tokens must still be private
    try:
        result = anonymous.login()
    finally:
        os.umask(old)
    assert f"Logged in to {server.url} as {ADMIN} (admin)" in result.stderr
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "config.lock"]
    stored = anonymous.stored()
    assert stored["current"] == server.url
    entry = stored["servers"][server.url]
    assert entry["username"] == ADMIN and entry["refresh_token"].startswith("ort_")
    assert entry["access_expires_at"] > time.time() + 600
    me = anonymous.json("whoami")
    assert (me["server"], me["username"], me["role"]) == (server.url, ADMIN, "admin")


def test_a_wrong_password_stores_nothing(anonymous: Orca, server: Server) -> None:
    result = anonymous(
        "login", "--server", server.url, "-u", ADMIN, "--password-stdin", input="wrong\n"
    )
    assert result.exit_code == 3
    assert result.stderr == "error: Invalid username or password.\n"
    assert not anonymous.config_file.exists()


def test_not_logged_in_says_how_to(anonymous: Orca) -> None:
    result = anonymous("jobs", "ls")
    assert result.exit_code == 3
    assert result.stderr == "error: not logged in: run `orca login --server URL`\n"


def test_logout_ends_the_session_on_the_server(orca: Orca, server: Server) -> None:
    entry = _entry(orca, server.url)
    result = orca("logout")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"Logged out of {server.url}.\n"
    assert not orca.config_file.exists()
    spent = httpx.post(
        f"{server.url}/api/v1/auth/refresh", json={"refresh_token": entry["refresh_token"]}
    )
    assert spent.status_code == 401
    me = httpx.get(
        f"{server.url}/api/v1/auth/me",
        headers={"Authorization": f"Bearer {entry['access_token']}"},
    )
    assert me.status_code == 401
    assert orca("systems", "ls").exit_code == 3


def test_an_expired_access_token_is_refreshed_transparently(orca: Orca, server: Server) -> None:
    before = _entry(orca, server.url)
    # The server says 401 for the expired token; the client refreshes and retries once.
    _set_entry(orca, server.url, access_token=_expired(server, before["access_token"]))
    systems = orca.json("systems", "ls")
    assert isinstance(systems, list)
    after = _entry(orca, server.url)
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]
    assert stat.S_IMODE(orca.config_file.stat().st_mode) == 0o600
    # The old refresh token is spent: a second use would end the session (it is never tried).
    assert orca.json("whoami")["username"] == ADMIN

    # Expired by the clock the login gave: refreshed before the request is even sent.
    _set_entry(orca, server.url, access_expires_at=time.time() - 1)
    assert orca("jobs", "ls").exit_code == 0
    assert _entry(orca, server.url)["refresh_token"] != after["refresh_token"]
    refreshes = orca.json("audit", "ls", "--action", "auth.refresh", "--since", "5m")
    assert len([row for row in refreshes if row["user_agent"].startswith("orca-cli/")]) >= 2


def test_a_spent_refresh_token_asks_to_log_in(orca: Orca, server: Server) -> None:
    entry = _entry(orca, server.url)
    # Someone spent our refresh token (a stolen copy, say): reuse revokes the whole session.
    stolen = httpx.post(
        f"{server.url}/api/v1/auth/refresh", json={"refresh_token": entry["refresh_token"]}
    )
    assert stolen.status_code == 200
    _set_entry(orca, server.url, access_token=_expired(server, entry["access_token"]))
    result = orca("jobs", "ls")
    assert result.exit_code == 3
    assert result.stderr == "error: your session has expired or was ended: run `orca login`\n"
    assert _entry(orca, server.url)["refresh_token"] is None
    again = orca("jobs", "ls")
    assert again.exit_code == 3
    assert "run `orca login --server" in again.stderr
    # The thief's pair died with the family.
    thief = httpx.get(
        f"{server.url}/api/v1/auth/me",
        headers={"Authorization": f"Bearer {stolen.json()['access_token']}"},
    )
    assert thief.status_code == 401


def test_concurrent_commands_spend_the_refresh_token_once(orca: Orca, server: Server) -> None:
    """Refresh tokens rotate and a reused one revokes the session: several `orca` commands
    that find the access token expired together must not all spend the same refresh token
    (each Api here is one command, with its own copy of the login, as separate processes)."""
    entry = _entry(orca, server.url)
    _set_entry(orca, server.url, access_token=_expired(server, entry["access_token"]))
    store = Store(orca.config_file.parent)

    async def together() -> list[Any]:
        apis = [Api.for_server(server.url, store) for _ in range(5)]
        try:
            return await asyncio.gather(*(api.get("/auth/me") for api in apis))
        finally:
            for api in apis:
                await api.aclose()

    answers = asyncio.run(together())
    assert [answer["username"] for answer in answers] == [ADMIN] * 5
    assert orca.json("whoami")["username"] == ADMIN  # the session is still alive
    refreshes = orca.json("audit", "ls", "--action", "auth.refresh", "--since", "1m")
    assert len([r for r in refreshes if r["target_id"] == refreshes[0]["target_id"]]) == 1


def test_an_unreachable_server_is_one_line(anonymous: Orca) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    login = anonymous.process("login", "--server", dead, "-u", ADMIN, "--password-stdin")
    out, err = login.communicate(PASSWORD + "\n", timeout=60)
    assert login.returncode == 4
    assert err == f"error: cannot reach the Orca server at {dead}: connection refused\n"
    assert out == ""


def test_a_server_that_went_away_is_one_line(orca: Orca, server: Server) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    data = orca.stored()
    data["servers"][dead] = {**data["servers"][server.url]}
    data["current"] = dead
    orca.store(data)
    for args in (["jobs", "ls"], ["run", "-t", "anything", "--", "true"]):
        run = orca.process(*args)
        _, err = run.communicate(timeout=60)
        assert run.returncode == 4, err
        assert err == f"error: cannot reach the Orca server at {dead}: connection refused\n"


def test_a_private_ca_is_trusted_only_when_given(
    anonymous: Orca, tls_proxy: TlsProxy, server: Server
) -> None:
    untrusted = anonymous.process(
        "login", "--server", tls_proxy.url, "-u", ADMIN, "--password-stdin"
    )
    _, err = untrusted.communicate(PASSWORD + "\n", timeout=60)
    assert untrusted.returncode == 4
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: cannot verify the TLS certificate of {tls_proxy.url} (")
    assert "--ca-bundle FILE" in err
    assert not anonymous.config_file.exists()

    anonymous.login(tls_proxy.url, "--ca-bundle", str(tls_proxy.ca_file))
    assert _entry(anonymous, tls_proxy.url)["ca_bundle"] == str(tls_proxy.ca_file)
    # Remembered: the commands after the login trust it, the WebSocket (wss) included.
    name = unique("tls")
    added = anonymous("systems", "add", name, "--host", "localhost", "--connector", "local")
    assert added.exit_code == 0, added.stderr
    run = anonymous("run", "-t", name, "--", "echo over tls")
    assert run.exit_code == 0, run.stderr
    assert run.stdout == f"{name} | over tls\n"
