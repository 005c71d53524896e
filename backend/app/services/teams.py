"""Teams of users. Grants are given to teams, so membership is what opens systems to a user:
joining or leaving a team changes what they can reach on their very next request."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import NotFound
from app.models import Team, TeamMember, User
from app.repositories import common as common_repo
from app.repositories import grants as grants_repo
from app.repositories import teams as teams_repo
from app.repositories.pagination import Page, keyset_page, name_sorts
from app.services import audit
from app.services.common import (
    changes_of,
    get_or_404,
    require_existing,
    require_unique_name,
)

SORTS = name_sorts(Team)


async def get(session: AsyncSession, team_id: uuid.UUID, *, for_update: bool = False) -> Team:
    return await get_or_404(session, Team, team_id, "team", for_update=for_update)


async def search(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    sort: str,
    q: str | None = None,
    user_id: uuid.UUID | None = None,
) -> Page[Team]:
    stmt = teams_repo.search(q=q, user_id=user_id)
    return await keyset_page(session, stmt, SORTS[sort], limit=limit, cursor=cursor)


async def member_counts(session: AsyncSession, teams: list[Team]) -> dict[uuid.UUID, int]:
    return await teams_repo.member_counts(session, [team.id for team in teams])


async def create(
    session: AsyncSession, actor: Principal, *, name: str, description: str | None
) -> Team:
    await require_unique_name(session, Team, name, "team")
    team = await common_repo.add(session, Team(name=name, description=description))
    await audit.record(
        session,
        "team.create",
        actor=actor,
        target_type="team",
        target_id=team.id,
        details={"name": name},
    )
    return team


async def update(
    session: AsyncSession, actor: Principal, team_id: uuid.UUID, changes: dict[str, Any]
) -> Team:
    team = await get(session, team_id, for_update=True)
    if "name" in changes:
        await require_unique_name(session, Team, changes["name"], "team", exclude=team.id)
    changed = changes_of(team, changes)
    await session.flush()
    await audit.record_update(session, actor, "team", team, changed)
    return team


async def delete(session: AsyncSession, actor: Principal, team_id: uuid.UUID) -> None:
    """Remove a team, its memberships and its grants."""
    team = await get(session, team_id, for_update=True)
    # What goes with it, so the log says who lost which access.
    details = {
        "name": team.name,
        "members": await teams_repo.member_ids(session, team.id),
        "grants": await grants_repo.listed(session, team_id=team.id),
    }
    await common_repo.delete(session, team)
    await audit.record(
        session,
        "team.delete",
        actor=actor,
        target_type="team",
        target_id=team_id,
        details=details,
    )


async def add_members(
    session: AsyncSession, actor: Principal, team_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Add users to the team; returns those who were not members yet."""
    team = await get(session, team_id, for_update=True)
    wanted = await require_existing(session, User, user_ids, "user_ids", "user")
    added = await common_repo.add_links(
        session, TeamMember, ("team_id", team.id), "user_id", wanted
    )
    if added:
        await audit.record(
            session,
            "team.member_add",
            actor=actor,
            target_type="team",
            target_id=team.id,
            details={"team": team.name, "user_ids": [str(u) for u in added]},
        )
    return added


async def remove_member(
    session: AsyncSession, actor: Principal, team_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    team = await get(session, team_id, for_update=True)
    if not await common_repo.remove_link(
        session, TeamMember, ("team_id", team.id), ("user_id", user_id)
    ):
        raise NotFound(f"user {user_id} is not a member of team {team.name!r}")
    await audit.record(
        session,
        "team.member_remove",
        actor=actor,
        target_type="team",
        target_id=team.id,
        details={"team": team.name, "user_id": str(user_id)},
    )


async def teams_of(session: AsyncSession, user: User | Principal) -> list[Team]:
    return await teams_repo.teams_of(session, user.id)
