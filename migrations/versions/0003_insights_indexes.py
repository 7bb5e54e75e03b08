"""Covering indexes for the insights page (app/insights/queries.py).

Figures over a period (submitted, approved, decided, published per week; contributors; first
submissions; NPS by source) read these index ranges instead of fetching story and quote rows,
which keeps /insights under 300 ms at 100,000 stories on SQLite (docs/performance.md).
Plain CREATE INDEX: works on SQLite and PostgreSQL alike, no table rebuild.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 05:10:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = [
    ("stories", "ix_stories_submitted_at", ["submitted_at", "team_id", "author_id"]),
    ("stories", "ix_stories_author_submitted_at", ["author_id", "submitted_at"]),
    ("stories", "ix_stories_approved_at", ["approved_at", "team_id"]),
    ("stories", "ix_stories_decided_at", ["decided_at", "submitted_at", "status", "team_id"]),
    (
        "stories",
        "ix_stories_published_cover",
        ["status", "published_at", "team_id", "touchpoint_id", "approved_at"],
    ),
    (
        "quotes",
        "ix_quotes_submitted_at",
        ["submitted_at", "team_id", "author_id", "source", "nps_score"],
    ),
    ("quotes", "ix_quotes_author_submitted_at", ["author_id", "submitted_at"]),
    ("quotes", "ix_quotes_approved_at", ["approved_at", "team_id"]),
    ("quotes", "ix_quotes_decided_at", ["decided_at", "submitted_at", "status", "team_id"]),
    ("quotes", "ix_quotes_published_cover", ["status", "published_at", "team_id", "approved_at"]),
]


def upgrade():
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
