"""`orca schedules`: templates launched at cron due times; their history, pause and resume."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.text import Text

from app.client import common, parameters
from app.client.common import AllOption, CursorOption, JsonOption, LimitOption, ServerOption
from app.client.http import Api
from app.client.parameters import ParamOption, SecretStdinOption
from app.client.render import Output, duration, parse_time

app = typer.Typer(
    help="Schedules: launch a template at the due times of a cron expression.",
    no_args_is_help=True,
)

ScheduleArgument = Annotated[str, typer.Argument(help="Schedule name or id.")]
RUN_STYLES = {"launched": "green", "missed": "yellow", "skipped": "dim", "failed": "red"}


def in_zone(value: str | None, zone: str) -> str:
    """A time as the schedule reads it: in its own time zone, to the minute."""
    parsed = parse_time(value)
    if parsed is None:
        return "-"
    try:
        local = parsed.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local = parsed.astimezone()
    return local.strftime("%Y-%m-%d %H:%M %Z")


def _until(value: str | None) -> str:
    parsed = parse_time(value)
    if parsed is None:
        return ""
    seconds = (parsed - datetime.now(UTC)).total_seconds()
    return f"in {duration(max(seconds, 0) * 1000)}"


def _run_status(value: str | None) -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text(value, style=RUN_STYLES.get(value, ""))


def _state(schedule: dict[str, Any]) -> Text:
    return Text("enabled", style="green") if schedule["enabled"] else Text("paused", style="yellow")


def _values(schedule: dict[str, Any]) -> str:
    shown = [f"{k}={v}" for k, v in sorted(schedule.get("parameters", {}).items())]
    shown += [f"{name}=(secret)" for name in schedule.get("secret_parameters", [])]
    return ", ".join(shown)


@app.command("ls")
def list_schedules(
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Part of the name or description.")
    ] = None,
    template: Annotated[
        str | None, typer.Option("--template", "-T", help="Only this template's (name or id).")
    ] = None,
    enabled: Annotated[
        bool | None,
        typer.Option("--enabled/--paused", help="Only enabled, or only paused, schedules."),
    ] = None,
    limit: LimitOption = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the schedules of the templates you may see."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            params: dict[str, Any] = {"q": search}
            if enabled is not None:
                params["enabled"] = "true" if enabled else "false"
            if template:
                params["template_id"] = (await common.template(api, template))["id"]
            page = await api.collect("/schedules", params, limit=limit, every=every, cursor=cursor)
        if output.json:
            output.print_json(page.items)
            return 0
        output.table(
            ["NAME", "TEMPLATE", "CRON", "ZONE", "STATE", "NEXT", "LAST", "OWNER"],
            [
                [
                    s["name"],
                    s["template_name"],
                    s["cron"],
                    s["timezone"],
                    _state(s),
                    in_zone(s.get("next_run_at"), s["timezone"]),
                    _run_status(s["last_run"]["status"] if s.get("last_run") else None),
                    s.get("owner_username") or "-",
                ]
                for s in page.items
            ],
            empty="no schedules match",
        )
        output.more(page.next_cursor, len(page.items), page.total)
        return 0

    common.run(main)


def _show(output: Output, schedule: dict[str, Any]) -> None:
    zone = schedule["timezone"]
    last = schedule.get("last_run")
    policy = schedule["missed_policy"]
    output.fields(
        [
            ("name", schedule["name"]),
            ("id", schedule["id"]),
            ("description", schedule.get("description")),
            ("template", schedule["template_name"]),
            ("cron", f"{schedule['cron']}  ({zone})"),
            ("state", _state(schedule)),
            ("parameters", _values(schedule)),
            (
                "missed runs",
                f"{policy} when more than {duration(schedule['grace_seconds'] * 1000)} late",
            ),
            (
                "overlap",
                "skipped while its last job runs" if schedule["skip_if_running"] else "allowed",
            ),
            ("owner", schedule.get("owner_username") or "-"),
            (
                "last run",
                Text.assemble(
                    in_zone(last["due_at"], zone),
                    "  ",
                    _run_status(last["status"]),
                    f"  job {last['job_id']}" if last.get("job_id") else "",
                    f"  {last['message']}" if last.get("message") else "",
                )
                if last
                else "never",
            ),
            (
                "next runs",
                "\n".join(
                    f"{in_zone(each, zone)}  {_until(each)}" for each in schedule["next_runs"]
                )
                or "none while paused",
            ),
            ("you may manage it", "yes" if schedule.get("can_manage") else "no"),
        ]
    )


@app.command("show")
def show_schedule(
    name: ScheduleArgument,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """One schedule: its cron and zone, the next due times, the last run and its policy."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            schedule = await common.schedule(api, name)
        if output.json:
            output.print_json(schedule)
        else:
            _show(output, schedule)
        return 0

    common.run(main)


