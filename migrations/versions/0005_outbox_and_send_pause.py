"""Durable mail outbox; an edition's paused-send state during a mail-server outage.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=80), nullable=False),
        sa.Column("to_addr", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Enum("pending", "sending", "sent", "failed", name="outboxstatus",
                                    native_enum=False, create_constraint=False, length=24),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index("ix_mail_outbox_status_next", "mail_outbox", ["status", "next_attempt_at"])
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("send_paused_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("send_pause_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("send_retry_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("send_pause_count", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade():
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("send_pause_count")
        batch.drop_column("send_retry_at")
        batch.drop_column("send_pause_reason")
        batch.drop_column("send_paused_at")
    op.drop_index("ix_mail_outbox_status_next", table_name="mail_outbox")
    op.drop_table("mail_outbox")
