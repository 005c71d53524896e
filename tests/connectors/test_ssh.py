"""The SSH connector against real OpenSSH servers: auth of every kind, pinned host keys,
streaming, remote process groups killed on timeout and cancel, the pool and the breaker."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import paramiko
import pytest

from app.connectors.base import (
    AuthFailed,
    CircuitOpen,
    ConnectorError,
    ExecRequest,
    ExecResult,
    HostKeyMismatch,
    HostKeyUnknown,
    Target,
    Unreachable,
)
from app.connectors.ssh import SSHConnector, map_error
from app.core.embedded import free_port
from app.models.enums import OutputStream
from tests.fixtures.output import Collector
from tests.fixtures.sshd import SshAccount, SshServer


@pytest.fixture
async def connector() -> AsyncIterator[SSHConnector]:
    instance = SSHConnector(max_threads=32)
    yield instance
    await instance.close()


def target(
    server: SshServer,
    account: SshAccount,
    *,
    secret: dict[str, str] | None = None,
    pinned: str | None = "server",
    system_id: str = "sys-1",
    **options: object,
) -> Target:
    if secret is None:
        secret = (
            {"password": account.password}
            if account.password
            else {"private_key": account.keys["ed25519"].private}
        )
    return Target(
        system_id=system_id,
        host="127.0.0.1",
        port=server.port,
        username=account.username,
        secret=secret,
        options=dict(options),
        host_key=server.host_key_line if pinned == "server" else pinned,
    )


async def run(
    connector: SSHConnector, where: Target, command: str, **kwargs: object
) -> tuple[Collector, ExecResult]:
    sink = Collector()
    cancel = kwargs.pop("cancel", None) or asyncio.Event()
    result = await connector.execute(where, ExecRequest(command=command, **kwargs), sink, cancel)  # type: ignore[arg-type]
    return sink, result


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return True
    return state == "Z"  # a zombie waiting to be reaped has stopped running


# -- authentication --------------------------------------------------------------------------


async def test_password_auth_streams_both_streams_and_the_exit_code(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    if ssh_account.password is None:
        pytest.skip("password logins need root to create the test account")
    sink, result = await run(
        connector,
        target(sshd, ssh_account),
        'echo "out $GREETING"; echo err >&2; exit 7',
        env={"GREETING": "hello 'world'"},
    )
    assert sink.text(OutputStream.stdout) == "out hello 'world'\n"
    assert sink.text(OutputStream.stderr) == "err\n"
    assert result.exit_code == 7 and not result.timed_out


async def test_a_job_working_directory(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    sink, result = await run(connector, target(sshd, ssh_account), "pwd", cwd="/tmp")
    assert (sink.text(OutputStream.stdout), result.exit_code) == ("/tmp\n", 0)
    sink, result = await run(connector, target(sshd, ssh_account), "pwd", cwd="/no/such dir")
    assert result.exit_code == 1 and sink.text(OutputStream.stdout) == ""
    assert "/no/such dir" in sink.text(OutputStream.stderr)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa", "encrypted"])
async def test_key_auth_of_every_kind(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount, kind: str
) -> None:
    secret = {"private_key": ssh_account.keys[kind].private}
    if kind == "encrypted":
        secret["passphrase"] = ssh_account.passphrase
    sink, result = await run(connector, target(sshd, ssh_account, secret=secret), "whoami")
    assert result.exit_code == 0
    assert sink.text(OutputStream.stdout).strip() == ssh_account.username


async def test_refused_credentials_are_auth_failures(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount, tmp_path: Path
) -> None:
    from tests.fixtures.keys import make_ssh_key

    stranger = make_ssh_key(tmp_path)
    cases = [{"private_key": stranger.private}]
    if ssh_account.password:
        cases.append({"password": "not-the-password"})
    for secret in cases:
        with pytest.raises(AuthFailed):
            await run(connector, target(sshd, ssh_account, secret=secret), "true")


# -- host keys -------------------------------------------------------------------------------


async def test_without_a_pinned_key_nothing_is_sent(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    with pytest.raises(HostKeyUnknown) as refused:
        await run(connector, target(sshd, ssh_account, pinned=None), "true")
    assert sshd.host_key.fingerprint in str(refused.value)


async def test_a_changed_host_key_is_refused_naming_both_fingerprints(
    connector: SSHConnector,
    make_sshd: Callable[..., SshServer],
    ssh_account: SshAccount,
    sshd: SshServer,
) -> None:
    rebuilt = make_sshd()  # same account, another host key
    where = target(rebuilt, ssh_account, pinned=sshd.host_key_line)
    with pytest.raises(HostKeyMismatch) as refused:
        await run(connector, where, "true")
    assert refused.value.expected == sshd.host_key.fingerprint
    assert refused.value.found == rebuilt.host_key.fingerprint
    assert refused.value.category == "host_key"


async def test_scan_returns_the_key_without_trusting_it(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    line, found = await connector.scan_host_key(target(sshd, ssh_account, pinned=None))
    assert found == sshd.host_key.fingerprint and line == sshd.host_key_line


# -- stopping --------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["timeout", "cancel"])
async def test_a_stop_kills_the_remote_process_group(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount, stop: str
) -> None:
    command = "sleep 300 & echo $!; sh -c 'sleep 300' & wait"
    cancel = asyncio.Event()
    if stop == "cancel":
        asyncio.get_running_loop().call_later(1.0, cancel.set)
    started = time.monotonic()
    sink, result = await run(
        connector,
        target(sshd, ssh_account),
        command,
        timeout=1.0 if stop == "timeout" else None,
        cancel=cancel,
    )
    assert time.monotonic() - started < 10
    assert result.exit_code is None
    assert (result.timed_out, result.cancelled) == (stop == "timeout", stop == "cancel")
    pid = int(sink.text(OutputStream.stdout).split()[0])
    for _ in range(50):
        if _gone(pid):
            break
        await asyncio.sleep(0.1)
    assert _gone(pid), "the remote background process survived"


async def test_a_process_ignoring_term_is_killed(sshd: SshServer, ssh_account: SshAccount) -> None:
    class Quick(SSHConnector):
        grace_seconds = 1.0

    connector = Quick(max_threads=8)
    try:
        sink, result = await run(
            connector,
            target(sshd, ssh_account),
            "trap '' TERM; echo $$; while true; do sleep 1; done",
            timeout=1.0,
        )
    finally:
        await connector.close()
    assert result.timed_out
    pid = int(sink.text(OutputStream.stdout).split()[0])
    await asyncio.sleep(0.5)
    assert _gone(pid)


# -- streaming -------------------------------------------------------------------------------


async def test_large_output_arrives_whole_in_bounded_chunks(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    digest, total = hashlib.sha256(), 0

    async def sink(stream: OutputStream, data: bytes) -> None:
        nonlocal total
        assert stream == OutputStream.stdout and len(data) <= 64 * 1024
        digest.update(data)
        total += len(data)

    request = ExecRequest(command="head -c 30000000 /dev/zero | tr '\\0' 'y'")
    result = await connector.execute(target(sshd, ssh_account), request, sink, asyncio.Event())
    assert result.exit_code == 0 and total == 30_000_000
    assert digest.hexdigest() == hashlib.sha256(b"y" * 30_000_000).hexdigest()


async def test_output_arrives_while_the_command_runs(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    arrivals: list[float] = []
    started = time.monotonic()

    async def sink(stream: OutputStream, data: bytes) -> None:
        arrivals.append(time.monotonic() - started)

    request = ExecRequest(command="echo first; sleep 1.5; echo second")
    await connector.execute(target(sshd, ssh_account), request, sink, asyncio.Event())
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] > 1.0


# -- the pool and the breaker ----------------------------------------------------------------


async def test_connections_are_reused_and_capped(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    where = target(sshd, ssh_account, system_id="pooled")
    await run(connector, where, "true")
    await run(connector, where, "true")
    assert connector.pooled_transports("pooled") == 1
    # More concurrent sessions than one transport may carry: a second one opens.
    results = await asyncio.gather(*(run(connector, where, "sleep 0.5") for _ in range(10)))
    assert all(result.exit_code == 0 for _, result in results)
    assert connector.pooled_transports("pooled") == 2


async def test_a_dead_pooled_connection_is_replaced(
    connector: SSHConnector, make_sshd: Callable[..., SshServer], ssh_account: SshAccount
) -> None:
    server = make_sshd()
    where = target(server, ssh_account, system_id="flaky")
    await run(connector, where, "true")
    # Cut the pooled connection under it, as a network blip or an sshd restart would.
    for entries in connector._pool.values():
        for entry in entries:
            entry.transport.sock.shutdown(socket.SHUT_RDWR)
    await asyncio.sleep(0.3)
    _, result = await run(connector, where, "echo back")
    assert result.exit_code == 0


async def test_unreachable_hosts_trip_the_breaker(ssh_account: SshAccount) -> None:
    class Quick(SSHConnector):
        breaker_threshold = 3
        breaker_seconds = 60.0

    connector = Quick(max_threads=4)
    closed_port = free_port()
    where = Target(
        system_id="down",
        host="127.0.0.1",
        port=closed_port,
        username="x",
        secret={"password": "x"},
        host_key=None,
    )
    try:
        for _ in range(3):
            with pytest.raises(Unreachable) as refused:
                await run(connector, where, "true")
            assert refused.value.reason == "refused"
        started = time.monotonic()
        with pytest.raises(CircuitOpen) as fast:
            await run(connector, where, "true")
        assert time.monotonic() - started < 0.2
        assert "3 connection attempts in a row failed" in str(fast.value)
    finally:
        await connector.close()


async def test_unreachable_reasons(connector: SSHConnector) -> None:
    base = {"username": "x", "secret": {"password": "x"}, "host_key": None}
    with pytest.raises(Unreachable) as dns:
        await run(
            connector, Target(system_id="a", host="no-such-host.invalid", port=22, **base), "true"
        )  # type: ignore[arg-type]
    assert dns.value.reason == "dns"
    # A server that accepts but never speaks SSH.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        silent = Target(
            system_id="b",
            host="127.0.0.1",
            port=listener.getsockname()[1],
            options={"connect_timeout": 1},
            **base,
        )  # type: ignore[arg-type]
        with pytest.raises(ConnectorError) as mute:
            await run(connector, silent, "true")
        assert mute.value.category == "unreachable"
    finally:
        listener.close()


# -- a jump host -----------------------------------------------------------------------------


async def test_through_a_jump_host_with_its_own_pinned_key(
    connector: SSHConnector,
    sshd: SshServer,
    make_sshd: Callable[..., SshServer],
    ssh_account: SshAccount,
) -> None:
    inner = make_sshd()
    options = {"jump_host": "127.0.0.1", "jump_port": sshd.port}
    where = target(
        inner, ssh_account, system_id="behind", jump_host_key=sshd.host_key_line, **options
    )
    sink, result = await run(connector, where, "echo via bastion")
    assert result.exit_code == 0 and sink.text(OutputStream.stdout) == "via bastion\n"
    unpinned = target(inner, ssh_account, system_id="behind-2", **options)
    with pytest.raises(HostKeyUnknown):
        await run(connector, unpinned, "true")


# -- every library exception has a home ------------------------------------------------------


def test_every_paramiko_exception_maps_into_the_tree() -> None:
    classes = [
        cls
        for _, cls in inspect.getmembers(paramiko.ssh_exception, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == "paramiko.ssh_exception"
    ]
    assert len(classes) >= 8
    for cls in classes:
        instance = _instance(cls)
        mapped = map_error(instance)
        assert isinstance(mapped, ConnectorError), cls
        assert "unexpected error" not in mapped.message, cls
    for error in (
        socket.gaierror(-2, "Name or service not known"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        ConnectionResetError(104, "reset"),
        OSError(101, "Network is unreachable"),
        EOFError(),
    ):
        assert "unexpected error" not in map_error(error).message, error


def _instance(cls: type[Exception]) -> Exception:
    """An instance of a paramiko exception, whatever arguments its constructor wants."""
    if issubclass(cls, paramiko.BadHostKeyException):
        key = paramiko.RSAKey.generate(1024)
        return cls("host", key, key)
    if issubclass(cls, paramiko.ssh_exception.NoValidConnectionsError):
        return cls({("127.0.0.1", 22): ConnectionRefusedError()})
    if issubclass(cls, paramiko.ChannelException):
        return cls(2, "refused")
    for args in ((), ("message",), ("message", ["password"]), ("command", "error")):
        try:
            return cls(*args)
        except TypeError:
            continue
    raise AssertionError(f"cannot build {cls}")


def test_no_autoadd_policy_anywhere() -> None:
    source = Path(__file__).parents[2].joinpath("backend/app").rglob("*.py")
    for path in source:
        text = path.read_text()
        assert "AutoAddPolicy" not in text and "WarningPolicy" not in text, path


# -- the edges found in review ---------------------------------------------------------------


@pytest.fixture
def chatty_bashrc(ssh_account: SshAccount) -> Iterator[None]:
    """The test account's ~/.bashrc prints a line (restored afterwards)."""
    if ssh_account.password is None:
        pytest.skip("needs the test account's home")
    bashrc = Path(f"/home/{ssh_account.username}/.bashrc")
    before = bashrc.read_text() if bashrc.exists() else None
    bashrc.write_text("echo 'hello from bashrc'\n")
    yield
    if before is None:
        bashrc.unlink()
    else:
        bashrc.write_text(before)


