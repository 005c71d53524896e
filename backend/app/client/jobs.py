"""`orca jobs`: list, show, read, follow, cancel and rerun jobs."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.text import Text

from app.client import common
from app.client.common import AllOption, CursorOption, JsonOption, LimitOption, ServerOption
from app.client.errors import EXIT_OK, UsageError
from app.client.http import Api
from app.client.render import Output, duration, first_line, span, status, when
from app.client.run import Display, follow
from app.client.stream import TERMINAL, executions_of, flush, read_stored

app = typer.Typer(help="Jobs: what ran where, its output; cancel and rerun.", no_args_is_help=True)

JobArgument = Annotated[str, typer.Argument(help="Job id, or `last` (your latest job).")]


def _progress(job: dict[str, Any]) -> Text:
    counts = job["counts"]
    done = sum(counts.get(state, 0) for state in TERMINAL)
    text = Text(f"{done}/{job['target_count']}")
    bad = sum(counts.get(state, 0) for state in ("failed", "timed_out", "error"))
    if bad:
        text.append(f" ({bad} failed)", style="red")
    return text


@app.command("ls")
def list_jobs(
    job_status: Annotated[
        list[str] | None,
        typer.Option(
            "--status", help="pending, running, succeeded, failed, cancelled; repeatable."
        ),
    ] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only jobs you submitted.")] = False,
    system: Annotated[
        str | None, typer.Option("--system", help="Only jobs that ran on this system.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Part of the name or command.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Created since: 2h, 7d, or a date/time.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Created before: a date/time or age.")] = None,
    sort: Annotated[
        str, typer.Option(help="created_at, priority or name; a leading - reverses.")
    ] = "-created_at",
    limit: LimitOption = 20,
    every: AllOption = False,
    cursor: CursorOption = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """List jobs you may see, newest first."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            params: dict[str, Any] = {
                "status": job_status,
                "q": search,
                "since": common.moment(since, "--since"),
                "until": common.moment(until, "--until"),
                "sort": sort,
            }
            if mine:
                params["created_by"] = (await api.get("/auth/me"))["id"]
            if system:
                params["system_id"] = await common.system_id(api, system)
            page = await api.collect("/jobs", params, limit=limit, every=every, cursor=cursor)
        if output.json:
            output.print_json(page.items)
            return 0
        output.table(
            ["ID", "NAME", "STATUS", "DONE", "BY", "CREATED", "TOOK"],
            [
                [
                    job["id"],
                    first_line(job["name"], 40),
                    status(job["status"]),
                    _progress(job),
                    job.get("created_by_username") or "-",
                    when(job["created_at"]),
                    span(job.get("started_at"), job.get("finished_at"))
                    if job.get("started_at")
                    else "-",
                ]
                for job in page.items
            ],
            empty="no jobs match",
        )
        output.more(page.next_cursor, len(page.items), page.total)
        return 0

    common.run(main)


def _execution_info(execution: dict[str, Any]) -> str:
    if execution.get("error"):
        error = execution["error"]
        return ": ".join(p for p in (error.get("reason"), error.get("message")) if p) or str(
            error["code"]
        )
    if execution.get("waiting"):
        return str(execution["waiting"]["message"])
    if execution["output"].get("truncated"):
        return f"output truncated ({execution['output']['dropped_bytes']} bytes dropped)"
    return ""


