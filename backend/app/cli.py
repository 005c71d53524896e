"""The `orca` command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer

from app import __version__
from app.client import register as register_client
from app.core import memory
from app.core.config import Settings, SettingsError, load_settings
from app.core.logging import configure_logging

cli = typer.Typer(
    name="orca",
    help="Orca: run commands and scripts across Linux and Windows fleets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings(process: str) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(str(exc))
    configure_logging(settings.log_level, settings.log_format.value, process)
    return settings


def _require(settings: Settings, *names: str) -> None:
    try:
        settings.require(*names)
    except SettingsError as exc:
        _fail(str(exc))


@cli.command()
def up() -> None:
    """Start everything on this machine: PostgreSQL, Redis, migrations, the API and workers.

    With ORCA_DATABASE_URL / ORCA_REDIS_URL unset, PostgreSQL and Redis are embedded, with their
    data under ORCA_HOME. Ctrl-C stops everything; running it again keeps the data.
    """
    from app.core.embedded import EmbeddedError
    from app.core.home import HomeError
    from app.stack import Stack, StackError

    settings = _settings("up")
    stack = Stack(settings, out=lambda line: typer.echo(line, err=True))
    stack.install_signal_handlers()
    code = 0
    try:
        password = stack.start()
        if password:
            # Shown at once, not with the "ready" banner: a Ctrl-C before readiness must not
            # lose the only copy of a password that is never shown again.
            _show_admin_password(password)
        stack.wait_ready()
        if stack.stop_requested is None:
            _banner(settings, stack.home.path)
            stack.run_until_stopped()
    except (StackError, EmbeddedError, HomeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 1
    finally:
        typer.echo("Stopping Orca ...", err=True)
        stack.stop()
        typer.echo("Stopped.", err=True)
    raise typer.Exit(code)


def _show_admin_password(password: str) -> None:
    sys.stdout.write(
        "\nFirst admin account (the password is shown only this once):\n"
        f"  username: admin\n  password: {password}\n\n"
    )
    sys.stdout.flush()


def _banner(settings: Settings, home: object) -> None:
    host = "127.0.0.1" if settings.api_host in {"0.0.0.0", "::"} else settings.api_host  # noqa: S104
    base = f"http://{host}:{settings.api_port}"
    lines = [
        "",
        f"Orca {__version__} is ready.",
        f"  API          {base}",
        f"  API docs     {base}/docs",
        f"  Readiness    {base}/readyz",
        f"  Data         {home}",
        f"  Server logs  {home}/logs",
        "",
        "Press Ctrl-C to stop.",
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


@cli.command()
def api() -> None:
    """Serve the API (production: needs every ORCA_* connection setting and secret)."""
    import uvicorn

    from app.main import create_app

    settings = _settings("api")
    _require(settings, "database_url", "redis_url", "jwt_secret", "encryption_keys")
    app = create_app(settings)
    memory.settle()
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        # Forwarded headers are believed only from the configured proxies: anyone else could
        # pick their own address and dodge the per-address login limit.
        proxy_headers=settings.trusted_proxies is not None,
        forwarded_allow_ips=settings.trusted_proxies or "",
        server_header=False,
        timeout_graceful_shutdown=10,
        # The standard event loop, as in the workers: uvloop's subprocess_exec refuses the
        # user/group switch the local connector makes when the API tests a local system.
        loop="asyncio",
        # WebSocket: protocol pings find dead peers; clients send only small commands.
        ws="websockets-sansio",
        ws_ping_interval=20,
        ws_max_size=64 * 1024,
    )


@cli.command()
def worker() -> None:
    """Run a worker that executes jobs from the queue (needs the same settings as the API)."""
    from app.worker.settings import build_worker

    settings = _settings("worker")
    _require(settings, "database_url", "redis_url", "jwt_secret", "encryption_keys")
    built = build_worker(settings)
    memory.settle()
    built.run()


@cli.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations up to a revision (default: the newest)."""
    from app.core import migrations

    settings = _settings("migrate")
    url = _database_url(settings)
    with _database_errors():
        migrations.upgrade(url, revision)
    typer.echo(f"database migrated to {revision}", err=True)


