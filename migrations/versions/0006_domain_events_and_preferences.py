"""Domain events with per-subscriber deliveries; notification preferences; applause bookkeeping.

The weekly edition keeps `users.email_opt_out` as its preference (nothing to migrate). Existing
applause counts as already told, so the first run of the applause email does not announce
every reaction ever made.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "domain_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_events")),
    )
    op.create_index("ix_domain_events_dispatched_created", "domain_events",
                    ["dispatched_at", "created_at"])
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("subscriber", sa.String(length=120), nullable=False),
        sa.Column("status", sa.Enum("pending", "done", "failed", name="eventdeliverystatus",
                                    native_enum=False, create_constraint=False, length=24),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["domain_events.id"],
                                name=op.f("fk_event_deliveries_event_id_domain_events"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_deliveries")),
        sa.UniqueConstraint("event_id", "subscriber",
                            name=op.f("uq_event_deliveries_event_id_subscriber")),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_notification_preferences_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "applause_notices",
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("last_reaction_id", sa.Integer(), nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"],
                                name=op.f("fk_applause_notices_story_id_stories"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("story_id", name=op.f("pk_applause_notices")),
    )
    op.execute(
        "INSERT INTO applause_notices (story_id, last_reaction_id) "
        "SELECT story_id, MAX(id) FROM reactions GROUP BY story_id"
    )


def downgrade():
    op.drop_table("applause_notices")
    op.drop_table("notification_preferences")
    op.drop_table("event_deliveries")
    op.drop_index("ix_domain_events_dispatched_created", table_name="domain_events")
    op.drop_table("domain_events")
