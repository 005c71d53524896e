"""Template parameter values from the command line: `-p name=value`, typed by the template's
definition, and secrets read from standard input or a prompt that does not echo.

The client only types what it can read unambiguously (`-p count=5` → 5, `-p dry=true` → true);
anything else goes to the server as text, whose 400 names the parameter and says what is wrong,
so the rules live in one place.
"""

from __future__ import annotations

import getpass
import re
import sys
from typing import Annotated, Any

import typer

from app.client import common
from app.client.errors import Interrupted, UsageError
from app.client.render import Output

ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="NAME=VALUE for a parameter; repeatable. Integers and true/false are typed as "
        "the template defines them.",
    ),
]
SecretStdinOption = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-stdin",
        help="Read this secret parameter from standard input instead of the command line "
        "(one: all of it, less a final newline; several: a line each, in order).",
    ),
]

_INTEGER = re.compile(r"-?\d{1,18}")


def typed(parameter: dict[str, Any] | None, text: str) -> Any:
    """`text` as the parameter's type where it reads as one; otherwise as it is, for the server
    to refuse naming the parameter (or a parameter the template lacks)."""
    kind = (parameter or {}).get("type", "string")
    if kind == "integer" and _INTEGER.fullmatch(text.strip()):
        return int(text.strip())
    if kind == "boolean" and text.strip().lower() in {"true", "false"}:
        return text.strip().lower() == "true"
    return text


def values(
    template: dict[str, Any],
    given: list[str] | None,
    secret_stdin: list[str] | None,
    output: Output,
    *,
    prompt: bool = True,
) -> dict[str, Any]:
    """The parameter values for a launch or a schedule of `template`. Secrets named by
    --secret-stdin come from standard input; a required secret still without a value is asked
    for on the terminal, without echo, when there is one."""
    definitions = {str(each["name"]): each for each in template.get("parameters", [])}
    result: dict[str, Any] = {}
    for name, text in common.pairs(given, "-p").items():
        parameter = definitions.get(name)
        if parameter is not None and parameter.get("type") == "secret":
            output.warn(
                f"the secret {name} was given on the command line, where other users of this "
                f"machine may see it (ps, shell history); --secret-stdin {name} or the prompt "
                "keep it off"
            )
        result[name] = typed(parameter, text)
    for name in secret_stdin or []:
        if name in result:
            raise UsageError(f"--secret-stdin {name}: {name} is also given with -p")
    result.update(_from_stdin(secret_stdin or []))
    if prompt and sys.stdin.isatty():
        for name, parameter in definitions.items():
            missing = name not in result and parameter.get("default") is None
            if parameter.get("type") == "secret" and parameter.get("required") and missing:
                result[name] = _ask(name, parameter)
    return result


def _from_stdin(names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    if len(set(names)) != len(names):
        raise UsageError("--secret-stdin: each parameter once")
    if len(names) == 1:
        text = sys.stdin.read()
        return {names[0]: text.removesuffix("\n").removesuffix("\r")}
    lines = sys.stdin.read().splitlines()
    if len(lines) < len(names):
        raise UsageError(
            f"--secret-stdin: {len(names)} secrets named, {len(lines)} line(s) on standard input"
        )
    return dict(zip(names, lines, strict=False))


def _ask(name: str, parameter: dict[str, Any]) -> str:
    label = parameter.get("label") or name
    try:
        return getpass.getpass(f"{label} (secret {name}): ")
    except (EOFError, KeyboardInterrupt):
        raise Interrupted("interrupted") from None


def shown(parameter: dict[str, Any]) -> str:
    """A parameter's constraints, in a few words."""
    parts = []
    if parameter.get("choices"):
        parts.append("one of " + ", ".join(parameter["choices"]))
    low, high = parameter.get("minimum"), parameter.get("maximum")
    if low is not None or high is not None:
        parts.append(
            f"{low}..{high}" if low is not None and high is not None
            else f">= {low}" if low is not None
            else f"<= {high}"
        )  # fmt: skip
    shortest, longest = parameter.get("min_length"), parameter.get("max_length")
    if shortest is not None and longest is not None:
        parts.append(f"{shortest}..{longest} characters")
    elif shortest is not None:
        parts.append(f"at least {shortest} characters")
    elif longest is not None:
        parts.append(f"at most {longest} characters")
    if parameter.get("pattern"):
        parts.append(f"matches {parameter['pattern']}")
    return "; ".join(parts)
