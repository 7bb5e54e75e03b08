"""The audit trail: every state change, decision and administrative act leaves an event."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import AuditEvent
from app.models import User


def record(
    actor: User | None,
    action: str,
    obj: Any = None,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an event to the current transaction (it commits or rolls back with the change)."""
    if obj is not None:
        object_type = object_type or getattr(obj, "kind", None) or type(obj).__name__.lower()
        object_id = object_id if object_id is not None else obj.id
    event = AuditEvent(
        actor=actor,
        action=action,
        object_type=object_type or "system",
        object_id=object_id,
        details={k: v for k, v in details.items() if v is not None},
    )
    db.session.add(event)
    return event
