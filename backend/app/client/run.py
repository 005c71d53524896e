"""`orca run`: submit a job and stream every system's output live, prefixed with its name.

Output lines go to stdout; the progress bar, notices and the summary to stderr. On a terminal
the bar is drawn by rich and every output line is printed above it (both streams drive the
one live display, so a line never lands inside the bar). Ctrl-C cancels the job and waits for
its executions to stop; a second Ctrl-C stops waiting. The exit code is 0 only when every
execution succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from app.client import common
from app.client.common import JsonOption, ServerOption
from app.client.errors import EXIT_FAILED, EXIT_OK, ClientError, Failed, Interrupted, UsageError
from app.client.http import Api, new_idempotency_key
from app.client.render import (
    STATUS_STYLES,
    LinePrinter,
    Output,
    duration,
    first_line,
    parse_time,
)
from app.client.stream import FAILED, STATES, TERMINAL, Execution, Follower, executions_of


class Display:
    """Where a followed job's lines and states go: the terminal (lines, a progress bar, a
    summary) or, with --json, memory (one document at the end)."""

    def __init__(
        self,
        output: Output,
        title: str,
        executions: list[Execution],
        *,
        prefix: bool = True,
        streams: frozenset[str] = frozenset({"stdout", "stderr"}),
        progress: bool = True,
    ) -> None:
        self.output = output
        self.executions = executions
        self.streams = streams
        self.printer = LinePrinter(output.out, [e.name for e in executions], prefix=prefix)
        self.collected: dict[str, dict[str, list[str]]] = {}
        self.dropped: set[str] = set()
        self.progress: Progress | None = None
        self._hooked = False
        self._ticker: asyncio.Task[None] | None = None
        if progress and not output.json and output.err.is_terminal:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[states]}"),
                TimeElapsedColumn(),
                console=output.err,
                transient=True,
                auto_refresh=False,  # refreshed from the event loop: no thread races a line
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.task = self.progress.add_task(title, total=len(executions), states="")

    # Lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.progress is None:
            return
        self.progress.start()
        if self.output.out.is_terminal and _same_terminal():
            # Lines printed on stdout clear the bar first and draw it again after themselves.
            self.output.out.push_render_hook(self.progress.live)
            self._hooked = True
        self._update()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self.progress is None:
            return
        if self._hooked:
            self.output.out.pop_render_hook()
            self._hooked = False
        self.progress.stop()
        self.progress = None

    async def _tick(self) -> None:
        while self.progress is not None:
            self.progress.refresh()
            await asyncio.sleep(0.2)

    # The sink -----------------------------------------------------------------------------

    def line(self, execution: Execution, stream: str, text: str, newline: bool) -> None:
        if stream not in self.streams:
            return
        if self.output.json:
            kept = self.collected.setdefault(execution.id, {"stdout": [], "stderr": []})
            kept[stream].append(text + "\n" if newline else text)
            return
        self.printer.print(execution.name, execution.position, stream, text.removesuffix("\r"))

    def gap(self, execution: Execution, first: int, last: int) -> None:
        self.dropped.add(execution.id)
        if not self.output.json:
            count = last - first + 1
            self.printer.print(
                execution.name,
                execution.position,
                "stderr",
                f"[{count} output chunk(s) dropped here: past the execution's output cap]",
            )

    def changed(self, execution: Execution) -> None:
        self._update()

    def job(self, event: dict[str, Any]) -> None:
        pass

    def notice(self, message: str) -> None:
        if not self.output.json:
            self.output.err.print(Text(message, style="yellow"), soft_wrap=True)

    def _update(self) -> None:
        if self.progress is None:
            return
        counts = _counts(self.executions)
        done = sum(counts[state] for state in TERMINAL)
        parts = []
        for state in ("running", "succeeded", "failed", "timed_out", "error", "cancelled"):
            if counts[state]:
                style = STATUS_STYLES.get(state, "")
                parts.append(f"[{style}]{counts[state]} {state.replace('_', ' ')}[/]")
        self.progress.update(self.task, completed=done, states=" · ".join(parts))

    # The end ------------------------------------------------------------------------------

    def results(self, job: dict[str, Any]) -> dict[str, Any]:
        """The --json document: the job and, per execution, its outcome and output."""
        return {
            "job": job,
            "executions": [
                {
                    "id": e.id,
                    "system": e.name,
                    "status": e.status,
                    "exit_code": e.exit_code,
                    "signal": e.signal,
                    "error": {
                        "code": e.error_code,
                        "reason": e.error_reason,
                        "message": e.error_message,
                    }
                    if e.error_code
                    else None,
                    "started_at": e.started_at,
                    "finished_at": e.finished_at,
                    **{
                        stream: "".join(self.collected.get(e.id, {}).get(stream, []))
                        for stream in sorted(self.streams)
                    },
                    "output_dropped": e.id in self.dropped,
                }
                for e in sorted(self.executions, key=lambda e: e.position)
            ],
        }

    def summary(self, job: dict[str, Any]) -> None:
        """Per state, how many; then each system that did not succeed, and why."""
        err = self.output.err
        counts = _counts(self.executions)
        took = ""
        start, end = parse_time(job.get("started_at")), parse_time(job.get("finished_at"))
        if start and end:
            took = f" in {duration((end - start).total_seconds() * 1000)}"
        line = Text.assemble(
            ("job ", "bold"),
            (str(job["id"]), "bold"),
            " ",
            (str(job["status"]), STATUS_STYLES.get(str(job["status"]), "")),
            f"{took}: ",
        )
        line.append(
            ", ".join(
                f"{counts[state]} {state.replace('_', ' ')}" for state in STATES if counts[state]
            )
            or "no executions"
        )
        err.print(line, soft_wrap=True)
        bad = sorted((e for e in self.executions if e.status != "succeeded"), key=_order)
        for execution in bad[:50]:
            err.print(
                Text.assemble(
                    "  ",
                    (execution.name.ljust(self.printer.width), "bold"),
                    "  ",
                    (execution.status, STATUS_STYLES.get(execution.status, "")),
                    "  ",
                    execution.reason() if execution.status != "cancelled" else "",
                ),
                soft_wrap=True,
            )
        if len(bad) > 50:
            err.print(f"  … and {len(bad) - 50} more: orca jobs show {job['id']}")


WAIT_NOTICE_SECONDS = 3.0


def _order(execution: Execution) -> tuple[int, int]:
    return (0 if execution.status in FAILED - {"cancelled"} else 1, execution.position)


def _counts(executions: list[Execution]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for execution in executions:
        counts[execution.status] = counts.get(execution.status, 0) + 1
    return counts


def _same_terminal() -> bool:
    """Whether stdout and stderr are the same terminal (so one live display spans both)."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (out.st_rdev, out.st_ino) == (err.st_rdev, err.st_ino)


