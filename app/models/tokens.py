"""Machine credentials: bearer tokens for SCIM provisioning, private feeds and the API.

Only a SHA-256 hash of a token is stored; the token itself is shown once, when it is created.
API tokens (purpose "personal" or "service") act as a person (`user_id`) and carry scopes; what
they may do is decided in one place, app.tokens.scopes.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from app.models.base import Base
from app.models.base import UTCDateTime
from app.models.base import utcnow
from app.models.users import User


class AccessToken(Base):
    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the token is for: "scim" (provisioning), "feed" (a private Atom feed), "personal"
    # (an API token a person made for their own scripts), "service" (an API token an admin
    # made for an integration).
    purpose: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(120))
    # The first characters of the token, shown in lists so an admin can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # API tokens: the person the token acts as (its owner for a personal token; the person an
    # admin chose for a service token), its scopes (space-separated: read submit curate admin)
    # and an optional expiry.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    scopes: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    __table_args__ = (
        sa.Index("ix_access_tokens_purpose", "purpose", "revoked_at"),
        sa.Index("ix_access_tokens_user_id", "user_id"),
    )
