"""What can go wrong in the client, each with the exit code it ends the command with.

Exit codes (documented in the README, "Exit codes"):
    0  done; for `orca run` and `jobs logs --follow`, every execution succeeded
    1  the command worked but the outcome is a failure: an execution failed, timed out, errored
       or was cancelled; a connection test failed; the audit chain is broken
    2  a usage error, or the server refused the request (invalid value, not found, forbidden,
       conflict, rate limited)
    3  not logged in, or the session expired or was revoked: run `orca login`
    4  the server could not be reached or used: connection refused, DNS, timeout, TLS, or the
       server answered 5xx (unavailable)
    130 interrupted (Ctrl-C), or detached from a job that goes on without us
    141 whatever read stdout went away (`| head`), as with SIGPIPE
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130


class ClientError(Exception):
    """One line for the user (and maybe a few detail lines), and the exit code."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class UsageError(ClientError):
    exit_code = EXIT_USAGE


class AuthRequired(ClientError):
    """No login for this server, or its session ended (expired, revoked, logged out)."""

    exit_code = EXIT_AUTH


class Unreachable(ClientError):
    """The server could not be reached or did not answer usefully."""

    exit_code = EXIT_UNREACHABLE


class Failed(ClientError):
    """The command did its job and the answer is "no" (a failed execution, a broken chain)."""

    exit_code = EXIT_FAILED


class Interrupted(ClientError):
    exit_code = EXIT_INTERRUPTED


class ApiError(ClientError):
    """The server answered with an error body `{"error": {"code", "message", "details"}}`."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, *, exit_code: int
    ) -> None:
        super().__init__(message, details=describe_details(details))
        self.status = status
        self.code = code
        self.raw_details = details
        self.exit_code = exit_code


def describe_details(details: Any) -> list[str]:
    """One line per offending field (validation errors) or row (imports), as the API lists
    them; anything else is left out rather than dumped."""
    if not isinstance(details, list):
        return []
    lines = []
    for item in details:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "")).strip().removeprefix("Value error, ")
        where = []
        if item.get("row") is not None:
            where.append(f"row {item['row']}")
        if item.get("field"):
            where.append(str(item["field"]))
        if where or message:
            lines.append(f"{', '.join(where)}: {message}" if where else message)
    return lines