async def follow(
    api: Api,
    output: Output,
    job: dict[str, Any],
    *,
    show_output: bool = True,
    prefix: bool = True,
    cancel_on_interrupt: bool = True,
    only: str | None = None,
    streams: frozenset[str] = frozenset({"stdout", "stderr"}),
    json_executions_only: bool = False,
) -> int:
    """Stream a job until it has ended, then summarize it; the exit code (0: all succeeded).
    With --json, one document: the job and its executions (or only the executions).

    Ctrl-C cancels the job (with `cancel_on_interrupt`), and waits for it to stop; a second
    Ctrl-C (the first, without `cancel_on_interrupt`) stops following at once."""
    job_id = str(job["id"])
    executions = await executions_of(api, job_id)
    selected = next((e for e in executions if e.id == only), None) if only else None
    shown = [selected] if selected is not None else executions
    title = first_line(str(job.get("name") or job_id), 32)
    display = Display(output, title, shown, prefix=prefix, streams=streams)
    follower = Follower(api, job_id, executions, display, output=show_output, only=selected)
    following = asyncio.ensure_future(follower.run())
    interrupts = 0
    detached = False
    pending: set[asyncio.Task[None]] = set()

    async def explain_wait() -> None:
        """Nothing started after a while: say why (no worker, limits), once."""
        await asyncio.sleep(WAIT_NOTICE_SECONDS)
        if any(e.status not in {"pending", "queued"} for e in shown):
            return
        try:
            page = await api.page(
                f"/jobs/{job_id}/executions", {"status": ["pending", "queued"], "limit": 1}, None
            )
        except ClientError:
            return
        waiting = page.items[0].get("waiting") if page.items else None
        if waiting:
            display.notice(f"nothing has started yet: {waiting['message']}")

    async def cancel() -> None:
        try:
            await api.post(f"/jobs/{job_id}/cancel")
        except ClientError as exc:
            display.notice(f"could not cancel the job: {exc.message}")

    def interrupted() -> None:
        nonlocal interrupts, detached
        interrupts += 1
        if interrupts == 1 and cancel_on_interrupt:
            display.notice(
                f"Ctrl-C: cancelling job {job_id}, waiting for its executions to stop "
                "(Ctrl-C again to stop waiting)"
            )
            task = asyncio.get_running_loop().create_task(cancel())
            pending.add(task)
            task.add_done_callback(pending.discard)
        else:
            detached = True
            following.cancel()

    loop = asyncio.get_running_loop()
    handled = False
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
        loop.add_signal_handler(signal.SIGINT, interrupted)
        handled = True
    display.start()
    explaining = asyncio.ensure_future(explain_wait())
    try:
        await following
    except asyncio.CancelledError:
        if not detached:
            raise
    finally:
        explaining.cancel()
        display.stop()
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
    if detached:
        if pending:
            # A second Ctrl-C right after the first must not lose the first one's cancel
            # (asyncio.run would cancel the request on the way out); a third one leaves now.
            await asyncio.wait(pending, timeout=10)
        state = "is stopping" if cancel_on_interrupt and interrupts > 1 else "goes on"
        raise Interrupted(f"stopped following job {job_id}; it {state} on the server")
    final = dict(await api.get(f"/jobs/{job_id}"))
    if output.json:
        results = display.results(final)
        output.print_json(results["executions"] if json_executions_only else results)
    else:
        display.summary(final)
    return EXIT_OK if all(e.status == "succeeded" for e in shown) else EXIT_FAILED


