"""Comments on published stories (plain text; removal is soft and audited).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-18 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "story_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("removed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"],
                                name=op.f("fk_story_comments_story_id_stories"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"],
                                name=op.f("fk_story_comments_author_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["removed_by_id"], ["users.id"],
                                name=op.f("fk_story_comments_removed_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_comments")),
    )
    op.create_index("ix_story_comments_story_id", "story_comments", ["story_id", "id"])


def downgrade():
    op.drop_index("ix_story_comments_story_id", table_name="story_comments")
    op.drop_table("story_comments")
