"""Who may do what: the one table from global roles to permissions, and grant levels.

Two layers decide every request. The role says which kinds of action a user may take at all
(`ROLE_PERMISSIONS`, checked by the route's gate). Object grants say where: a team's grant on a
system group gives its members `view`, `execute` or `manage` on the systems in that group, and
the services check that level object by object (`services/access.py`). An operator needs both
the `jobs:run` permission and `execute` on every target.
"""

from __future__ import annotations

from enum import StrEnum

from app.models.enums import GrantLevel, Role


class Permission(StrEnum):
    # Every signed-in user, on their own account and sessions.
    account_self = "account:self"

    users_read = "users:read"
    users_manage = "users:manage"
    teams_read = "teams:read"
    teams_manage = "teams:manage"
    # Groups and systems are readable by everyone, filtered to what their grants show them.
    groups_read = "groups:read"
    groups_manage = "groups:manage"
    grants_read = "grants:read"
    grants_manage = "grants:manage"
    systems_read = "systems:read"
    # Name, description, labels, groups, concurrency, and trusting a host key: needs `manage`
    # on the system too.
    systems_edit = "systems:edit"
    # Adding and removing systems, and how to reach them (connector, host, port, credential,
    # options): admins only, since pointing a system that has a credential at another host
    # would send that host the credential.
    systems_admin = "systems:admin"
    # Credentials are admin business: a credential attached to a host one controls would hand
    # its secret over, so only admins choose which system gets which credential.
    credentials_read = "credentials:read"
    credentials_manage = "credentials:manage"

    # Jobs are listed as far as the caller may see them (their own, and those touching
    # systems they can view); running one needs `execute` on every target as well.
    jobs_read = "jobs:read"
    jobs_run = "jobs:run"
    # The worker processes, their heartbeats and load.
    workers_read = "workers:read"
    # Prometheus metrics (/metrics): fleet-wide and unfiltered by grants (the ids and names of
    # systems with pooled connections or open circuits, every job's and execution's counts),
    # so only the roles that see every system: admin, and auditor (read-only everywhere).
    metrics_read = "metrics:read"

    # Job templates are listed as far as the caller may see them (their own, and those granted
    # to one of their teams). Editing one needs `edit` on it (author, admin, or a team granted
    # edit) and `execute` on every system it targets; launching one needs `launch` on it and,
    # like any job, `execute` on every target: a template never widens where one may run.
    templates_read = "templates:read"
    templates_edit = "templates:edit"
    templates_launch = "templates:launch"
    # Schedules launch a template as their owner, who needs `launch` on it at every due time.
    schedules_read = "schedules:read"
    schedules_manage = "schedules:manage"
    # Retention of output and finished jobs: its policy and a dry-run report.
    retention_read = "retention:read"

    audit_read = "audit:read"
    audit_export = "audit:export"
    audit_verify = "audit:verify"


_EVERYONE = frozenset(
    {
        Permission.account_self,
        Permission.groups_read,
        Permission.systems_read,
        Permission.jobs_read,
        Permission.templates_read,
        Permission.schedules_read,
    }
)
_READ_EVERYTHING = frozenset(
    {
        Permission.users_read,
        Permission.teams_read,
        Permission.grants_read,
        Permission.credentials_read,
    }
)
_AUDIT = frozenset({Permission.audit_read, Permission.audit_export, Permission.audit_verify})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.operator: _EVERYONE
    | {
        Permission.systems_edit,
        Permission.jobs_run,
        Permission.workers_read,
        Permission.templates_edit,
        Permission.templates_launch,
        Permission.schedules_manage,
    },
    Role.viewer: _EVERYONE,
    Role.auditor: _EVERYONE
    | _READ_EVERYTHING
    | _AUDIT
    | {Permission.workers_read, Permission.retention_read, Permission.metrics_read},
}

# Roles that see every system and group without a grant (admin to manage, auditor to read).
GLOBAL_LEVEL: dict[Role, GrantLevel] = {
    Role.admin: GrantLevel.manage,
    Role.auditor: GrantLevel.view,
}

# The most a role can do with a grant, whatever level the grant says: a viewer granted
# `execute` still only views.
ROLE_LEVEL_CAP: dict[Role, GrantLevel] = {
    Role.admin: GrantLevel.manage,
    Role.operator: GrantLevel.manage,
    Role.viewer: GrantLevel.view,
    Role.auditor: GrantLevel.view,
}

LEVEL_RANK: dict[GrantLevel, int] = {
    GrantLevel.view: 1,
    GrantLevel.execute: 2,
    GrantLevel.manage: 3,
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def levels_at_least(level: GrantLevel) -> list[GrantLevel]:
    """The grant levels that include `level` (execute → [execute, manage])."""
    return [each for each, rank in LEVEL_RANK.items() if rank >= LEVEL_RANK[level]]


def capped(role: Role, level: GrantLevel | None) -> GrantLevel | None:
    """A grant's level as far as the role lets it reach."""
    if level is None:
        return None
    cap = ROLE_LEVEL_CAP[role]
    return level if LEVEL_RANK[level] <= LEVEL_RANK[cap] else cap