async def test_login_script_output_before_the_marker_is_kept_and_stops_still_work(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount, chatty_bashrc: None
) -> None:
    """bash sources ~/.bashrc for commands sshd runs; whatever it prints comes first."""
    sink, result = await run(
        connector, target(sshd, ssh_account), "echo $$; sleep 300", timeout=1.0
    )
    lines = sink.text(OutputStream.stdout).splitlines()
    assert lines[0] == "hello from bashrc" and result.timed_out
    await _until_gone(int(lines[1]))


async def _until_gone(pid: int) -> None:
    for _ in range(50):
        if _gone(pid):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"process {pid} survived")


async def test_commands_get_no_stdin(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    sink, result = await run(connector, target(sshd, ssh_account), "cat; echo done", timeout=10)
    assert result.exit_code == 0 and sink.text(OutputStream.stdout) == "done\n"


async def test_a_failing_sink_or_a_cancelled_task_stops_the_remote_command(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    pids: list[int] = []

    async def failing(stream: OutputStream, data: bytes) -> None:
        pids.append(int(data.split()[0]))
        raise RuntimeError("the output store is down")

    request = ExecRequest(command="echo $$; sleep 300")
    with pytest.raises(ConnectorError):
        await connector.execute(target(sshd, ssh_account), request, failing, asyncio.Event())
    await _until_gone(pids[0])

    seen: list[int] = []

    async def remember(stream: OutputStream, data: bytes) -> None:
        seen.append(int(data.split()[0]))

    task = asyncio.create_task(
        connector.execute(target(sshd, ssh_account), request, remember, asyncio.Event())
    )
    for _ in range(50):
        if seen:
            break
        await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until_gone(seen[0])


async def test_many_stops_at_once_on_one_connection(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    """Six commands fill a transport; stopping them all needs more channels than OpenSSH's
    default of ten per connection leaves: the extra kills go over a connection of their own."""
    where = target(sshd, ssh_account, system_id="crowded")
    outcomes = await asyncio.gather(
        *(run(connector, where, "echo $$; sleep 300", timeout=1.0) for _ in range(6))
    )
    for sink, result in outcomes:
        assert result.timed_out
        await _until_gone(int(sink.text(OutputStream.stdout).split()[0]))


async def test_the_pinned_key_type_is_asked_for(
    connector: SSHConnector, make_sshd: Callable[..., SshServer], ssh_account: SshAccount
) -> None:
    """A host with an Ed25519 and an RSA key: pinning the RSA one must not look like a change."""
    server = make_sshd(extra_host_keys=("rsa",))
    rsa_key = server.extra_keys[0]
    where = target(server, ssh_account, pinned=" ".join(rsa_key.public.split()[:2]))
    _, result = await run(connector, where, "true")
    assert result.exit_code == 0


async def test_a_connection_lost_mid_command_is_not_an_exit(
    connector: SSHConnector, sshd: SshServer, ssh_account: SshAccount
) -> None:
    where = target(sshd, ssh_account, system_id="cut")
    started = asyncio.Event()

    async def sink(stream: OutputStream, data: bytes) -> None:
        started.set()

    task = asyncio.create_task(
        connector.execute(where, ExecRequest(command="echo go; sleep 5"), sink, asyncio.Event())
    )
    await asyncio.wait_for(started.wait(), 10)
    for entries in connector._pool.values():
        for entry in entries:
            entry.transport.sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(Unreachable, match="connection was lost"):
        await asyncio.wait_for(task, 20)
