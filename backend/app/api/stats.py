"""The dashboard's overview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import SessionDep
from app.auth.dependencies import requires
from app.auth.policy import Permission
from app.auth.principal import Principal
from app.schemas.stats import Overview
from app.services import stats as stats_service

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get("/overview", response_model=Overview, summary="Dashboard overview")
async def get_overview(
    principal: Annotated[Principal, requires(Permission.jobs_read)],
    session: SessionDep,
    hours: Annotated[
        int, Query(ge=1, le=720, description="The window, in hours back from now (1 to 720).")
    ] = 24,
) -> Overview:
    """Executions and jobs created in the last `hours`, by status and over time (hourly
    buckets up to 48 hours, daily beyond), jobs still active, and systems by health: each
    counted over what the caller may see."""
    return await stats_service.overview(session, principal, hours)
