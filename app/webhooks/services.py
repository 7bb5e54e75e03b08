"""Webhook endpoints (admins register them) and the deliveries recorded for them.

The signing secret is kept (every delivery is signed with it) but shown only once, on the page
right after it is created or rotated; audit events never hold it. Where an endpoint may point
is app.outbound's address rule, checked here and again before each attempt: unlike chat URLs,
endpoints inside the company network are allowed (an intranet page is a typical receiver);
link-local (cloud metadata at 169.254.169.254), metadata names, unspecified, multicast and
reserved addresses are not, nor loopback while WEBHOOK_REQUIRE_HTTPS is on (production).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import sqlalchemy as sa
from flask import current_app

from app import audit
from app.errors import Conflict
from app.errors import ValidationError
from app.extensions import db
from app.models import User
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
from app.models import WebhookEndpoint
from app.models import utcnow
from app.models.webhooks import DESCRIPTION_MAX
from app.models.webhooks import URL_MAX
from app.outbound import insert_once
from app.outbound import split_url
from app.outbound import url_refusal
from app.text import clean_text
from app.webhooks import catalog
from app.webhooks import delivery
from app.webhooks import queries
from app.webhooks import signing

S = WebhookDeliveryStatus
DEDUPE_MAX = 120


@dataclass(frozen=True)
class EndpointData:
    """What the admin's form says."""

    url: str
    events: list[str]
    description: str = ""
    active: bool = True


def host_of(url: str) -> str:
    """What lists show of an endpoint: its host (and port)."""
    return urlsplit(url).netloc.rpartition("@")[2] or "?"


def check_url(value: str | None) -> str:
    """The URL to store: http(s) with a host, no user name or password, https when
    WEBHOOK_REQUIRE_HTTPS, at most URL_MAX characters, and a host the address rule allows
    (loopback as `delivery.loopback_allowed`; private addresses allowed)."""
    url, parts = split_url(
        value, field="url", url_max=URL_MAX, empty="Enter the endpoint's URL.",
        credentials="The URL must not contain a user name or password: deliveries are signed, "
                    "the receiver checks the signature.")
    if parts.scheme == "http" and current_app.config["WEBHOOK_REQUIRE_HTTPS"]:
        raise ValidationError("Use an https:// address: deliveries must not travel "
                              "unencrypted.", field="url")
    refused = url_refusal(url, loopback=delivery.loopback_allowed(), private=True)
    if refused is not None:
        raise ValidationError(f"This address cannot receive webhooks: {refused}.", field="url")
    return url


def check_events(events: list[str]) -> list[str]:
    chosen = [name for name in catalog.EVENT_TYPES if name in set(events)]
    if not chosen:
        raise ValidationError("Choose at least one event.", field="events")
    if len(chosen) != len(set(events)):
        raise ValidationError("Unknown event type.", field="events")
    return chosen


def _values(data: EndpointData) -> dict[str, Any]:
    description = clean_text(data.description)
    if len(description) > DESCRIPTION_MAX:
        raise ValidationError(f"At most {DESCRIPTION_MAX} characters.", field="description")
    return {"url": check_url(data.url), "events": check_events(list(data.events)),
            "description": description, "active": bool(data.active)}


