"""A real Orca for the client's tests: `orca api` and `orca worker` processes on a database of
their own, started once for the package; the `orca` command invoked in-process (typer's
runner) or as a process, each test with its own config directory (XDG_CONFIG_HOME)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from app.cli import cli
from app.core.embedded import free_port
from tests.fixtures.auth import PASSWORD
from tests.fixtures.processes import ORCA, Processes, wait_for
from tests.fixtures.services import TestServices
from tests.winrm_server.pki import Authority

pytestmark = pytest.mark.slow

ADMIN = "chief"


@dataclass
class Server:
    url: str
    env: dict[str, str]
    database_url: str

    @property
    def jwt_secret(self) -> str:
        return self.env["ORCA_JWT_SECRET"]


def _redis_url(url: str) -> str:
    """The suite's Redis, on a database number other tests never flush."""
    base, _, number = url.rpartition("/")
    assert number.isdigit(), url
    return f"{base}/9"


@pytest.fixture(scope="package")
def server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("client-orca")
    database_url = test_services.create_database(test_services.template)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCA_")}
    env.update(
        ORCA_DATABASE_URL=database_url,
        ORCA_REDIS_URL=_redis_url(test_services.redis_url),
        ORCA_JWT_SECRET=secrets.token_urlsafe(48),
        ORCA_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ORCA_HOME=str(home / "home"),
        ORCA_API_PORT=str(port),
        ORCA_WORKER_HEARTBEAT_SECONDS="0.5",
        ORCA_HEALTH_CHECK_SECONDS="0",
        ORCA_SCHEDULE_TICK_SECONDS="1",  # a schedule made due runs within a second
        ORCA_LOG_FORMAT="console",
        ORCA_LOGIN_MAX_FAILURES_PER_USER="1000",
        ORCA_LOGIN_MAX_FAILURES_PER_IP="1000",
    )
    created = subprocess.run(
        [*ORCA, "create-admin", ADMIN, "--password-stdin"],
        env=env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    processes = Processes(home)
    processes.start(["api"], env, "api")
    processes.start(["worker"], env, "worker")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, 60, "the API and worker")
        yield Server(url, env, database_url)
    finally:
        processes.stop_all()


class Orca:
    """The `orca` command, as one user on one machine (a config directory of its own)."""

    def __init__(self, server: Server, home: Path) -> None:
        self.server = server
        self.config_home = home / "xdg"
        self.config_file = self.config_home / "orca" / "config.json"

    @property
    def env(self) -> dict[str, str | None]:
        return {"XDG_CONFIG_HOME": str(self.config_home), "ORCA_SERVER": None}

    def __call__(self, *args: str, input: str | None = None) -> Result:
        """Run `orca ARGS` in this process."""
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, env=self.env, catch_exceptions=False)

    def process(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start `orca ARGS` as a process of its own."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCA_")}
        env["XDG_CONFIG_HOME"] = str(self.config_home)
        return subprocess.Popen(
            [*ORCA, *args],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **kwargs,
        )

    def login(self, url: str | None = None, *extra: str) -> Result:
        result = self(
            "login",
            "--server",
            url or self.server.url,
            "--username",
            ADMIN,
            "--password-stdin",
            *extra,
            input=PASSWORD + "\n",
        )
        assert result.exit_code == 0, result.stderr
        return result

    def stored(self) -> dict[str, Any]:
        return dict(json.loads(self.config_file.read_text()))

    def store(self, data: dict[str, Any]) -> None:
        self.config_file.write_text(json.dumps(data))

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def orca(server: Server, tmp_path: Path) -> Orca:
    """The `orca` command, logged in as an admin."""
    command = Orca(server, tmp_path)
    command.login()
    return command


@pytest.fixture
def anonymous(server: Server, tmp_path: Path) -> Orca:
    """The `orca` command, not logged in anywhere."""
    return Orca(server, tmp_path)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def local_systems(orca: Orca) -> list[str]:
    """Three systems on the local connector, labelled for this test alone."""
    tag = uuid.uuid4().hex[:6]
    names = [f"loc-{tag}-{i}" for i in (1, 2, 3)]
    for name in names:
        result = orca(
            "systems", "add", name, "--host", "localhost", "--connector", "local",
            "--label", f"batch={tag}",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    return names


@dataclass
class TlsProxy:
    """HTTPS (and WSS) in front of the API, with a certificate from a private CA."""

    url: str
    ca_file: Path


@pytest.fixture
def tls_proxy(server: Server, tmp_path: Path) -> Iterator[TlsProxy]:
    authority = Authority("Orca client test CA")
    cert, key = authority.server(("localhost", "127.0.0.1")).write(tmp_path, "server")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(authority.pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    upstream = int(server.url.rsplit(":", 1)[1])
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port = free_port()

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def main() -> asyncio.Server:
        return await asyncio.start_server(serve, "127.0.0.1", port, ssl=context)

    def run() -> None:
        asyncio.set_event_loop(loop)
        listening = loop.run_until_complete(main())
        started.set()
        loop.run_forever()
        listening.close()

    thread = threading.Thread(target=run, daemon=True, name="tls-proxy")
    thread.start()
    assert started.wait(10)
    try:
        yield TlsProxy(f"https://localhost:{port}", ca_file)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def admin_headers(server: Server) -> dict[str, str]:
    response = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": ADMIN, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