# The command ----------------------------------------------------------------------------------


def parse_targets(values: list[str]) -> dict[str, list[Any]]:
    """`-t group:web`, `-t label:os=linux,env=prod` (a system must have every label of one
    selector), `-t system:web-1` or `-t web-1`; several -t are a union."""
    targets: dict[str, list[Any]] = {"systems": [], "groups": [], "labels": []}
    for value in values:
        kind, sep, rest = value.partition(":")
        if sep and kind == "group":
            targets["groups"].append(_named(rest, value))
        elif sep and kind == "label":
            selector = {}
            for part in rest.split(","):
                key, eq, label = part.partition("=")
                if not eq or not key.strip():
                    raise UsageError(f"-t {value}: a label selector is label:key=value[,k=v]")
                selector[key.strip()] = label.strip()
            targets["labels"].append(selector)
        elif sep and kind == "system":
            targets["systems"].append(_named(rest, value))
        else:
            targets["systems"].append(_named(value, value))
    if not any(targets.values()):
        raise UsageError("name at least one target: -t group:NAME, -t label:K=V or -t SYSTEM")
    return targets


def _named(name: str, given: str) -> str:
    if not name.strip():
        raise UsageError(f"-t {given}: the name is empty")
    return name.strip()


def _threshold(text: str) -> dict[str, int]:
    value = text.strip()
    try:
        if value.endswith("%"):
            return {"percent": int(value[:-1])}
        return {"count": int(value)}
    except ValueError:
        raise UsageError(
            f"--failure-threshold: {text!r} is a count (3) or a percentage (10%)"
        ) from None


