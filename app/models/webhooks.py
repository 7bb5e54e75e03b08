"""Outbound webhooks: the endpoints admins register and the durable log of deliveries to them.

A delivery row is written per endpoint per domain event, in the transaction of the subscriber
that reacts to the event (after the commit that caused it), and sent later with retries and
backoff (app.webhooks.delivery). The row, not a process's memory, is the truth about what still
has to go out, so a crash loses nothing; it also records each answer for the admin page.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from app.models.base import Base
from app.models.base import UTCDateTime
from app.models.base import enum_column
from app.models.base import utcnow
from app.models.users import User

URL_MAX = 2000
DESCRIPTION_MAX = 200


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by one process; released after the claim timeout
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after a day of retries (or a permanent refusal); replayable


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(URL_MAX))
    description: Mapped[str] = mapped_column(sa.String(DESCRIPTION_MAX), default="")
    # The signing secret, "whsec_" + base64 (Standard Webhooks); kept to sign every delivery.
    secret: Mapped[str] = mapped_column(sa.String(100))
    # The event types this endpoint receives (names from app.webhooks.catalog).
    events: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    created_by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id} {self.url!r}>"


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    endpoint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(sa.String(40))
    # The Standard Webhooks `webhook-id`: the same for every attempt of this message, so the
    # receiver can drop a duplicate.
    message_id: Mapped[str] = mapped_column(sa.String(64))
    # One delivery per endpoint per happening (e.g. "event:812"): a re-dispatched domain event
    # adds nothing (the unique constraint, not a check before insert).
    dedupe_key: Mapped[str] = mapped_column(sa.String(120))
    # The JSON body, built when the delivery is recorded (what was true then).
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[WebhookDeliveryStatus] = mapped_column(
        enum_column(WebhookDeliveryStatus), default=WebhookDeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last answer: HTTP status (None: no answer, e.g. a timeout), how long it took, its
    # text (trimmed).
    response_code: Mapped[int | None] = mapped_column()
    response_ms: Mapped[int | None] = mapped_column()
    response_text: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "dedupe_key"),
        sa.Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        sa.Index("ix_webhook_deliveries_created", "created_at"),  # pruning old deliveries
    )

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.id} {self.event_type} {self.status}>"