@cli.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Argument(help="Login name of the new admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an admin account. Without --password-stdin a password is generated and printed."""
    from app.auth.passwords import policy_problem
    from app.core.db import run_once
    from app.core.errors import Conflict
    from app.services import users as users_service

    settings = _settings("cli")
    url = _database_url(settings)
    given = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password_stdin and not given:
        _fail("no password on standard input")
    if given is not None and (
        problem := policy_problem(given, username, settings.password_min_length)
    ):
        _fail(f"the password {problem}")

    try:
        with _database_errors():
            _, password = asyncio.run(
                run_once(url, lambda session: users_service.create_admin(session, username, given))
            )
    except Conflict as exc:
        _fail(exc.message)
    typer.echo(f"admin {username!r} created")
    if given is None:
        typer.echo(f"password: {password}  (shown only this once)")


def verify_audit_database(anchor: list[str] | None, *, json_output: bool = False) -> None:
    """`orca audit verify --database`: walk the audit log's hash chain straight from the
    database, recomputing every hash; exit 1 naming the first broken row."""
    from dataclasses import asdict

    from app.core.db import run_once
    from app.services import audit

    try:
        anchors = tuple(audit.Anchor.parse(each) for each in anchor or [])
    except ValueError as exc:
        _fail(f"--anchor: {exc}")
    settings = _settings("cli")
    url = _database_url(settings)
    with _database_errors():
        result = asyncio.run(
            run_once(url, lambda session: audit.verify_chain(session, anchors=anchors))
        )
    if json_output:
        import json

        typer.echo(json.dumps(asdict(result), indent=2))
        raise typer.Exit(0 if result.ok else 1)
    if result.ok:
        typer.echo(
            f"audit chain intact: {result.rows_checked} rows; head (keep it, pass it back "
            f"with --anchor): {result.head_seq}:{result.head_hash}"
        )
        return
    typer.echo(
        f"audit chain BROKEN at seq {result.broken_at_seq}: {result.problem} "
        f"({result.rows_checked} rows verified before it)",
        err=True,
    )
    raise typer.Exit(1)


@cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every credential secret under the first key of ORCA_ENCRYPTION_KEYS.

    Put a new key (`orca generate-key`) first, keep the old ones after it, run this, then
    remove the old keys. Safe to interrupt and run again.
    """
    from app.core.db import create_engine, create_sessionmaker
    from app.core.vault import Vault
    from app.services import credentials as credentials_service

    settings = _settings("cli")
    _require(settings, "encryption_keys")
    url = _database_url(settings)
    vault = Vault.from_settings(settings)

    async def run() -> credentials_service.Rotation:
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            async with create_sessionmaker(engine)() as session:
                return await credentials_service.rotate_keys(session, vault)
        finally:
            await engine.dispose()

    from app.core.vault import VaultError

    try:
        with _database_errors():
            result = asyncio.run(run())
    except VaultError:
        _fail(
            "a stored secret opens with none of the keys in ORCA_ENCRYPTION_KEYS; "
            "add back the key it was encrypted with"
        )
    typer.echo(
        f"re-encrypted {result.rotated} secret(s); {result.already_current} already used "
        "the first key"
    )
    if result.remaining:
        _fail(
            f"{result.remaining} secret(s) were changed meanwhile and still use an old key: "
            "make sure every API and worker has the new key list, then run this again",
            code=1,
        )


# A group only so that the client's `orca retention report` (app/client/) can sit under it;
# without a subcommand it is the database command it always was.
retention_cli = typer.Typer(invoke_without_command=True)
cli.add_typer(retention_cli, name="retention")


@retention_cli.callback()
def retention_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would be removed.")
    ] = False,
) -> None:
    """Apply the retention policy now (ORCA_RETENTION_OUTPUT_DAYS, ORCA_RETENTION_JOBS_DAYS), as
    the workers' hourly run does; with --dry-run, report what it would remove and change
    nothing. The audit log is never removed. `orca retention report` asks a server instead,
    as a user logged in with `orca login`."""
    if ctx.invoked_subcommand is not None:
        if dry_run:
            _fail(f"--dry-run is for `orca retention` itself, not `{ctx.invoked_subcommand}`")
        return
    from app.core.db import create_engine, create_sessionmaker
    from app.services import retention

    settings = _settings("cli")
    url = _database_url(settings)
    policy = retention.Policy.from_settings(settings)
    if not policy.active and not dry_run:
        _fail(
            "no retention configured: set ORCA_RETENTION_OUTPUT_DAYS and/or "
            "ORCA_RETENTION_JOBS_DAYS (days; 0 keeps for ever)",
            code=1,
        )

    async def run() -> retention.Report:
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            maker = create_sessionmaker(engine)
            if dry_run:
                async with maker() as session:
                    return await retention.dry_run(session, policy)
            return await retention.enforce(maker, policy)
        finally:
            await engine.dispose()

    with _database_errors():
        report = asyncio.run(run())
    verb = "would remove" if dry_run else "removed"
    output = (
        f"output of jobs finished before {report.output_before:%Y-%m-%d %H:%M %Z}"
        if report.output_before
        else "output: kept (ORCA_RETENTION_OUTPUT_DAYS=0)"
    )
    jobs = (
        f"jobs finished before {report.jobs_before:%Y-%m-%d %H:%M %Z}"
        if report.jobs_before
        else "jobs: kept (ORCA_RETENTION_JOBS_DAYS=0)"
    )
    typer.echo(f"policy: {output}; {jobs}; the audit log is always kept")
    typer.echo(
        f"{verb}: the output of {report.executions_output_removed} execution(s) "
        f"({report.output_bytes_removed} bytes); {report.jobs_removed} job(s) with "
        f"{report.executions_removed} execution(s); {report.schedule_runs_removed} schedule "
        "run record(s)"
    )
    if not report.complete:
        typer.echo("stopped at its time limit: run it again to go on", err=True)


@cli.command()
def healthcheck(
    role: Annotated[
        str, typer.Argument(help="api: this host's API answers; worker: a worker here beats.")
    ] = "api",
) -> None:
    """Exit 0 when healthy, 1 otherwise: for container health checks. `api` asks this host's
    API for /healthz; `worker` looks for a heartbeat of a worker on this host (its hostname)
    within ORCA_WORKER_HEARTBEAT_TTL_SECONDS."""
    import socket

    settings = _settings("cli")
    if role == "api":
        import urllib.request

        url = f"http://127.0.0.1:{settings.api_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                healthy = response.status == 200
        except OSError as exc:
            _fail(f"the API at {url} does not answer ({type(exc).__name__})", code=1)
        if not healthy:
            _fail(f"the API at {url} is not healthy", code=1)
        typer.echo("api: healthy")
        return
    if role != "worker":
        _fail(f"unknown role {role!r}: api or worker")
    from app.core.db import run_once
    from app.repositories import workers as workers_repo

    database = _database_url(settings)
    with _database_errors():
        live = asyncio.run(
            run_once(
                database,
                lambda session: workers_repo.live(session, settings.worker_heartbeat_ttl_seconds),
            )
        )
    here = [beat for beat in live if beat.hostname == socket.gethostname()]
    if not here:
        _fail(f"no worker on {socket.gethostname()} has beaten lately", code=1)
    typer.echo(f"worker: {len(here)} beating on {socket.gethostname()}")


@cli.command("generate-key")
def generate_key() -> None:
    """Print a new Fernet key for ORCA_ENCRYPTION_KEYS."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@cli.command()
def openapi() -> None:
    """Print the API's OpenAPI document (JSON): what the web console's client is generated
    from, and what other clients can be generated from. Needs no database or settings."""
    import json

    from app.main import create_app

    # Placeholders: building the app connects to nothing.
    settings = Settings(
        _env_file=None,
        database_url="postgresql+asyncpg://orca@127.0.0.1/orca",
        redis_url="redis://127.0.0.1:6379/0",
    )
    typer.echo(json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True))


