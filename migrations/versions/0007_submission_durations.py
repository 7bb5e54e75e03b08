"""Stored durations on stories and quotes, for the insights medians.

`decision_seconds` (submitted → latest decision, NULL once the item is resubmitted) and
`publication_seconds` (approved → published) are kept by the models (`app/models/content.py`)
and read in index order by `app/insights/queries.py`, so the year view needs no sort of a year
of values (under 300 ms at 100,000 stories, docs/performance.md). Existing rows are backfilled
in SQL, in whole seconds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 07:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The covering indexes of 0003 gain the duration, so a period's durations are counted (and, over
# a short period, read) from the same index range; dropped and created again on both databases.
COVERING = {
    "ix_stories_decided_at": ("stories", ["decided_at", "submitted_at", "status", "team_id"]),
    "ix_stories_published_cover": (
        "stories",
        ["status", "published_at", "team_id", "touchpoint_id", "approved_at"],
    ),
    "ix_quotes_decided_at": ("quotes", ["decided_at", "submitted_at", "status", "team_id"]),
    "ix_quotes_published_cover": ("quotes", ["status", "published_at", "team_id", "approved_at"]),
}
ADDED = {
    "ix_stories_decided_at": "decision_seconds",
    "ix_stories_published_cover": "publication_seconds",
    "ix_quotes_decided_at": "decision_seconds",
    "ix_quotes_published_cover": "publication_seconds",
}
INDEXES = [
    ("ix_{t}_decision_seconds", ["decision_seconds", "decided_at", "team_id"]),
    ("ix_{t}_publication_seconds", ["publication_seconds", "published_at", "team_id"]),
]


def _seconds(later: str, earlier: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"CAST(floor(extract(epoch FROM {later} - {earlier})) AS BIGINT)"
    return f"CAST(strftime('%s', {later}) AS INTEGER) - CAST(strftime('%s', {earlier}) AS INTEGER)"


def upgrade():
    for table in ("stories", "quotes"):
        op.add_column(table, sa.Column("decision_seconds", sa.BigInteger(), nullable=True))
        op.add_column(table, sa.Column("publication_seconds", sa.BigInteger(), nullable=True))
        op.execute(
            f"UPDATE {table} SET decision_seconds = {_seconds('decided_at', 'submitted_at')} "
            "WHERE decided_at IS NOT NULL AND submitted_at IS NOT NULL "
            "AND decided_at >= submitted_at"
        )
        op.execute(
            f"UPDATE {table} SET publication_seconds = {_seconds('published_at', 'approved_at')} "
            "WHERE published_at IS NOT NULL AND approved_at IS NOT NULL "
            "AND published_at >= approved_at"
        )
        for name, columns in INDEXES:
            op.create_index(name.format(t=table), table, columns, unique=False)
    for name, (table, columns) in COVERING.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [*columns, ADDED[name]], unique=False)


def downgrade():
    for name, (table, columns) in COVERING.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False)
    for table in ("stories", "quotes"):
        for name, _ in INDEXES:
            op.drop_index(name.format(t=table), table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("publication_seconds")
            batch.drop_column("decision_seconds")
