"""identity and audit search: the client's user agent in the audit chain, a trigram index for
free-text audit search, and an absolute end for each login's refresh-token family

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:05:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What free-text audit search looks through. A function, so that the index and the query name
# the very same expression.
SEARCH_FUNCTION = r"""
CREATE FUNCTION orca_audit_search_text(
  actor_username varchar, action varchar, target_type varchar, target_id varchar, details jsonb
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(actor_username, '') || ' ' || action || ' ' || coalesce(target_type, '')
    || ' ' || coalesce(target_id, '') || ' ' || details::text
$$
"""

# The user agent joins the hashed form only when a row has one. Rows written before this
# migration have none, so their canonical form, and so every hash already in the chain, stays
# exactly as it was; setting or clearing a user agent afterwards still changes the hash.
CANONICAL_WITH_USER_AGENT = r"""
CREATE OR REPLACE FUNCTION orca_audit_canonical(r audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT (jsonb_build_array(
    r.seq, r.id::text,
    to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.actor_id::text, r.actor_username, host(r.client_ip), r.request_id,
    r.action, r.outcome, r.target_type, r.target_id, r.details
  ) || CASE WHEN r.user_agent IS NULL THEN '[]'::jsonb
            ELSE jsonb_build_array(r.user_agent) END)::text
$$
"""

CANONICAL_BEFORE = r"""
CREATE OR REPLACE FUNCTION orca_audit_canonical(r audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_array(
    r.seq, r.id::text,
    to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.actor_id::text, r.actor_username, host(r.client_ip), r.request_id,
    r.action, r.outcome, r.target_type, r.target_id, r.details
  )::text
$$
"""


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("user_agent", sa.String(length=300), nullable=True))
    op.execute(CANONICAL_WITH_USER_AGENT)
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(SEARCH_FUNCTION)
    op.execute(
        "CREATE INDEX ix_audit_log_search ON audit_log USING gin ("
        "orca_audit_search_text(actor_username, action, target_type, target_id, details) "
        "gin_trgm_ops)"
    )

    op.add_column(
        "refresh_tokens",
        sa.Column("family_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute("UPDATE refresh_tokens SET family_expires_at = expires_at")
    op.alter_column("refresh_tokens", "family_expires_at", nullable=False)


def downgrade() -> None:
    op.drop_column("refresh_tokens", "family_expires_at")
    op.execute("DROP INDEX IF EXISTS ix_audit_log_search")
    op.execute(
        "DROP FUNCTION IF EXISTS orca_audit_search_text(varchar, varchar, varchar, varchar, jsonb)"
    )
    # The column cannot go while rows hold a value: their hashes include it.
    op.execute(
        """
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM audit_log WHERE user_agent IS NOT NULL) THEN
            RAISE EXCEPTION 'audit rows with a user agent exist; downgrading would break the chain';
          END IF;
        END $$
        """
    )
    op.execute(CANONICAL_BEFORE)
    op.drop_column("audit_log", "user_agent")
