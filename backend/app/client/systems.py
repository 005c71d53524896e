"""`orca systems`: list, show, add, import and test the machines Orca runs on."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from app.client import common
from app.client.common import AllOption, CursorOption, JsonOption, LimitOption, ServerOption
from app.client.errors import ApiError, Failed, UsageError
from app.client.http import Api
from app.client.render import Output, ago, labels, status, when

app = typer.Typer(help="The machines Orca runs commands on.", no_args_is_help=True)


async def _group_names(api: Api) -> dict[str, str]:
    """Group id → name, for showing; empty if the caller may not list groups."""
    try:
        page = await api.collect("/groups", {}, limit=500, every=True)
    except ApiError:
        return {}
    return {str(group["id"]): str(group["name"]) for group in page.items}


def _address(system: dict[str, Any]) -> str:
    host = str(system["host"])
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{system['port']}" if system.get("port") else host


@app.command("ls")
def list_systems(
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Part of the name, host or labels.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="linux or windows.")] = None,
    health: Annotated[
        str | None, typer.Option(help="healthy, unreachable, auth_failed, unknown, ...")
    ] = None,
    connector: Annotated[str | None, typer.Option(help="ssh, winrm, local, ...")] = None,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Group name or id.")] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="key=value; repeat for several.")
    ] = None,
    limit: LimitOption = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the systems you may see."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            params: dict[str, Any] = {
                "q": search,
                "kind": kind,
                "health": health,
                "connector": connector,
                "label": [f"{k}={v}" for k, v in common.pairs(label, "--label").items()],
            }
            if group:
                params["group_id"] = await common.group_id(api, group)
            page = await api.collect("/systems", params, limit=limit, every=every, cursor=cursor)
            if output.json:
                output.print_json(page.items)
                return 0
            groups = await _group_names(api)
        output.table(
            ["NAME", "KIND", "CONNECTOR", "ADDRESS", "HEALTH", "CHECKED", "LABELS", "GROUPS"],
            [
                [
                    system["name"],
                    system["kind"],
                    system["connector"],
                    _address(system),
                    status(system["health_status"]),
                    ago(system.get("last_checked_at")),
                    labels(system.get("labels")),
                    ",".join(groups.get(g, g[:8]) for g in system.get("group_ids", [])) or "-",
                ]
                for system in page.items
            ],
            empty="no systems match",
        )
        output.more(page.next_cursor, len(page.items), page.total)
        return 0

    common.run(main)


@app.command("show")
def show_system(
    name: Annotated[str, typer.Argument(help="System name or id.")],
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """One system in full."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            system = await common.system(api, name)
            if output.json:
                output.print_json(system)
                return 0
            groups = await _group_names(api)
        output.fields(
            [
                ("name", system["name"]),
                ("id", system["id"]),
                ("description", system.get("description")),
                ("kind", system["kind"]),
                ("connector", system["connector"]),
                ("address", _address(system)),
                ("health", status(system["health_status"])),
                ("last check", when(system.get("last_checked_at"))),
                ("last error", system.get("last_error")),
                ("labels", labels(system.get("labels"))),
                ("groups", ", ".join(groups.get(g, g) for g in system.get("group_ids", []))),
                ("host key", system.get("host_key_fingerprint")),
                ("max concurrency", str(system.get("max_concurrency") or "default")),
                ("options", ", ".join(f"{k}={v}" for k, v in system.get("options", {}).items())),
            ]
        )
        return 0

    common.run(main)


