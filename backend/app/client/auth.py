"""`orca login`, `orca logout`, `orca whoami`."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from app.client import common
from app.client.common import JsonOption, ServerOption
from app.client.config import DEFAULT_SERVER, Login, Store, normalize_server
from app.client.errors import AuthRequired, Unreachable, UsageError
from app.client.http import Api, with_tokens
from app.client.render import Output, when


def login(
    server: ServerOption = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Default: asked, or the last one.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            "--ca-bundle",
            help="PEM file of a private CA to trust for this server (remembered).",
            exists=True,
            dir_okay=False,
            readable=True,
            resolve_path=True,
        ),
    ] = None,
) -> None:
    """Log in to an Orca server and keep the session in your config directory (mode 0600)."""
    output = Output()

    async def main() -> int:
        store = Store()
        config = store.load()
        if server:
            url = normalize_server(server)
        elif config.current:
            url = config.current
        else:
            url = normalize_server(typer.prompt("Orca server", default=DEFAULT_SERVER))
        previous = config.servers.get(url)
        name = username or (
            typer.prompt(
                "Username",
                default=previous.username if previous else getpass.getuser(),
                err=True,
            )
        )
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise UsageError("no password on standard input")
        else:
            password = typer.prompt("Password", hide_input=True, err=True)
        ca = str(ca_bundle) if ca_bundle else (previous.ca_bundle if previous else None)
        fresh = Login(server=url, username=name, ca_bundle=ca)
        async with Api(store, fresh, anonymous=True) as anonymous:
            body = await anonymous.post("/auth/login", {"username": name, "password": password})
        signed_in = with_tokens(fresh, body)
        with store.locked():
            store.put(signed_in)
        async with Api(store, signed_in) as api:
            me = await api.get("/auth/me")
        output.note(
            Text.assemble(
                "Logged in to ",
                (url, "bold"),
                " as ",
                (str(me["username"]), "bold"),
                f" ({me['role']}). Session kept in {store.path}",
            )
        )
        return 0

    common.run(main)


def logout(
    server: ServerOption = None,
    everywhere: Annotated[
        bool, typer.Option("--everywhere", help="End every session of your account.")
    ] = False,
) -> None:
    """End the session on the server (its tokens stop working at once) and forget it here."""
    output = Output()

    async def main() -> int:
        store = Store()
        url = store.server_for(server)
        stored = store.load().servers.get(url)
        if stored is None:
            output.note(f"Not logged in to {url}.")
            return 0
        code = 0
        if stored.refresh_token or stored.access_token:
            try:
                async with Api(store, stored) as api:
                    await api.post("/auth/logout", {"everywhere": everywhere})
            except AuthRequired:
                pass  # already over on the server
            except Unreachable as exc:
                output.warn(
                    f"{exc.message}; the session was not ended on the server (it lapses when "
                    "its refresh token expires)"
                )
                code = exc.exit_code
        with store.locked():
            store.forget(url)
        output.note(f"Logged out of {url}.")
        return code

    common.run(main)


def whoami(server: ServerOption = None, json_output: JsonOption = False) -> None:
    """Who you are on the server: account, role, teams, and how long the session lasts."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            me = await api.get("/auth/me")
            if output.json:
                output.print_json({"server": api.server, **me})
                return 0
            output.fields(
                [
                    ("server", api.server),
                    ("username", me["username"]),
                    ("role", me["role"]),
                    ("name", me.get("full_name")),
                    ("teams", ", ".join(team["name"] for team in me["teams"]) or "-"),
                    ("idle expiry", when(api.login.refresh_expires_at)),
                ]
            )
        return 0

    common.run(main)
