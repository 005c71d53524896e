"""Object-level access: a user's level on systems and groups, and the checks built on it.

Admins hold `manage` everywhere and auditors `view` everywhere; everyone else reaches a system
only through a grant on a group that contains it, capped by what their role allows (a viewer
granted `execute` still only views). List queries filter with the same SQL, so nobody can learn
of a system they cannot see by paging or guessing ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.policy import GLOBAL_LEVEL, LEVEL_RANK, ROLE_LEVEL_CAP, capped
from app.auth.principal import Principal
from app.core.errors import Forbidden, NotFound
from app.models import System
from app.models.enums import AuditOutcome, GrantLevel
from app.repositories import access as access_repo
from app.repositories import common as common_repo
from app.services import audit

_BY_RANK = {rank: level for level, rank in LEVEL_RANK.items()}


def _filter(
    principal: Principal,
    level: GrantLevel,
    granted: Callable[[uuid.UUID, GrantLevel], ColumnElement[bool]],
) -> ColumnElement[bool]:
    role = principal.role
    if LEVEL_RANK[ROLE_LEVEL_CAP[role]] < LEVEL_RANK[level]:
        return false()
    if role in GLOBAL_LEVEL:
        return true() if LEVEL_RANK[GLOBAL_LEVEL[role]] >= LEVEL_RANK[level] else false()
    return granted(principal.id, level)


def systems_filter(
    principal: Principal, level: GrantLevel = GrantLevel.view
) -> ColumnElement[bool]:
    """A WHERE clause on System: the systems the principal holds `level` on."""
    return _filter(principal, level, access_repo.system_visible)


def groups_filter(principal: Principal, level: GrantLevel = GrantLevel.view) -> ColumnElement[bool]:
    """A WHERE clause on SystemGroup: the groups the principal holds `level` on."""
    return _filter(principal, level, access_repo.group_visible)


async def system_levels(
    session: AsyncSession, principal: Principal, system_ids: list[uuid.UUID]
) -> dict[uuid.UUID, GrantLevel | None]:
    """The principal's effective level on each system (None: cannot even see it)."""
    if principal.role in GLOBAL_LEVEL:
        existing = await common_repo.existing_ids(session, System, system_ids)
        level = GLOBAL_LEVEL[principal.role]
        return {system_id: level if system_id in existing else None for system_id in system_ids}
    ranks = await access_repo.system_ranks(session, principal.id, system_ids)
    return {
        system_id: capped(principal.role, _BY_RANK.get(ranks.get(system_id, 0)))
        for system_id in system_ids
    }


async def require_systems(
    session: AsyncSession,
    principal: Principal,
    system_ids: list[uuid.UUID],
    level: GrantLevel,
    action: str,
) -> None:
    """Refuse (403, audited) unless the principal holds `level` on every one of `system_ids`.

    The refusal names every system beyond reach, so the user can ask for exactly the grants
    they lack; it names them by id, which the caller already sent.
    """
    levels = await system_levels(session, principal, system_ids)
    short = [
        system_id
        for system_id, held in levels.items()
        if held is None or LEVEL_RANK[held] < LEVEL_RANK[level]
    ]
    if short:
        names = [str(system_id) for system_id in short]
        raise Forbidden(
            f"You need {level.value} on {len(short)} system(s) to {action}.",
            details={"needs": level.value, "systems": names},
            on_rollback=[
                audit.later(
                    "access.denied",
                    actor=principal,
                    outcome=AuditOutcome.denied,
                    target_type="system",
                    target_id=short[0] if len(short) == 1 else None,
                    details={"action": action, "needs": level.value, "systems": names},
                )
            ],
        )


async def group_level(
    session: AsyncSession, principal: Principal, group_id: uuid.UUID
) -> GrantLevel | None:
    if principal.role in GLOBAL_LEVEL:
        return GLOBAL_LEVEL[principal.role]
    rank = await access_repo.group_rank(session, principal.id, group_id)
    return capped(principal.role, _BY_RANK.get(rank))


async def out_of_reach(
    session: AsyncSession, principal: Principal, model: type[Any], object_id: uuid.UUID, what: str
) -> NotFound:
    """The 404 for an object the principal may not see, as if it did not exist. When it does
    exist, the attempt (an id guessed, or leaked) is audited as `access.denied`."""
    error = NotFound(f"no {what} with id {object_id}")
    if await common_repo.get_by_id(session, model, object_id) is not None:
        error.on_rollback = (
            audit.later(
                "access.denied",
                actor=principal,
                outcome=AuditOutcome.denied,
                target_type=what,
                target_id=object_id,
                details={"reason": "not_visible"},
            ),
        )
    return error
