"""The `orca` command's client half: it talks to an Orca server over its API, as a user.

`orca login` keeps a session per server (config.py); every other client command sends its
requests through one `Api` (http.py), which refreshes the session when its access token
expires. `orca run`, `orca jobs logs --follow` and `orca templates launch` stream over the
WebSocket (stream.py, run.py).
Exit codes are listed in errors.py. Nothing here touches the database: the server decides.
"""

from __future__ import annotations

import typer


def register(cli: typer.Typer, *, retention: typer.Typer | None = None) -> None:
    """Add the client commands to the `orca` command (and `report` to its `retention`
    group, whose own callback is the server-side database command)."""
    from app.client import audit, auth, jobs, run, schedules, systems, templates
    from app.client import retention as retention_client

    cli.command("login")(auth.login)
    cli.command("logout")(auth.logout)
    cli.command("whoami")(auth.whoami)
    cli.command(
        "run",
        context_settings={"allow_interspersed_args": False},
        no_args_is_help=True,
    )(run.run_command)
    cli.add_typer(systems.app, name="systems")
    cli.add_typer(jobs.app, name="jobs")
    cli.add_typer(audit.app, name="audit")
    cli.add_typer(templates.app, name="templates")
    cli.add_typer(schedules.app, name="schedules")
    if retention is not None:
        retention.command("report")(retention_client.report)
