"""`orca audit`: query, export and verify the audit trail (admins and auditors)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from app.client import common
from app.client.common import AllOption, CursorOption, JsonOption, LimitOption, ServerOption
from app.client.errors import Failed, UsageError
from app.client.http import Api
from app.client.render import Output, status, when

app = typer.Typer(help="The audit trail: who did what, when, from where.", no_args_is_help=True)

Since = Annotated[str | None, typer.Option(help="From: 2h, 7d, or a date/time (inclusive).")]
Until = Annotated[str | None, typer.Option(help="Before: a date/time or an age.")]
Actor = Annotated[str | None, typer.Option(help="The actor's username.")]
Action = Annotated[
    str | None, typer.Option(help="An action (auth.login_failed) or a prefix (auth.*).")
]
TargetType = Annotated[str | None, typer.Option(help="system, job, user, session, ...")]
TargetId = Annotated[str | None, typer.Option(help="The target's id.")]
Outcome = Annotated[str | None, typer.Option(help="success, failure or denied.")]
Search = Annotated[
    str | None, typer.Option("--search", "-q", help="In username, action, target, details.")
]


def _filters(
    since: str | None,
    until: str | None,
    actor: str | None,
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    outcome: str | None,
    search: str | None,
) -> dict[str, Any]:
    return {
        "since": common.moment(since, "--since"),
        "until": common.moment(until, "--until"),
        "actor": actor,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "outcome": outcome,
        "q": search,
    }


@app.command("ls")
def list_events(
    since: Since = None,
    until: Until = None,
    actor: Actor = None,
    action: Action = None,
    target_type: TargetType = None,
    target_id: TargetId = None,
    outcome: Outcome = None,
    search: Search = None,
    oldest_first: Annotated[bool, typer.Option("--oldest-first", help="Oldest first.")] = False,
    limit: LimitOption = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Audit rows matching every filter, newest first."""
    output = Output(json_output)

    async def main() -> int:
        params = _filters(since, until, actor, action, target_type, target_id, outcome, search)
        params["sort"] = "seq" if oldest_first else "-seq"
        async with Api.for_server(server) as api:
            page = await api.collect("/audit", params, limit=limit, every=every, cursor=cursor)
        if output.json:
            output.print_json(page.items)
            return 0
        output.table(
            ["SEQ", "TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "FROM"],
            [
                [
                    str(row["seq"]),
                    when(row["occurred_at"]),
                    row.get("actor_username") or "-",
                    row["action"],
                    status(row["outcome"]),
                    f"{row['target_type']} {row.get('target_id') or ''}".strip()
                    if row.get("target_type")
                    else "-",
                    row.get("client_ip") or "-",
                ]
                for row in page.items
            ],
            empty="no audit rows match",
        )
        output.more(page.next_cursor, len(page.items), None)
        return 0

    common.run(main)


@app.command("export")
def export_events(
    file_format: Annotated[str, typer.Option("--format", "-f", help="ndjson or csv.")] = "ndjson",
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file (0600). Default: stdout.",
            dir_okay=False,
            resolve_path=True,
        ),
    ] = None,
    since: Since = None,
    until: Until = None,
    actor: Actor = None,
    action: Action = None,
    target_type: TargetType = None,
    target_id: TargetId = None,
    outcome: Outcome = None,
    search: Search = None,
    server: ServerOption = None,
) -> None:
    """Every matching row, oldest first, as NDJSON or CSV, streamed without a size limit.
    The export is itself audited."""
    output = Output()
    if file_format not in {"ndjson", "csv"}:
        common.fail(UsageError("--format: ndjson or csv"))

    async def main() -> int:
        params = _filters(since, until, actor, action, target_type, target_id, outcome, search)
        params["format"] = file_format
        async with (
            Api.for_server(server) as api,
            api.stream("GET", "/audit/export", params=params) as response,
        ):
            if out is None:
                async for chunk in response.aiter_bytes():
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                return 0
            size, lines = await _write_file(out, response.aiter_bytes())
        rows = f"{lines} row(s), " if file_format == "ndjson" else ""
        output.note(f"Wrote {rows}{size} bytes to {out}.")
        return 0

    common.run(main)


async def _write_file(path: Path, chunks: Any) -> tuple[int, int]:
    """Write the stream to a 0600 temporary file beside `path`, then rename it into place: a
    broken-off export never leaves a partial file that looks whole."""
    directory = path.parent  # absolute: the option resolves it
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write to {directory}: {exc.strerror}") from None
    size = lines = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return size, lines


@app.command("verify")
def verify_chain(
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="SEQ:HASH of a head printed by an earlier verify (repeatable): catches a "
            "rewrite that recomputed the later hashes, and rows cut from the end.",
        ),
    ] = None,
    database: Annotated[
        bool,
        typer.Option(
            "--database",
            help="Walk the chain straight from the database (ORCA_DATABASE_URL, or the "
            "embedded one of a running `orca up`) instead of asking the server.",
        ),
    ] = False,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first broken row. Prints the
    head to keep somewhere the database's administrators cannot write, for a later --anchor.
    The verification is itself audited (not with --database)."""
    if database:
        from app.cli import verify_audit_database

        verify_audit_database(anchor, json_output=json_output)
        return
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            report = await api.get("/audit/verify", {"anchor": anchor or None})
        if output.json:
            output.print_json(report)
        if report["ok"]:
            if not output.json:
                print(
                    f"audit chain intact: {report['rows_checked']} rows; head (keep it, pass "
                    f"it back with --anchor): {report['head_seq']}:{report['head_hash']}"
                )
            return 0
        raise Failed(
            f"audit chain BROKEN at seq {report['broken_at_seq']}: {report['problem']} "
            f"({report['rows_checked']} rows verified before it)"
        )

    common.run(main)