def run_command(
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="The command, after --. Its words are joined with spaces, as ssh does.",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="group:NAME, label:KEY=VALUE[,KEY=VALUE], system:NAME or NAME; repeatable.",
        ),
    ] = None,
    script: Annotated[
        str | None, typer.Option("--script", "-s", help="Run this script file (- : stdin).")
    ] = None,
    shell: Annotated[
        str | None,
        typer.Option(help="sh, bash, cmd or powershell. Default: each system's own."),
    ] = None,
    timeout: Annotated[
        str, typer.Option(help="Per system: 90, 90s, 15m, 2h (at most 24h).")
    ] = "1h",
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="Most systems at once.")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="KEY=VALUE for the command (stored encrypted)."),
    ] = None,
    workdir: Annotated[
        str | None, typer.Option("--workdir", "-w", help="Directory to start in.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Job name. Default: the command.")] = None,
    priority: Annotated[int, typer.Option(min=1, max=10, help="1-10; higher runs first.")] = 5,
    failure_threshold: Annotated[
        str | None,
        typer.Option(help="Start no more systems after this many failures: 3, or 10%."),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(help="Tries per unreachable system (never a command that started)."),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Print the job id and return at once.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show which systems would run it; run nothing.")
    ] = False,
    show_output: Annotated[
        bool, typer.Option("--output/--no-output", help="Stream the output (or only states).")
    ] = True,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a command or script on many systems and stream their output live.

    Each output line is prefixed with its system's name (stdout `|`, stderr `!`).
    Exit 0 when every system succeeded, 1 when any failed, timed out, errored or
    was cancelled. Ctrl-C cancels the job; a second Ctrl-C stops waiting.

    \b
    orca run -t group:web -t label:os=linux -- uptime
    orca run -t db-1 -t db-2 --script migrate.sh --timeout 30m --concurrency 1
    orca run -t label:env=prod --dry-run -- systemctl restart nginx
    """
    output = Output(json_output)

    async def main() -> int:
        targets = parse_targets(target or [])
        if dry_run:
            async with Api.for_server(server) as api:
                return await _preview(api, output, targets)
        body = _job_body(
            command=command,
            script=script,
            targets=targets,
            shell=shell,
            timeout=timeout,
            concurrency=concurrency,
            env=env,
            workdir=workdir,
            name=name,
            priority=priority,
            failure_threshold=failure_threshold,
            retries=retries,
        )
        async with Api.for_server(server) as api:
            job = await api.post(
                "/jobs",
                body,
                headers={"Idempotency-Key": new_idempotency_key()},
                retry_transport=True,
            )
            if detach:
                if output.json:
                    output.print_json(job)
                else:
                    print(job["id"])
                return 0
            output.note(
                Text.assemble(
                    ("job ", "dim"),
                    (str(job["id"]), "bold"),
                    (f" on {job['target_count']} system(s)", "dim"),
                )
            )
            return await follow(api, output, job, show_output=show_output)

    common.run(main)


def _job_body(
    *,
    command: list[str] | None,
    script: str | None,
    targets: dict[str, list[Any]],
    shell: str | None,
    timeout: str,
    concurrency: int | None,
    env: list[str] | None,
    workdir: str | None,
    name: str | None,
    priority: int,
    failure_threshold: str | None,
    retries: int | None,
) -> dict[str, Any]:
    if command and script:
        raise UsageError("give a command after -- or --script FILE, not both")
    body: dict[str, Any] = {
        "targets": targets,
        "timeout_seconds": common.seconds(timeout, "--timeout"),
        "priority": priority,
        "environment": common.pairs(env, "--env"),
    }
    if command:
        body["command"] = " ".join(command)
    elif script:
        try:
            text = sys.stdin.read() if script == "-" else Path(script).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--script: cannot read {script}: {exc}") from None
        body["script"] = text
        body["name"] = name or (Path(script).name if script != "-" else None)
    else:
        raise UsageError("give a command after -- (orca run -t web-1 -- uptime) or --script")
    for field, value in (
        ("shell", shell),
        ("concurrency", concurrency),
        ("working_directory", workdir),
    ):
        if value is not None:
            body[field] = value
    if name:
        body["name"] = name
    if body.get("name") is None:
        body.pop("name", None)
    if failure_threshold:
        body["failure_threshold"] = _threshold(failure_threshold)
    if retries is not None and retries > 1:
        body["retries"] = {"attempts": retries}
    return body


async def _preview(api: Api, output: Output, targets: dict[str, list[Any]]) -> int:
    preview = await api.post("/jobs/targets/preview", targets)
    if output.json:
        output.print_json(preview)
    else:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(preview["kinds"].items()))
        output.note(f"{preview['count']} system(s) match ({kinds or 'none'}):")
        output.table(
            ["SYSTEM", "KIND", "CONNECTOR", "HEALTH"],
            [
                [s["name"], s["kind"], s["connector"], Text(s["health_status"])]
                for s in preview["systems"]
            ],
            empty="no system matches",
        )
        if preview["count"] > len(preview["systems"]):
            output.note(f"… and {preview['count'] - len(preview['systems'])} more")
    if preview["beyond_reach_count"]:
        raise Failed(
            f"the job would be refused: {preview['beyond_reach_count']} system(s) beyond your "
            f"reach ({', '.join(preview['beyond_reach'][:10])})"
        )
    if not preview["count"]:
        raise Failed("no system matches these targets")
    return 0
