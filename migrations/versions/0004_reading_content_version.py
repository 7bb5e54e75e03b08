"""Content version for the reading pages' cache (app/reading/cache.py).

One row whose `version` goes up after every commit that changes what the reading pages show;
each web process keeps query results keyed by it. Not in the models: migrations/env.py and
tests/test_migrations.py skip it through `app.reading.search.include_name` / `include_object`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 05:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "reading_content_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reading_content_version"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1}])


def downgrade():
    op.drop_table("reading_content_version")
