"""People: users, their teams and roles."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import validates
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from app.models.base import Base
from app.models.base import LabeledEnum
from app.models.base import UTCDateTime
from app.models.base import enum_column
from app.models.base import utcnow

if TYPE_CHECKING:
    from app.models.content import Recognition


class Role(LabeledEnum):
    EMPLOYEE = "employee"
    EDITOR = "editor"
    ADMIN = "admin"


def new_security_stamp() -> str:
    return secrets.token_urlsafe(16)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The identity provider's id for the group this team mirrors (SCIM `externalId`).
    external_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)

    members: Mapped[list[User]] = relationship(back_populates="team")

    def __repr__(self) -> str:
        return f"<Team {self.name!r}>"


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (see `normalize_email`), so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.EMPLOYEE)
    is_active_user: Mapped[bool] = mapped_column("is_active", default=True)
    email_opt_out: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    # Rotated whenever the password changes: invalidates reset/invite links and other sessions.
    security_stamp: Mapped[str] = mapped_column(sa.String(32), default=new_security_stamp)
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    manager_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Identity-provider links: SCIM `externalId`, and the OpenID Connect `sub` (with its issuer,
    # so a second provider can never claim someone else's account).
    external_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    oidc_issuer: Mapped[str | None] = mapped_column(sa.String(255))
    oidc_subject: Mapped[str | None] = mapped_column(sa.String(255))
    # Profile photo: the stored files' common name (sizes are derived), None for initials.
    photo_key: Mapped[str | None] = mapped_column(sa.String(64))
    # Set when the person was erased (app/privacy): the row is a "former colleague" shell.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team | None] = relationship(back_populates="members")
    manager: Mapped[User | None] = relationship(remote_side="User.id", foreign_keys=[manager_id])
    recognitions: Mapped[list[Recognition]] = relationship(
        back_populates="user", foreign_keys="Recognition.user_id"
    )

    __table_args__ = (
        sa.Index("ix_users_role_active", "role", "is_active"),
        sa.UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_users_oidc_identity"),
    )

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    @validates("email")
    def _lower_email(self, _key: str, value: str) -> str:
        return self.normalize_email(value)

    # Flask-Login ---------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.is_active_user

    def get_id(self) -> str:
        """Session id includes the stamp, so a password change signs out other sessions."""
        return f"{self.id}:{self.security_stamp}"

    # Passwords -------------------------------------------------------------------------------
    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.security_stamp = new_security_stamp()

    def check_password(self, password: str) -> bool:
        if not self.password_hash:
            return False
        return check_password_hash(self.password_hash, password)

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    # Roles ---------------------------------------------------------------------------------
    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_editor(self) -> bool:
        """Editors and admins can curate."""
        return self.role in (Role.EDITOR, Role.ADMIN)

    @property
    def first_name(self) -> str:
        parts = self.display_name.split()
        return parts[0] if parts else self.display_name

    @property
    def receives_email(self) -> bool:
        return self.is_active_user and not self.email_opt_out

    def __repr__(self) -> str:
        return f"<User {self.email!r} {self.role}>"
