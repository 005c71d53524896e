"""Enumerations stored in the database (as VARCHAR with a CHECK constraint, easy to extend)."""

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    operator = "operator"
    viewer = "viewer"
    auditor = "auditor"


class GrantLevel(StrEnum):
    view = "view"
    execute = "execute"
    manage = "manage"


class CredentialKind(StrEnum):
    ssh_password = "ssh-password"  # noqa: S105 (a kind, not a secret)
    ssh_key = "ssh-key"
    winrm_password = "winrm-password"  # noqa: S105
    winrm_certificate = "winrm-certificate"


class SystemKind(StrEnum):
    linux = "linux"
    windows = "windows"


class HealthStatus(StrEnum):
    unknown = "unknown"
    healthy = "healthy"
    unreachable = "unreachable"
    auth_failed = "auth_failed"
    host_key_mismatch = "host_key_mismatch"
    host_key_unknown = "host_key_unknown"  # no key trusted yet: scan and trust
    tls_error = "tls_error"  # its TLS certificate was refused (WinRM over HTTPS)
    error = "error"


class Shell(StrEnum):
    sh = "sh"
    bash = "bash"
    cmd = "cmd"
    powershell = "powershell"


# The shell of a job that names none, by the kind of system it runs on.
DEFAULT_SHELL = {SystemKind.linux: Shell.sh, SystemKind.windows: Shell.powershell}


class JobStatus(StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class ExecutionStatus(StrEnum):
    pending = "pending"
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    timed_out = "timed_out"
    error = "error"
    cancelled = "cancelled"


TERMINAL_EXECUTION_STATES = frozenset(
    {
        ExecutionStatus.succeeded,
        ExecutionStatus.failed,
        ExecutionStatus.timed_out,
        ExecutionStatus.error,
        ExecutionStatus.cancelled,
    }
)


class OutputStream(StrEnum):
    stdout = "stdout"
    stderr = "stderr"


class AuditOutcome(StrEnum):
    success = "success"
    failure = "failure"
    denied = "denied"


class TemplateLevel(StrEnum):
    """A team's access to a job template: launch it, or also edit it."""

    launch = "launch"
    edit = "edit"


class ParameterType(StrEnum):
    string = "string"
    integer = "integer"
    boolean = "boolean"
    choice = "choice"
    # Delivered only as an environment variable, stored encrypted, never shown or audited.
    secret = "secret"  # noqa: S105 (a type name)


class MissedRunPolicy(StrEnum):
    """What a schedule does with due times that passed while no worker could dispatch them."""

    skip = "skip"  # record them as missed, run nothing
    run_once = "run_once"  # record them as missed, but run once now for the latest


class ScheduleRunStatus(StrEnum):
    launched = "launched"
    missed = "missed"  # late beyond the grace period
    skipped = "skipped"  # the previous run was still going
    failed = "failed"  # could not launch (its owner lost access, a target is gone, ...)
