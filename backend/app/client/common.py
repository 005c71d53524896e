"""What every client command shares: its options, how it runs and fails, name lookups."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from app.client.errors import ClientError, UsageError
from app.client.http import Api

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="ORCA_SERVER",
        help="Orca server URL. Default: the one you last logged in to.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, max=500, help="Rows to show.")]
AllOption = Annotated[bool, typer.Option("--all", help="Every page, not just the first.")]
CursorOption = Annotated[
    str | None, typer.Option("--cursor", help="Continue after a previous page.")
]


def run(main: Callable[[], Coroutine[Any, Any, int | None]]) -> None:
    """Run an async command body; a ClientError becomes `error: ...` on stderr and its exit
    code, never a traceback."""
    try:
        code = asyncio.run(main())
    except ClientError as exc:
        fail(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
    except BrokenPipeError:
        # The reader went away (`orca jobs logs ID | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    raise typer.Exit(code or 0)


def fail(exc: ClientError) -> None:
    print(f"error: {exc.message}", file=sys.stderr)
    for line in exc.details:
        if exc.details == [line] and line.partition(": ")[0] in exc.message:
            break  # the message already names the one field at fault
        print(f"  {line}", file=sys.stderr)
    raise typer.Exit(exc.exit_code)


# Lookups by name ------------------------------------------------------------------------------


def as_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


async def _by_name(api: Api, path: str, what: str, name: str) -> dict[str, Any]:
    page = await api.page(path, {"q": name, "limit": 500}, None)
    for item in page.items:
        if str(item.get("name", "")).lower() == name.lower():
            return item
    raise UsageError(f"no {what} named {name!r}, or none you may see")


async def system(api: Api, ref: str) -> dict[str, Any]:
    """A system by id or name (names are unique, compared without case)."""
    if (found := as_uuid(ref)) is not None:
        return dict(await api.get(f"/systems/{found}"))
    return await _by_name(api, "/systems", "system", ref)


async def system_id(api: Api, ref: str) -> str:
    if (found := as_uuid(ref)) is not None:
        return found
    return str((await system(api, ref))["id"])


async def group_id(api: Api, ref: str) -> str:
    if (found := as_uuid(ref)) is not None:
        return found
    return str((await _by_name(api, "/groups", "group", ref))["id"])


async def credential_id(api: Api, ref: str) -> str:
    if (found := as_uuid(ref)) is not None:
        return found
    return str((await _by_name(api, "/credentials", "credential", ref))["id"])


async def template(api: Api, ref: str) -> dict[str, Any]:
    """A job template by id or name (names are unique, compared without case)."""
    if (found := as_uuid(ref)) is not None:
        return dict(await api.get(f"/templates/{found}"))
    return await _by_name(api, "/templates", "template", ref)


async def schedule(api: Api, ref: str) -> dict[str, Any]:
    """A schedule by id or name (names are unique, compared without case)."""
    if (found := as_uuid(ref)) is not None:
        return dict(await api.get(f"/schedules/{found}"))
    return await _by_name(api, "/schedules", "schedule", ref)


async def job_id(api: Api, ref: str) -> str:
    """A job id, or `last`: the latest job you submitted."""
    if (found := as_uuid(ref)) is not None:
        return found
    if ref == "last":
        me = await api.get("/auth/me")
        page = await api.page("/jobs", {"created_by": me["id"], "limit": 1}, None)
        if not page.items:
            raise UsageError("you have submitted no job yet")
        return str(page.items[0]["id"])
    raise UsageError(f"{ref!r} is not a job id (a UUID, or `last` for your latest job)")


# Values ---------------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def moment(text: str | None, option: str) -> str | None:
    """`--since 2h`, `30m`, `7d`, or a date or time (ISO 8601; local time when it names no
    zone) → an ISO 8601 instant with its zone, as the API wants."""
    if text is None:
        return None
    value = text.strip()
    if match := _RELATIVE.match(value):
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (datetime.now(UTC) - delta).isoformat()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is neither a time (2026-01-31T12:00) nor an age (30m, 2h, 7d)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # as the local time it reads as
    return parsed.isoformat()


def pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """`key=value` options into a dict (later keys win)."""
    result: dict[str, str] = {}
    for each in values or []:
        key, sep, value = each.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option}: {each!r} is not key=value")
        result[key.strip()] = value
    return result


_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)?$")
_SECONDS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str, option: str) -> int:
    """`90`, `90s`, `15m`, `2h` → seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise UsageError(f"{option}: {text!r} is not a duration (90, 90s, 15m, 2h)")
    return int(match.group(1)) * _SECONDS[match.group(2)]
