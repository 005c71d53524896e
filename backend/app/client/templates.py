"""`orca templates`: list, show, create, delete and launch job templates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from app.client import common, parameters
from app.client.common import AllOption, CursorOption, JsonOption, LimitOption, ServerOption
from app.client.errors import UsageError
from app.client.http import Api, new_idempotency_key
from app.client.parameters import ParamOption, SecretStdinOption
from app.client.render import Output, duration, first_line, when
from app.client.run import follow

app = typer.Typer(
    help="Job templates: saved jobs with typed parameters; launch them.", no_args_is_help=True
)

TemplateArgument = Annotated[str, typer.Argument(help="Template name or id.")]


def targets_text(targets: dict[str, Any]) -> str:
    """Targets as `orca run -t` writes them."""
    parts = [f"system:{name}" for name in targets.get("systems", [])]
    parts += [f"group:{name}" for name in targets.get("groups", [])]
    parts += [
        "label:" + ",".join(f"{k}={v}" for k, v in selector.items())
        for selector in targets.get("labels", [])
    ]
    return " ".join(parts) or "-"


def _rights(template: dict[str, Any]) -> str:
    rights = [r for r in ("launch", "edit") if template.get(f"can_{r}")]
    return ",".join(rights) or "view"


@app.command("ls")
def list_templates(
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Part of the name or description.")
    ] = None,
    sort: Annotated[str, typer.Option(help="name or created_at; a leading - reverses.")] = "name",
    limit: LimitOption = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the templates you may see."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            page = await api.collect(
                "/templates", {"q": search, "sort": sort}, limit=limit, every=every, cursor=cursor
            )
        if output.json:
            output.print_json(page.items)
            return 0
        output.table(
            ["NAME", "RUNS", "TARGETS", "PARAMETERS", "VERSION", "BY", "YOU MAY"],
            [
                [
                    template["name"],
                    first_line(template.get("command") or template.get("script"), 40),
                    targets_text(template["targets"]),
                    ",".join(p["name"] for p in template["parameters"]) or "-",
                    str(template["version"]),
                    template.get("created_by_username") or "-",
                    _rights(template),
                ]
                for template in page.items
            ],
            empty="no templates match",
        )
        output.more(page.next_cursor, len(page.items), page.total)
        return 0

    common.run(main)


@app.command("show")
def show_template(
    name: TemplateArgument,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """One template in full: what it runs, where, its parameters and who may use it."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            template = await common.template(api, name)
        if output.json:
            output.print_json(template)
            return 0
        threshold = template.get("failure_threshold") or {}
        retries = template.get("retries") or {}
        output.fields(
            [
                ("name", template["name"]),
                ("id", template["id"]),
                ("description", template.get("description")),
                ("command", template.get("command")),
                ("script", template.get("script")),
                ("shell", template.get("shell") or "each system's default"),
                ("targets", targets_text(template["targets"])),
                ("timeout", duration(template["timeout_seconds"] * 1000)),
                ("priority", str(template["priority"])),
                ("concurrency", str(template.get("concurrency") or "unlimited")),
                (
                    "failure threshold",
                    f"{threshold['count']}"
                    if threshold.get("count") is not None
                    else f"{threshold['percent']}%"
                    if threshold.get("percent") is not None
                    else None,
                ),
                ("retries", str(retries["attempts"]) if retries else None),
                ("environment", ", ".join(template.get("environment_keys", []))),
                ("workdir", template.get("working_directory")),
                ("version", str(template["version"])),
                ("by", template.get("created_by_username")),
                ("created", when(template["created_at"])),
                ("updated", when(template["updated_at"])),
                (
                    "access",
                    ", ".join(f"{a['team_name']} ({a['level']})" for a in template["access"])
                    or "its author and admins",
                ),
                ("you may", _rights(template)),
            ]
        )
        if template["parameters"]:
            output.line("")
            output.table(
                ["PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "CONSTRAINTS", "DESCRIPTION"],
                [
                    [
                        p["name"],
                        p["type"],
                        "yes" if p.get("required") else "no",
                        "-" if p.get("default") is None else json.dumps(p["default"]),
                        parameters.shown(p) or "-",
                        first_line(p.get("description") or p.get("label"), 50) or "-",
                    ]
                    for p in template["parameters"]
                ],
            )
        return 0

    common.run(main)


@app.command("launch")
def launch_template(
    name: TemplateArgument,
    param: ParamOption = None,
    secret_stdin: SecretStdinOption = None,
    job_name: Annotated[
        str | None, typer.Option("--name", help="The job's name. Default: the template's.")
    ] = None,
    follow_job: Annotated[
        bool,
        typer.Option(
            "--follow/--detach",
            "-f/-d",
            help="Stream the job as `orca run` does (default), or print its id and return.",
        ),
    ] = True,
    show_output: Annotated[
        bool, typer.Option("--output/--no-output", help="Stream the output (or only states).")
    ] = True,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Launch a template as a job of yours, and stream it as `orca run` does.

    Exit 0 when every system succeeded, 1 when any failed, timed out, errored or
    was cancelled; 2 when a value is refused (the message names the parameter).
    A required secret left out is asked for on a terminal, without echo.

    \b
    orca templates launch restart-app -p service=nginx -p drain=true
    orca templates launch deploy -p version=1.4.2 --secret-stdin token < token.txt
    """
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            template = await common.template(api, name)
            body: dict[str, Any] = {
                "parameters": parameters.values(template, param, secret_stdin, output)
            }
            if job_name:
                body["name"] = job_name
            job = await api.post(
                f"/templates/{template['id']}/launch",
                body,
                headers={"Idempotency-Key": new_idempotency_key()},
                retry_transport=True,
            )
            if not follow_job:
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
                    (f" from {template['name']} v{job.get('template_version')}", "dim"),
                )
            )
            return await follow(api, output, job, show_output=show_output)

    common.run(main)


def read_document(file: str, what: str) -> Any:
    """A JSON (or, with PyYAML installed, YAML) document from a file or `-` (stdin)."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {file}: it is not UTF-8 text") from None
    if Path(file).suffix.lower() in {".yaml", ".yml"}:
        try:
            import yaml  # type: ignore[import-untyped]  # optional: only for .yaml files
        except ImportError:
            raise UsageError(
                f"{file}: reading YAML needs PyYAML (pip install pyyaml); or give JSON"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{file} is not YAML: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{file} is not JSON ({exc}): {what}") from None


@app.command("create")
def create_template(
    file: Annotated[
        str,
        typer.Option(
            "--file",
            "-f",
            help="The template as POST /api/v1/templates takes it: JSON (YAML with PyYAML), "
            "or - for standard input.",
        ),
    ],
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Save a template (admins and operators; you need `execute` on every system it targets).

    \b
    {"name": "restart-app", "command": "systemctl restart {{ service }}",
     "shell": "sh", "targets": {"groups": ["web"]},
     "parameters": [{"name": "service", "type": "choice",
                     "choices": ["nginx", "app"]}]}
    """
    output = Output(json_output)

    async def main() -> int:
        document = read_document(file, "a template object")
        if not isinstance(document, dict):
            raise UsageError(f"{file}: a template is an object, not {type(document).__name__}")
        async with Api.for_server(server) as api:
            template = await api.post("/templates", document)
        if output.json:
            output.print_json(template)
        else:
            output.note(f"Created template {template['name']} ({template['id']}).")
        return 0

    common.run(main)


@app.command("delete")
def delete_template(
    name: TemplateArgument,
    server: ServerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete a template (refused while a schedule uses it). Jobs launched from it stay."""
    output = Output(json_output)

    async def main() -> int:
        async with Api.for_server(server) as api:
            template = await common.template(api, name)
            deleted = await api.delete(f"/templates/{template['id']}")
        if output.json:
            output.print_json({**deleted, "id": template["id"], "name": template["name"]})
        else:
            output.note(f"Deleted template {template['name']} ({template['id']}).")
        return 0

    common.run(main)
