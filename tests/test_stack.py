"""`orca up` from nothing: embedded servers, migrations, first admin, API and a worker; Ctrl-C
stops every process; a second run keeps the data and prints no new password."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from app.auth.passwords import verify_password
from tests.fixtures.processes import ORCA, Processes, wait_for

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _cmdline(process: psutil.Process) -> str:
    # PostgreSQL forks short-lived children (a backend serving our login, for one); one may
    # exit between listing and reading.
    try:
        return " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def _ready(port: int) -> bool:
    response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    return response.status_code == 200


def _users(home: Path) -> list[tuple[str, str, str]]:
    stored = json.loads((home / "secrets.json").read_text())
    port = json.loads((home / "state.json").read_text())["postgres_port"]

    async def query() -> list[tuple[str, str, str]]:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=port,
            user="orca",
            password=stored["postgres_password"],
            database="orca",
        )
        try:
            rows = await conn.fetch("SELECT id::text, username, password_hash FROM users")
            return [(r[0], r[1], r[2]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(query())


def _log_in_as_admin(port: int, output: str, password: str | None) -> None:
    """The printed password (or the one from an earlier run) opens the API as admin."""
    match = re.search(r"username: admin\n\s+password: (\S+)", output)
    password = match.group(1) if match else password
    assert password, "no admin password to log in with"
    base = f"http://127.0.0.1:{port}/api/v1"
    response = httpx.post(
        f"{base}/auth/login", json={"username": "admin", "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = httpx.get(f"{base}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert me.json()["role"] == "admin"
    # A first job has somewhere to run: this machine, through the local connector.
    systems = httpx.get(
        f"{base}/systems", headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).json()
    assert [(s["name"], s["connector"]) for s in systems["items"]] == [("localhost", "local")]
    # Testing it runs a command from the API process itself (under the real server's event
    # loop, which once refused the local connector's switch to its own account).
    tested = httpx.post(
        f"{base}/systems/{systems['items'][0]['id']}/test",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True, tested.json()


def _run_once(
    processes: Processes,
    env: dict[str, str],
    port: int,
    name: str,
    password: str | None = None,
) -> tuple[str, list[tuple[str, str, str]], Path]:
    home = Path(env["ORCA_HOME"])
    proc = processes.start(["up"], env, name)
    log_path: Path = proc.log_path  # type: ignore[attr-defined]
    wait_for(lambda: _ready(port), 90, "orca up to be ready")
    wait_for(lambda: "Press Ctrl-C to stop." in log_path.read_text(), 10, "the banner")

    docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
    assert "/readyz" in schema["paths"]
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
    assert ready["checks"]["worker"]["info"]["live_workers"] == 1
    _log_in_as_admin(port, log_path.read_text(), password)

    users = _users(home)
    children = _descendants(proc.pid)
    names = " ".join(_cmdline(c) for c in children)
    assert "postgres" in names and "redis-server" in names
    assert "app.cli api" in names and "app.cli worker" in names

    proc.send_signal(signal.SIGINT)  # what Ctrl-C delivers
    assert proc.wait(60) == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left running: {[p.pid for p in alive]}"
    return log_path.read_text(), users, log_path


def _embedded_env(orca_env: dict[str, str], api_port: int) -> dict[str, str]:
    """`orca up` with its own embedded PostgreSQL and Redis on `api_port`."""
    env = {k: v for k, v in orca_env.items() if k not in {"ORCA_DATABASE_URL", "ORCA_REDIS_URL"}}
    env["ORCA_API_PORT"] = str(api_port)
    return env


def test_up_start_stop_start(processes: Processes, orca_env: dict[str, str], api_port: int) -> None:
    env = {
        k: v
        for k, v in orca_env.items()
        if k
        not in {"ORCA_DATABASE_URL", "ORCA_REDIS_URL", "ORCA_JWT_SECRET", "ORCA_ENCRYPTION_KEYS"}
    }
    env["ORCA_API_PORT"] = str(api_port)

    output, users, _ = _run_once(processes, env, api_port, "up-1")
    match = re.search(r"username: admin\n\s+password: (\S+)", output)
    assert match, output
    password = match.group(1)
    assert len(password) >= 20
    (admin,) = users
    assert admin[1] == "admin" and verify_password(password, admin[2])
    assert output.count(password) == 1  # printed once, never logged

    home = Path(env["ORCA_HOME"])
    secrets_file = home / "secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    stored = json.loads(secrets_file.read_text())
    assert stored["jwt_secret"] and stored["encryption_keys"]

    # Second run: same data and secrets, so the first run's password still logs in.
    output, users_again, _ = _run_once(processes, env, api_port, "up-2", password)
    assert "password:" not in output
    assert users_again == users  # same admin, same hash: the data survived
    assert json.loads(secrets_file.read_text()) == stored  # same generated secrets


def test_up_refuses_a_busy_port(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    import socket

    env = _embedded_env(orca_env, api_port)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", api_port))
        blocker.listen()
        proc = processes.start(["up"], env, "up-busy")
        assert proc.wait(60) == 1
    output = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert f"cannot listen on 127.0.0.1:{api_port}" in output
    assert "ORCA_API_PORT" in output
    assert "Traceback" not in output


def test_up_starts_again_a_worker_or_api_that_dies(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    env = _embedded_env(orca_env, api_port)
    up = processes.start(["up"], env, "up-supervise")
    wait_for(lambda: _ready(api_port), 90, "orca up to be ready")

    def child(kind: str) -> psutil.Process | None:
        found = [c for c in _descendants(up.pid) if f"app.cli {kind}" in _cmdline(c)]
        return found[0] if found else None

    for kind, name in (("worker", "worker-1"), ("api", "api")):
        first = child(kind)
        assert first is not None
        first.kill()

        def replaced(kind: str = kind, gone: int = first.pid) -> psutil.Process | None:
            found = child(kind)
            return found if found is not None and found.pid != gone else None

        wait_for(replaced, 30, f"a new {kind} process")
        wait_for(lambda: _ready(api_port), 60, f"readiness after the {kind} came back")
        output = up.log_path.read_text()  # type: ignore[attr-defined]
        assert f"the {name} process exited with code -9" in output
        assert f"starting {name} again" in output
    assert up.poll() is None


def test_a_second_up_on_the_same_home_is_refused(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    env = _embedded_env(orca_env, api_port)
    first = processes.start(["up"], env, "up-first")
    wait_for(lambda: _ready(api_port), 90, "the first orca up")
    second = subprocess.run(
        [*ORCA, "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert f"in use by orca up (pid {first.pid})" in second.stderr
    assert _ready(api_port)  # the first one is untouched


def test_ctrl_c_before_ready_still_leaves_the_admin_password_shown(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    """The generated password is printed the moment the account exists: stopping early must
    not lose the only copy."""
    from app.core.embedded import EmbeddedPostgres

    env = _embedded_env(orca_env, api_port)
    proc = processes.start(["up"], env, "up-early")
    log_path: Path = proc.log_path  # type: ignore[attr-defined]
    match = wait_for(
        lambda: re.search(r"username: admin\n\s+password: (\S+)\n", log_path.read_text()),
        90,
        "the admin password",
    )
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert "Press Ctrl-C to stop." not in log_path.read_text()  # it never got to ready

    home = Path(env["ORCA_HOME"])
    stored = json.loads((home / "secrets.json").read_text())
    pg = EmbeddedPostgres(home / "postgres", password=stored["postgres_password"])
    pg.start()
    try:

        async def admin_hash() -> str:
            conn = await asyncpg.connect(pg.url().replace("+asyncpg", ""))
            try:
                return str(await conn.fetchval("SELECT password_hash FROM users"))
            finally:
                await conn.close()

        assert verify_password(match.group(1), asyncio.run(admin_hash()))
    finally:
        pg.stop()


def test_up_with_an_unreachable_external_database_says_so(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    from app.core.embedded import free_port

    env = dict(orca_env)
    env["ORCA_DATABASE_URL"] = f"postgresql://orca:pw@127.0.0.1:{free_port()}/orca"
    env["ORCA_API_PORT"] = str(api_port)
    proc = processes.start(["up"], env, "up-nodb")
    assert proc.wait(60) == 1
    output = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert "error: cannot prepare the database (" in output
    assert "Traceback" not in output
    assert ":pw@" not in output


def test_production_up_refuses_embedded_servers(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    env = {k: v for k, v in orca_env.items() if k != "ORCA_DATABASE_URL"}
    env.update(ORCA_ENV="production", ORCA_API_PORT=str(api_port))
    proc = processes.start(["up"], env, "up-prod")
    assert proc.wait(60) == 1
    output = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert "error: ORCA_ENV=production needs ORCA_DATABASE_URL" in output
    assert not (Path(env["ORCA_HOME"]) / "postgres").exists()


def test_create_admin_borrows_the_database_of_a_running_up(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    env = _embedded_env(orca_env, api_port)
    up = processes.start(["up"], env, "up-borrow")
    wait_for(lambda: _ready(api_port), 90, "orca up to be ready")
    created = subprocess.run(
        [*ORCA, "create-admin", "carol"], env=env, capture_output=True, text=True, timeout=60
    )
    assert created.returncode == 0, created.stderr
    assert "carol" in [u[1] for u in _users(Path(env["ORCA_HOME"]))]
    up.send_signal(signal.SIGINT)
    assert up.wait(60) == 0
    # With orca up stopped (its pid file may linger), there is nothing to borrow.
    refused = subprocess.run(
        [*ORCA, "create-admin", "dave"], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert "no `orca up` is running" in refused.stderr


def test_a_damaged_secrets_file_is_never_regenerated(
    processes: Processes, orca_env: dict[str, str], api_port: int
) -> None:
    """Regenerating would orphan every credential encrypted with the old key: refuse instead."""
    env = _embedded_env(orca_env, api_port)
    home = Path(env["ORCA_HOME"])
    home.mkdir(parents=True)
    (home / "secrets.json").write_text('{"jwt_secret": "trunc')
    proc = processes.start(["up"], env, "up-damaged")
    assert proc.wait(60) == 1
    output = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert f"error: {home / 'secrets.json'} is damaged" in output
    assert "Traceback" not in output
    assert (home / "secrets.json").read_text() == '{"jwt_secret": "trunc'


def test_restarts_pause_longer_each_time_and_a_crash_loop_is_caught() -> None:
    from app.stack import CRASH_LOOP_DEATHS, CRASH_LOOP_SECONDS, Restarts

    restarts = Restarts()
    pauses = []
    now = 1000.0
    for _ in range(CRASH_LOOP_DEATHS):
        assert restarts.died(now)
        assert not restarts.due(now)  # not at once
        pauses.append(restarts.next_start - now)
        now = restarts.next_start
        assert restarts.due(now) and not restarts.due(now)  # once, when the pause is over
    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert not restarts.died(now)  # one death more within the window: a crash loop
    # Deaths spread out more than the window apart never make one.
    spread = Restarts()
    assert all(spread.died(1000.0 + i * CRASH_LOOP_SECONDS) for i in range(10))