def _audited(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit log says of an endpoint (never its secret); always the same keys."""
    return {"host": host_of(endpoint.url), "events": list(endpoint.events),
            "active": endpoint.active, "description": endpoint.description or None}


def create_endpoint(data: EndpointData, *, actor: User) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (the caller shows it once)."""
    endpoint = WebhookEndpoint(**_values(data), secret=signing.new_secret(), created_by=actor)
    db.session.add(endpoint)
    db.session.flush()
    audit.record(actor, "webhook.endpoint.create", endpoint, object_type="webhook_endpoint",
                 **_audited(endpoint))
    return endpoint, endpoint.secret


def update_endpoint(endpoint: WebhookEndpoint, data: EndpointData, *, actor: User) -> None:
    values = _values(data)
    before = _audited(endpoint)
    url_changed = values["url"] != endpoint.url
    for key, value in values.items():
        setattr(endpoint, key, value)
    changes = {key: value for key, value in _audited(endpoint).items() if before[key] != value}
    if url_changed:
        changes["url"] = "changed"
        endpoint.last_failure = endpoint.last_failure_at = None
    if changes:
        audit.record(actor, "webhook.endpoint.update", endpoint, object_type="webhook_endpoint",
                     **{f"new_{k}": v for k, v in changes.items()})


def rotate_secret(endpoint: WebhookEndpoint, *, actor: User) -> str:
    """A new secret for every delivery from now on (retries of older ones too)."""
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = utcnow()
    audit.record(actor, "webhook.endpoint.rotate", endpoint, object_type="webhook_endpoint",
                 host=host_of(endpoint.url))
    return endpoint.secret


def delete_endpoint(endpoint: WebhookEndpoint, *, actor: User) -> int:
    """Delete the endpoint and its deliveries; how many deliveries went with it."""
    audit.record(actor, "webhook.endpoint.delete", endpoint, object_type="webhook_endpoint",
                 host=host_of(endpoint.url), events=list(endpoint.events))
    result = db.session.execute(
        sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.flush()
    return result.rowcount or 0


# -- deliveries ------------------------------------------------------------------------------------


def record_deliveries(
    endpoints: list[WebhookEndpoint], event_type: str, dedupe_key: str, data: dict[str, Any],
    *, at: datetime | None = None,
) -> list[WebhookDelivery]:
    """One delivery per endpoint for this happening, sent after the commit.

    An endpoint that already has a delivery with `dedupe_key` gets none (INSERT … ON CONFLICT DO
    NOTHING on the unique key: even two dispatchers at once add one row). Returns the new rows.
    """
    payload = catalog.body(event_type, data, at or utcnow())
    new_ids = [row_id for endpoint in endpoints
               if (row_id := _insert_once(endpoint.id, event_type, dedupe_key, payload))]
    rows = list(db.session.scalars(sa.select(WebhookDelivery).where(
        WebhookDelivery.id.in_(new_ids or [-1])).order_by(WebhookDelivery.id)))
    for row in rows:
        delivery.send_after_commit(row)
    return rows


def _insert_once(endpoint_id: int, event_type: str, key: str,
                 payload: dict[str, Any]) -> int | None:
    values = {"endpoint_id": endpoint_id, "event_type": event_type,
              "dedupe_key": key[:DEDUPE_MAX], "message_id": signing.new_message_id(),
              "payload": payload, "status": S.PENDING, "attempts": 0, "created_at": utcnow()}
    return insert_once(db.session, WebhookDelivery.__table__, values,
                       ("endpoint_id", "dedupe_key"))


def record_test(endpoint: WebhookEndpoint, *, actor: User) -> WebhookDelivery:
    """A `webhook.test` delivery: the caller sends it after its commit and shows the answer
    (so it is not handed to the background thread)."""
    row = WebhookDelivery(endpoint_id=endpoint.id, event_type=catalog.TEST,
                          dedupe_key=f"test:{uuid4().hex}", message_id=signing.new_message_id(),
                          payload=catalog.body(catalog.TEST, catalog.test_data(endpoint.id),
                                               utcnow()),
                          status=S.PENDING, attempts=0)  # fmt: skip
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "webhook.endpoint.test", endpoint, object_type="webhook_endpoint",
                 host=host_of(endpoint.url))
    return row


def _reset(row: WebhookDelivery) -> None:
    """Back to pending with a fresh day of retries; the message id stays (receivers dedupe)."""
    row.status, row.attempts, row.next_attempt_at, row.claimed_at = S.PENDING, 0, None, None
    row.created_at = utcnow()  # the retry window counts from the replay
    row.delivered_at = None
    delivery.send_after_commit(row)


def replay(row: WebhookDelivery, *, actor: User) -> None:
    """Send a delivered or failed delivery again (same body and `webhook-id`)."""
    if row.status in (S.PENDING, S.SENDING):
        raise Conflict("This delivery is still waiting to be sent: there is nothing to replay.")
    previous = str(row.status)
    _reset(row)
    audit.record(actor, "webhook.delivery.replay", row, object_type="webhook_delivery",
                 endpoint_id=row.endpoint_id, event_type=row.event_type, previous=previous,
                 message_id=row.message_id)


def replay_failed(endpoint: WebhookEndpoint, *, actor: User) -> int:
    """Replay every failed delivery of the endpoint (the admin fixed the cause)."""
    failed = queries.deliveries_with_status(endpoint.id, S.FAILED)
    for row in failed:
        _reset(row)
    if failed:
        audit.record(actor, "webhook.endpoint.replay_failed", endpoint,
                     object_type="webhook_endpoint", host=host_of(endpoint.url),
                     deliveries=len(failed))
    return len(failed)
