"""Teams and their members (admins manage, auditors read)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from app.api.deps import SessionDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.models import Team
from app.schemas.common import Cursor, Deleted, Limit, NameSort, Page, Search, UserSort, page_of
from app.schemas.teams import MembersAdd, MembersAdded, TeamCreate, TeamOut, TeamUpdate
from app.schemas.users import UserOut
from app.services import teams as teams_service
from app.services import users as users_service

router = APIRouter(prefix="/teams", tags=["teams"])

Reader = Annotated[Principal, requires(Permission.teams_read)]
Manager = Annotated[Principal, requires(Permission.teams_manage)]


def _out(team: Team, members: int) -> TeamOut:
    return TeamOut.model_validate(team).model_copy(update={"member_count": members})


@router.get("", response_model=Page[TeamOut], summary="List teams")
async def list_teams(
    _: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NameSort = "name",
    q: Search = None,
    user_id: uuid.UUID | None = None,
) -> Page[TeamOut]:
    """Teams matching the filters; `user_id` lists the teams of one user."""
    page = await teams_service.search(
        session, limit=limit, cursor=cursor, sort=sort, q=q, user_id=user_id
    )
    counts = await teams_service.member_counts(session, page.items)
    return page_of(TeamOut, page, [_out(team, counts.get(team.id, 0)) for team in page.items])


@router.post(
    "", response_model=TeamOut, status_code=status.HTTP_201_CREATED, summary="Create a team"
)
async def create_team(body: TeamCreate, actor: Manager, session: SessionDep) -> TeamOut:
    team = await teams_service.create(session, actor, name=body.name, description=body.description)
    return _out(team, 0)


@router.get("/{team_id}", response_model=TeamOut, summary="Get a team")
async def get_team(team_id: uuid.UUID, _: Reader, session: SessionDep) -> TeamOut:
    team = await teams_service.get(session, team_id)
    counts = await teams_service.member_counts(session, [team])
    return _out(team, counts.get(team.id, 0))


@router.patch("/{team_id}", response_model=TeamOut, summary="Change a team")
async def update_team(
    team_id: uuid.UUID, body: TeamUpdate, actor: Manager, session: SessionDep
) -> TeamOut:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "name" or v}
    team = await teams_service.update(session, actor, team_id, changes)
    counts = await teams_service.member_counts(session, [team])
    return _out(team, counts.get(team.id, 0))


@router.delete("/{team_id}", response_model=Deleted, summary="Delete a team")
async def delete_team(team_id: uuid.UUID, actor: Manager, session: SessionDep) -> Deleted:
    """Remove the team with its memberships and grants: its members lose what it gave them."""
    await teams_service.delete(session, actor, team_id)
    return Deleted()


@router.get("/{team_id}/members", response_model=Page[UserOut], summary="List a team's members")
async def list_members(
    team_id: uuid.UUID,
    _: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: UserSort = "username",
) -> Page[UserOut]:
    await teams_service.get(session, team_id)
    page = await users_service.search(
        session, limit=limit, cursor=cursor, sort=sort, team_id=team_id
    )
    return page_of(UserOut, page)


@router.post("/{team_id}/members", response_model=MembersAdded, summary="Add members")
async def add_members(
    team_id: uuid.UUID, body: MembersAdd, actor: Manager, session: SessionDep
) -> MembersAdded:
    """Add users to the team; those already in it are left as they are."""
    added = await teams_service.add_members(session, actor, team_id, body.user_ids)
    return MembersAdded(added=added)


@router.delete("/{team_id}/members/{user_id}", response_model=Deleted, summary="Remove a member")
async def remove_member(
    team_id: uuid.UUID, user_id: uuid.UUID, actor: Manager, session: SessionDep
) -> Deleted:
    """Take a user out of the team: what the team's grants gave them ends with their next
    request."""
    await teams_service.remove_member(session, actor, team_id, user_id)
    return Deleted()
