"""People at company scale: managers, identity-provider links, profile photos, SCIM tokens.

users: manager_id (who is told when a team member is featured), external_id (SCIM),
oidc_issuer + oidc_subject (single sign-on; unique together), photo_key (profile photo files).
teams: external_id (SCIM groups). access_tokens: hashed bearer tokens (SCIM provisioning).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("oidc_issuer", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("photo_key", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_users_manager_id_users"), "users", ["manager_id"], ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(batch.f("ix_users_manager_id"), ["manager_id"], unique=False)
        batch.create_unique_constraint(batch.f("uq_users_external_id"), ["external_id"])
        batch.create_unique_constraint("uq_users_oidc_identity", ["oidc_issuer", "oidc_subject"])
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch.create_unique_constraint(batch.f("uq_teams_external_id"), ["external_id"])
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"],
            name=op.f("fk_access_tokens_created_by_id_users"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_access_tokens_token_hash")),
    )
    op.create_index("ix_access_tokens_purpose", "access_tokens", ["purpose", "revoked_at"])


def downgrade():
    op.drop_index("ix_access_tokens_purpose", table_name="access_tokens")
    op.drop_table("access_tokens")
    with op.batch_alter_table("teams") as batch:
        batch.drop_constraint(batch.f("uq_teams_external_id"), type_="unique")
        batch.drop_column("external_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_oidc_identity", type_="unique")
        batch.drop_constraint(batch.f("uq_users_external_id"), type_="unique")
        batch.drop_index(batch.f("ix_users_manager_id"))
        batch.drop_constraint(batch.f("fk_users_manager_id_users"), type_="foreignkey")
        for column in ("photo_key", "oidc_subject", "oidc_issuer", "external_id", "manager_id"):
            batch.drop_column(column)
