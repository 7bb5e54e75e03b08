"""The audit trail: every state change, decision and administrative act leaves an event.

A change made through the API (a request authenticated by an API token, app.api.auth) says so:
its details carry `via: "api"` and the `token_id`, so an integration's acts are told apart
from its person's own clicks without any service knowing about tokens.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask import request

from app.extensions import db
from app.models import AuditEvent
from app.models import User

_ENVIRON_KEY = "feelgood.audit.api_token_id"


def through_api(token_id: int) -> None:
    """Mark the current request as made with API token `token_id` (called by the API's guard).
    Kept in the request's environ, so it ends with the request."""
    request.environ[_ENVIRON_KEY] = token_id


def _api_token_id() -> int | None:
    return request.environ.get(_ENVIRON_KEY) if has_request_context() else None


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
    token_id = _api_token_id()
    if token_id is not None:
        details = {**details, "via": "api", "token_id": token_id}
    event = AuditEvent(
        actor=actor,
        action=action,
        object_type=object_type or "system",
        object_id=object_id,
        details={k: v for k, v in details.items() if v is not None},
    )
    db.session.add(event)
    return event
