"""ORM models. Importing this package registers every table on `Base.metadata` (for Alembic)."""

from app.models.audit import AuditEvent
from app.models.base import Base
from app.models.credentials import Credential
from app.models.jobs import Execution, Job, OutputChunk
from app.models.schedules import Schedule, ScheduleRun
from app.models.systems import System, SystemGroup, SystemGroupMember
from app.models.teams import Grant, Team, TeamMember
from app.models.templates import JobTemplate, TemplateGrant
from app.models.users import RefreshToken, User
from app.models.workers import WorkerHeartbeat

__all__ = [
    "AuditEvent",
    "Base",
    "Credential",
    "Execution",
    "Grant",
    "Job",
    "JobTemplate",
    "OutputChunk",
    "RefreshToken",
    "Schedule",
    "ScheduleRun",
    "System",
    "SystemGroup",
    "SystemGroupMember",
    "Team",
    "TeamMember",
    "TemplateGrant",
    "User",
    "WorkerHeartbeat",
]
