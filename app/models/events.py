"""Domain events and their per-subscriber deliveries (app/events.py writes and dispatches them).

An event row is written in the transaction whose change it announces, so the change and the
promise to react to it commit together or not at all. Each subscriber's reaction is recorded
by an `EventDelivery` row committed in the subscriber's own transaction, together with its
effects: the unique (event, subscriber) pair is what makes a reaction happen once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from app.models.base import Base
from app.models.base import UTCDateTime
from app.models.base import enum_column
from app.models.base import utcnow


class DomainEvent(Base):
    __tablename__ = "domain_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    # Small and JSON-able: ids and plain values, never ORM objects (subscribers load what they
    # need, in their own transaction, after the commit).
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once every subscriber is settled (done, or failed for good); until then the scheduler
    # keeps offering the event to the subscribers that are not.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_domain_events_dispatched_created", "dispatched_at", "created_at"),
    )

    def __repr__(self) -> str:
        return f"<DomainEvent {self.id} {self.name}>"


class EventDeliveryStatus(StrEnum):
    PENDING = "pending"  # failed at least once; retried at next_attempt_at
    DONE = "done"
    FAILED = "failed"  # attempts used up: left for an operator


class EventDelivery(Base):
    __tablename__ = "event_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("domain_events.id", ondelete="CASCADE")
    )
    subscriber: Mapped[str] = mapped_column(sa.String(120))
    status: Mapped[EventDeliveryStatus] = mapped_column(enum_column(EventDeliveryStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("event_id", "subscriber"),)

    def __repr__(self) -> str:
        return f"<EventDelivery {self.event_id} {self.subscriber} {self.status}>"
