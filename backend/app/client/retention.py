"""`orca retention report`: the server's retention policy and what it would remove now
(admins and auditors). `orca retention [--dry-run]` itself is the server-side command that
works on the database (app/cli.py); this one asks a server, as a user."""

from __future__ import annotations

from app.client import common
from app.client.common import JsonOption, ServerOption
from app.client.http import Api
from app.client.render import Output, when


def size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def report(server: ServerOption = None, json_output: JsonOption = False) -> None:
    """Ask the server what retention would remove if it ran now; nothing is changed."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            found = await api.get("/retention")
        if output.json:
            output.print_json(found)
            return 0
        output_rule = (
            f"{found['output_days']} days (finished before {when(found['output_before'])})"
            if found.get("output_before")
            else "kept with its job"
        )
        jobs_rule = (
            f"{found['jobs_days']} days (finished before {when(found['jobs_before'])})"
            if found.get("jobs_before")
            else "kept for ever"
        )
        output.fields(
            [
                ("output", output_rule),
                ("jobs", jobs_rule),
                ("audit log", found["audit_log"]),
                (
                    "would remove",
                    f"the output of {found['executions_output_removed']} execution(s) "
                    f"({size(found['output_bytes_removed'])})\n"
                    f"{found['jobs_removed']} job(s) with {found['executions_removed']} "
                    f"execution(s)\n{found['schedule_runs_removed']} schedule run record(s)",
                ),
                ("oldest finished job", when(found.get("oldest_job_finished_at"))),
            ]
        )
        return 0

    common.run(main)