@app.command("show")
def show_job(
    job: JobArgument,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """A job and the state of each of its systems."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            job_id = await common.job_id(api, job)
            found = await api.get(f"/jobs/{job_id}")
            page = await api.collect(f"/jobs/{job_id}/executions", {}, limit=500, every=True)
        if output.json:
            output.print_json({"job": found, "executions": page.items})
            return 0
        counts = ", ".join(
            f"{count} {state.replace('_', ' ')}"
            for state, count in found["counts"].items()
            if count
        )
        output.fields(
            [
                ("job", found["id"]),
                ("name", found["name"]),
                ("status", status(found["status"])),
                ("systems", f"{found['target_count']}: {counts}"),
                ("command", found.get("command")),
                ("script", first_line(found.get("script"), 80) or None),
                ("shell", found.get("shell") or "each system's default"),
                ("by", found.get("created_by_username")),
                ("created", when(found["created_at"])),
                ("took", span(found.get("started_at"), found.get("finished_at"))),
                ("timeout", duration(found["timeout_seconds"] * 1000)),
                ("concurrency", str(found.get("concurrency") or "unlimited")),
                ("environment", ", ".join(found.get("environment_keys", []))),
                ("rerun of", found.get("source_job_id")),
                (
                    "template",
                    f"{found['template_id']} (version {found.get('template_version')})"
                    if found.get("template_id")
                    else None,
                ),
                ("schedule", found.get("schedule_id")),
                (
                    "parameters",
                    ", ".join(
                        f"{name}={value if isinstance(value, str) else json.dumps(value)}"
                        for name, value in sorted(found["parameters"].items())
                    )
                    if found.get("parameters")
                    else None,
                ),
                (
                    "output removed",
                    when(found["output_purged_at"]) if found.get("output_purged_at") else None,
                ),
                (
                    "cancelled at",
                    when(found["cancel_requested_at"])
                    if found.get("cancel_requested_at")
                    else None,
                ),
            ]
        )
        output.line("")
        output.table(
            ["SYSTEM", "STATUS", "EXIT", "TOOK", "ATTEMPT", "INFO"],
            [
                [
                    e["system_name"],
                    status(e["status"]),
                    str(e["exit_code"]) if e.get("exit_code") is not None else "-",
                    duration(e.get("duration_ms")),
                    f"{e['attempt']}/{e['max_attempts']}",
                    _execution_info(e),
                ]
                for e in page.items
            ],
        )
        return 0

    common.run(main)


@app.command("logs")
def job_logs(
    job: JobArgument,
    system: Annotated[
        str | None, typer.Option("--system", "-s", help="Only this system's output.")
    ] = None,
    follow_output: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming until the job ends.")
    ] = False,
    stream: Annotated[str, typer.Option(help="stdout, stderr or both.")] = "both",
    prefix: Annotated[
        bool | None,
        typer.Option(
            "--prefix/--no-prefix",
            help="Prefix lines with the system's name. Default: when showing several.",
        ),
    ] = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """A job's output, system by system (or, with --follow, live as it comes, then exit as
    `orca run` does: 0 only when every system shown succeeded)."""
    output = Output(json_output)
    if stream not in {"stdout", "stderr", "both"}:
        common.fail(UsageError("--stream: stdout, stderr or both"))
    streams = frozenset({"stdout", "stderr"} if stream == "both" else {stream})

    async def main() -> int:
        async with Api.for_server(server) as api:
            job_id = await common.job_id(api, job)
            found = await api.get(f"/jobs/{job_id}")
            executions = await executions_of(api, job_id)
            chosen = executions
            if system:
                chosen = [e for e in executions if system.lower() in {e.name.lower(), e.id}]
                if not chosen:
                    raise UsageError(f"job {job_id} did not run on {system!r}")
            show_prefix = prefix if prefix is not None else len(chosen) > 1
            if follow_output:
                return await follow(
                    api,
                    output,
                    found,
                    prefix=show_prefix,
                    cancel_on_interrupt=False,
                    only=chosen[0].id if system else None,
                    streams=streams,
                    json_executions_only=True,
                )
            display = Display(output, job_id, chosen, prefix=show_prefix, streams=streams)
            for execution in sorted(chosen, key=lambda e: e.position):
                await read_stored(api, execution, display)
                flush(execution, display)
        if output.json:
            output.print_json(display.results(found)["executions"])
        return EXIT_OK

    common.run(main)


@app.command("cancel")
def cancel_job(
    job: JobArgument,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Cancel a job: what has not started never will; running commands are stopped on their
    hosts (TERM, then KILL)."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            job_id = await common.job_id(api, job)
            cancelled = await api.post(f"/jobs/{job_id}/cancel")
        if output.json:
            output.print_json(cancelled)
        else:
            running = cancelled["counts"].get("running", 0)
            output.note(
                f"Job {job_id}: cancel requested"
                + (f"; {running} running execution(s) are being stopped" if running else "")
            )
        return 0

    common.run(main)


@app.command("rerun")
def rerun_job(
    job: JobArgument,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only systems that failed, timed out or errored.")
    ] = False,
    unsuccessful: Annotated[
        bool, typer.Option("--unsuccessful", help="Every system that did not succeed.")
    ] = False,
    follow_output: Annotated[
        bool, typer.Option("--follow", "-f", help="Stream the new job as `orca run` does.")
    ] = False,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a job again as a new job, on all its systems (or only those that failed)."""
    output = Output(json_output)
    if failed and unsuccessful:
        common.fail(UsageError("--failed or --unsuccessful, not both"))
    only = "failed" if failed else "unsuccessful" if unsuccessful else "all"

    async def main() -> int:
        async with Api.for_server(server) as api:
            job_id = await common.job_id(api, job)
            again = await api.post(f"/jobs/{job_id}/rerun", {"only": only})
            if follow_output:
                output.note(f"job {again['id']} on {again['target_count']} system(s)")
                return await follow(api, output, again)
        if output.json:
            output.print_json(again)
        else:
            print(again["id"])
            output.note(f"rerun of {job_id} on {again['target_count']} system(s)")
        return 0

    common.run(main)