@app.command("runs")
def list_runs(
    name: ScheduleArgument,
    run_status: Annotated[
        list[str] | None,
        typer.Option("--status", help="launched, missed, skipped or failed; repeatable."),
    ] = None,
    oldest_first: Annotated[bool, typer.Option("--oldest-first", help="Oldest first.")] = False,
    limit: LimitOption = 20,
    every: AllOption = False,
    cursor: CursorOption = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """What became of each due time, newest first.

    Launched (with its job), missed (late beyond the grace), skipped (the last job still
    ran) or failed (the message says why)."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            schedule = await common.schedule(api, name)
            page = await api.collect(
                f"/schedules/{schedule['id']}/runs",
                {"status": run_status, "sort": "due_at" if oldest_first else "-due_at"},
                limit=limit,
                every=every,
                cursor=cursor,
            )
        if output.json:
            output.print_json(page.items)
            return 0
        zone = schedule["timezone"]
        output.table(
            ["DUE", "STATUS", "JOB", "MESSAGE"],
            [
                [
                    in_zone(run["due_at"], zone),
                    _run_status(run["status"]),
                    run.get("job_id") or "-",
                    run.get("message") or "",
                ]
                for run in page.items
            ],
            empty=f"{schedule['name']} has not come due yet",
        )
        output.more(page.next_cursor, len(page.items), page.total)
        return 0

    common.run(main)


def _set_enabled(name: str, enabled: bool, server: str | None, json_output: bool) -> None:
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            found = await common.schedule(api, name)
            changed = await api.patch(f"/schedules/{found['id']}", {"enabled": enabled})
        if output.json:
            output.print_json(changed)
        elif enabled:
            following = changed.get("next_run_at")
            output.note(
                f"Resumed {changed['name']}: next run "
                f"{in_zone(following, changed['timezone'])} {_until(following)}".rstrip()
            )
        else:
            output.note(f"Paused {changed['name']}: no runs until `orca schedules resume`.")
        return 0

    common.run(main)


@app.command("pause")
def pause_schedule(
    name: ScheduleArgument,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Stop launching until resumed."""
    _set_enabled(name, False, server, json_output)


@app.command("resume")
def resume_schedule(
    name: ScheduleArgument,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Launch again from the next due time (the ones passed while paused are not caught up)."""
    _set_enabled(name, True, server, json_output)


@app.command("create")
def create_schedule(
    template: Annotated[
        str, typer.Option("--template", "-T", help="The template it launches (name or id).")
    ],
    cron: Annotated[
        str,
        typer.Option(
            help="Five fields (minute hour day month weekday: '0 3 * * 1-5'), or @daily, ..."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Argument(help="A name unique in Orca. Default: the template's.", show_default=False),
    ] = None,
    tz: Annotated[
        str, typer.Option("--tz", help="IANA time zone the cron is read in (Europe/Berlin).")
    ] = "UTC",
    param: ParamOption = None,
    secret_stdin: SecretStdinOption = None,
    missed: Annotated[
        str | None,
        typer.Option(
            help="A due time missed beyond the grace: skip (record it) or run_once (run the "
            "latest now). Default: skip."
        ),
    ] = None,
    grace: Annotated[
        str | None,
        typer.Option(help="How late a due time may still run: 600, 10m (default 5m)."),
    ] = None,
    allow_overlap: Annotated[
        bool,
        typer.Option("--allow-overlap", help="Launch even while its last job still runs."),
    ] = False,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Launch a template at the due times of a cron expression.

    It runs as you, with your rights at each due time. Values are checked against the
    template now.

    \b
    orca schedules create nightly-backup --template backup --cron '0 3 * * *' \\
        --tz Europe/Berlin -p keep=7 --missed run_once --grace 10m
    """
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            found = await common.template(api, template)
            body: dict[str, Any] = {
                "name": name or found["name"],
                "template": found["id"],
                "cron": cron,
                "timezone": tz,
                "enabled": not paused,
                "parameters": parameters.values(found, param, secret_stdin, output),
                "skip_if_running": not allow_overlap,
            }
            for field, value in (("description", description), ("missed_policy", missed)):
                if value is not None:
                    body[field] = value
            if grace is not None:
                body["grace_seconds"] = common.seconds(grace, "--grace")
            schedule = await api.post("/schedules", body)
        if output.json:
            output.print_json(schedule)
            return 0
        output.note(f"Created schedule {schedule['name']} ({schedule['id']}).")
        _show(output, schedule)
        return 0

    common.run(main)


@app.command("preview")
def preview_cron(
    cron: Annotated[str, typer.Argument(help="A cron expression: '0 3 * * 1-5', @daily, ...")],
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone it is read in.")] = "UTC",
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=50)] = 5,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """The next due times of a cron expression in a time zone, as a schedule would have them."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            preview = await api.post(
                "/schedules/preview", {"cron": cron, "timezone": tz, "count": count}
            )
        if output.json:
            output.print_json(preview)
        else:
            for each in preview["next_runs"]:
                output.line(f"{in_zone(each, tz)}  {_until(each)}")
        return 0

    common.run(main)


@app.command("delete")
def delete_schedule(
    name: ScheduleArgument,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete a schedule and its history; the jobs it launched stay."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            found = await common.schedule(api, name)
            deleted = await api.delete(f"/schedules/{found['id']}")
        if output.json:
            output.print_json({**deleted, "id": found["id"], "name": found["name"]})
        else:
            output.note(f"Deleted schedule {found['name']} ({found['id']}).")
        return 0

    common.run(main)
