"""Rows that let several processes cooperate through the database: the scheduler's heartbeat
(readiness and the editors' warning read it) and the mail relay's pacing slot (every sender
takes its turn from the same row, so a rate holds across processes)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from app.models.base import Base
from app.models.base import UTCDateTime
from app.models.base import utcnow


class SchedulerHeartbeat(Base):
    """One row per scheduler process, touched every SCHEDULER_HEARTBEAT_SECONDS."""

    __tablename__ = "scheduler_heartbeats"

    id: Mapped[str] = mapped_column(sa.String(160), primary_key=True)  # host:pid:started
    hostname: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SendPacing(Base):
    """The moment the next message to a relay may start: a token bucket kept in one row."""

    __tablename__ = "send_pacing"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