@cli.command()
def version() -> None:
    """Print Orca's version."""
    typer.echo(__version__)


@contextmanager
def _database_errors() -> Iterator[None]:
    """Turn "cannot reach or use the database" into one line instead of a traceback."""
    from app.core.db import DATABASE_ERRORS
    from app.core.errors import safe_reason

    try:
        yield
    except DATABASE_ERRORS as exc:
        _fail(f"cannot use the database ({safe_reason(exc)}); check ORCA_DATABASE_URL")


def _database_url(settings: Settings) -> str:
    """ORCA_DATABASE_URL, or the embedded database of a running `orca up` on ORCA_HOME."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from app.core.embedded import EmbeddedPostgres
    from app.core.home import Home, HomeError

    home = Home(settings.home)
    if home.secrets_file.exists():
        try:
            stored = home.load_or_create_secrets()
        except HomeError as exc:
            _fail(str(exc))
        server = EmbeddedPostgres(home.postgres_dir, password=stored.postgres_password)
        if server.attach():
            return server.url()
    _fail(
        "ORCA_DATABASE_URL is not set, and no `orca up` is running on "
        f"{home.path} to borrow the embedded database from"
    )


# The client commands (login, run, systems, jobs, audit, ...): app/client/.
register_client(cli, retention=retention_cli)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
