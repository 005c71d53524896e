"""The embedded servers are real, keep their data across restarts and recover from a killed run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from app.core.embedded import EmbeddedError, EmbeddedPostgres, EmbeddedRedis


def _dsn(pg: EmbeddedPostgres) -> str:
    return pg.url("orca").replace("postgresql+asyncpg://", "postgresql://")


def _pg_fetch(pg: EmbeddedPostgres, query: str) -> object:
    async def run() -> object:
        conn = await asyncpg.connect(_dsn(pg))
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    return asyncio.run(run())


def _pg_exec(pg: EmbeddedPostgres, *statements: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(_dsn(pg))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _redis(rd: EmbeddedRedis) -> redis.Redis:
    return redis.Redis.from_url(rd.url())


def test_postgres_start_stop_start_keeps_data(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", password="pw-one-two-three")
    pg.start()
    try:
        assert "PostgreSQL" in str(_pg_fetch(pg, "SELECT version()"))
        _pg_exec(pg, "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('survives')")
        first_port = pg.port
        pid = pg.pid
        pg.stop()
        assert pid is not None and not psutil.pid_exists(pid)
        pg.start()
        assert pg.port == first_port  # remembered port is reused when free
        assert _pg_fetch(pg, "SELECT v FROM kept") == "survives"
    finally:
        pg.stop()


def test_postgres_rejects_a_wrong_password(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", password="the-right-one")
    pg.start()
    try:
        wrong = _dsn(pg).replace("the-right-one", "a-wrong-one")

        async def connect() -> None:
            conn = await asyncpg.connect(wrong)
            await conn.close()

        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(connect())
    finally:
        pg.stop()


def test_redis_start_stop_start_keeps_data(tmp_path: Path) -> None:
    rd = EmbeddedRedis(tmp_path / "redis", password="rpw")
    rd.start()
    try:
        client = _redis(rd)
        client.set("kept", "survives")
        client.close()
        rd.stop()
        rd.start()
        client = _redis(rd)
        assert client.get("kept") == b"survives"
        client.close()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=rd.port, password="wrong").ping()
    finally:
        rd.stop()


def test_stale_pid_files_from_a_killed_run_are_recovered(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", password="pw")
    rd = EmbeddedRedis(tmp_path / "redis", password="pw")
    pg.start()
    rd.start()
    _pg_exec(pg, "CREATE TABLE kept (v int)", "INSERT INTO kept VALUES (7)")
    # SIGKILL leaves postmaster.pid and redis.pid behind, naming dead processes.
    pg.kill()
    rd.kill()
    assert (tmp_path / "pg" / "postmaster.pid").exists()
    assert (tmp_path / "redis" / "redis.pid").exists()
    try:
        pg.start()
        rd.start()
        assert _pg_fetch(pg, "SELECT v FROM kept") == 7
        assert _redis(rd).ping()
    finally:
        rd.stop()
        pg.stop()


def test_servers_left_running_by_a_killed_supervisor_are_replaced(tmp_path: Path) -> None:
    """A supervisor killed with SIGKILL: its servers die with it (parent-death signal); if one
    was started without that safeguard and survives, the next start stops it and takes over."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from app.core.embedded import EmbeddedPostgres, EmbeddedRedis
        guarded = EmbeddedPostgres(Path({str(tmp_path / "guarded")!r}), password="pw")
        orphan = EmbeddedPostgres(Path({str(tmp_path / "orphan")!r}), password="pw",
                                  die_with_parent=False)
        rd = EmbeddedRedis(Path({str(tmp_path / "redis")!r}), password="pw",
                           die_with_parent=False)
        guarded.start(); orphan.start(); rd.start()
        print(guarded.pid, orphan.pid, rd.pid, flush=True)
        time.sleep(600)
    """)
    supervisor = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert supervisor.stdout is not None
        guarded_pid, orphan_pid, redis_pid = map(int, supervisor.stdout.readline().split())
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(10)
        deadline = time.monotonic() + 20
        while psutil.pid_exists(guarded_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not psutil.pid_exists(guarded_pid), "PostgreSQL outlived its killed supervisor"
        assert psutil.pid_exists(orphan_pid) and psutil.pid_exists(redis_pid)

        orphan = EmbeddedPostgres(tmp_path / "orphan", password="pw")
        rd = EmbeddedRedis(tmp_path / "redis", password="pw")
        orphan.start()
        rd.start()
        try:
            assert orphan.pid != orphan_pid and not psutil.pid_exists(orphan_pid)
            assert rd.pid != redis_pid and not psutil.pid_exists(redis_pid)
            assert _pg_fetch(orphan, "SELECT 1") == 1
        finally:
            rd.stop()
            orphan.stop()
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        for pid in (guarded_pid, orphan_pid, redis_pid):
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_data_directory_that_is_not_a_cluster_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    data.mkdir()
    (data / "something.txt").write_text("not a database")
    with pytest.raises(EmbeddedError, match="no PG_VERSION"):
        EmbeddedPostgres(data, password="pw").start()
    assert (data / "something.txt").read_text() == "not a database"


def test_a_pid_file_naming_another_server_never_stops_it(tmp_path: Path) -> None:
    """Reused pids: a stale pid file that names some other PostgreSQL or Redis (here, one
    serving a directory whose name merely starts the same) is discarded, not obeyed."""
    other_pg = EmbeddedPostgres(tmp_path / "pg2", password="pw")
    other_rd = EmbeddedRedis(tmp_path / "redis2", password="pw")
    pg = EmbeddedPostgres(tmp_path / "pg", password="pw")
    rd = EmbeddedRedis(tmp_path / "redis", password="pw")
    pg.start()
    pg.stop()
    other_pg.start()
    other_rd.start()
    try:
        assert other_pg.pid is not None and other_rd.pid is not None
        (tmp_path / "pg" / "postmaster.pid").write_text(f"{other_pg.pid}\n")
        (tmp_path / "redis").mkdir(exist_ok=True)
        (tmp_path / "redis" / "redis.pid").write_text(f"{other_rd.pid}\n")
        pg.start()
        rd.start()
        assert psutil.Process(other_pg.pid).is_running()
        assert psutil.Process(other_rd.pid).is_running()
        assert _pg_fetch(other_pg, "SELECT 1") == 1
        assert _redis(other_rd).ping()
    finally:
        for server in (rd, pg, other_rd, other_pg):
            server.stop()