@app.command("add")
def add_system(
    name: Annotated[str, typer.Argument(help="A name unique in Orca (web-1).")],
    host: Annotated[str, typer.Option("--host", "-H", help="Host name or IP address.")],
    port: Annotated[int | None, typer.Option(help="Default: the connector's.")] = None,
    connector: Annotated[str, typer.Option("--connector", "-c", help="ssh, winrm, local.")] = (
        "ssh"
    ),
    kind: Annotated[
        str | None, typer.Option(help="linux or windows (default: what the connector reaches).")
    ] = None,
    credential: Annotated[
        str | None, typer.Option("--credential", "-C", help="Credential name or id.")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="key=value; repeatable.")
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Group name or id; repeatable.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Connector option key=value; repeatable."),
    ] = None,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    host_key: Annotated[
        str | None,
        typer.Option(help="SSH host key to pin (`ssh-ed25519 AAAA…`, or @FILE to read one)."),
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(help="Executions at once on this system.")
    ] = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a system (admins). For SSH, scan and trust its host key before the first job
    unless --host-key pins it now."""
    output = Output(json_output)

    async def main() -> int:
        key = _host_key(host_key)
        async with Api.for_server(server) as api:
            body: dict[str, Any] = {
                "name": name,
                "host": host,
                "connector": connector,
                "labels": common.pairs(label, "--label"),
                "options": _options(option),
            }
            for field, value in (
                ("port", port),
                ("kind", kind),
                ("description", description),
                ("host_key", key),
                ("max_concurrency", max_concurrency),
            ):
                if value is not None:
                    body[field] = value
            if credential:
                body["credential_id"] = await common.credential_id(api, credential)
            body["group_ids"] = [await common.group_id(api, each) for each in group or []]
            system = await api.post("/systems", body)
        if output.json:
            output.print_json(system)
            return 0
        output.note(f"Added {system['name']} ({system['id']}).")
        if system["connector"] == "ssh" and not system.get("host_key_fingerprint"):
            output.note(
                "Its host key is not trusted yet: scan it, compare the fingerprint with the "
                "host's own, and trust it (console, or POST /api/v1/systems/ID/host-key/trust)."
            )
        return 0

    common.run(main)


def _host_key(given: str | None) -> str | None:
    if not given or not given.startswith("@"):
        return given
    try:
        return Path(given[1:]).read_text().strip()
    except OSError as exc:
        raise UsageError(f"--host-key: cannot read {given[1:]}: {exc.strerror}") from None


def _options(values: list[str] | None) -> dict[str, Any]:
    """Connector options; `true`/`false` and whole numbers become JSON booleans and numbers."""
    options: dict[str, Any] = {}
    for key, value in common.pairs(values, "--option").items():
        lowered = value.lower()
        if lowered in {"true", "false"}:
            options[key] = lowered == "true"
        elif value.isdigit():
            options[key] = int(value)
        else:
            options[key] = value
    return options


@app.command("import")
def import_systems(
    file: Annotated[str, typer.Argument(help="A CSV or JSON file, or - for standard input.")],
    file_format: Annotated[
        str | None,
        typer.Option("--format", "-f", help="csv or json. Default: from the file's name or text."),
    ] = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add many systems at once (admins). All or nothing: a problem in any row imports none,
    and every row's problems are listed.

    CSV columns: name, host, port, kind, connector, credential (a name),
    groups (`a;b`), labels (`k=v;k2=v2`), description, host_key, max_concurrency.
    JSON: a list of systems as POST /api/v1/systems takes them, with `credential`
    and `groups` by name."""
    output = Output(json_output)

    async def main() -> int:
        data = _read(file)
        kind = (file_format or _sniff(file, data)).lower()
        if kind not in {"csv", "json"}:
            raise UsageError("--format: csv or json")
        media = "text/csv" if kind == "csv" else "application/json"
        async with Api.for_server(server) as api:
            response = await api.request(
                "POST", "/systems/import", content=data, headers={"Content-Type": media}
            )
            result = response.json()
        if output.json:
            output.print_json(result)
        else:
            output.note(f"Imported {result['created']} system(s) from {file}.")
        return 0

    common.run(main)


def _read(file: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None


def _sniff(name: str, data: bytes) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in {".csv", ".json"}:
        return suffix[1:]
    return "json" if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in {b"[", b"{"} else "csv"


@app.command("test")
def test_systems(
    names: Annotated[list[str], typer.Argument(help="System names or ids.")],
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Connect, authenticate and run a trivial command on each system (needs `execute` on
    it); its health is updated. Exit 1 if any test fails."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            gate = asyncio.Semaphore(8)

            async def one(ref: str) -> dict[str, Any]:
                async with gate:
                    found = await common.system(api, ref)
                    result = await api.post(f"/systems/{found['id']}/test")
                    return {"system": found["name"], "id": found["id"], **result}

            results = await asyncio.gather(*(one(ref) for ref in names))
        if output.json:
            output.print_json(results)
        else:
            output.table(
                ["SYSTEM", "RESULT", "LATENCY", "MESSAGE"],
                [
                    [
                        result["system"],
                        Text("ok", style="green")
                        if result["ok"]
                        else Text(result.get("category") or "failed", style="red"),
                        f"{result['latency_ms']:.0f} ms" if result.get("latency_ms") else "-",
                        result.get("message") or "",
                    ]
                    for result in results
                ],
            )
        failed = [result["system"] for result in results if not result["ok"]]
        if failed:
            raise Failed(f"{len(failed)} of {len(results)} failed: {', '.join(failed)}")
        return 0

    common.run(main)
