"""Reads for the webhook admin pages and the subscribers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from app.admin.queries import Page
from app.admin.queries import keyset_page
from app.extensions import db
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
from app.models import WebhookEndpoint

S = WebhookDeliveryStatus
DELIVERIES_PAGE = 25


@dataclass(frozen=True)
class Counts:
    waiting: int = 0  # pending or being sent
    failed: int = 0
    delivered: int = 0


@dataclass(frozen=True)
class EndpointRow:
    endpoint: WebhookEndpoint
    counts: Counts


def endpoints() -> list[EndpointRow]:
    """Every endpoint, oldest first, with its deliveries counted per status (two queries)."""
    rows = list(db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
    counts = delivery_counts(e.id for e in rows)
    return [EndpointRow(e, counts.get(e.id, Counts())) for e in rows]


def delivery_counts(ids: Iterable[int]) -> dict[int, Counts]:
    """endpoint id → its deliveries counted per status, in one grouped query."""
    wanted = list(ids)
    status = WebhookDelivery.status

    def count(*statuses: WebhookDeliveryStatus) -> sa.ColumnElement[int]:
        return sa.func.count().filter(status.in_(statuses))

    found = db.session.execute(
        sa.select(WebhookDelivery.endpoint_id, count(S.PENDING, S.SENDING), count(S.FAILED),
                  count(S.DELIVERED))
        .where(WebhookDelivery.endpoint_id.in_(wanted or [-1]))
        .group_by(WebhookDelivery.endpoint_id)
    ).all()
    return {endpoint_id: Counts(*numbers) for endpoint_id, *numbers in found}


def deliveries(endpoint_id: int, *, status: WebhookDeliveryStatus | None = None,
               cursor: str | None = None, size: int = DELIVERIES_PAGE) -> Page[WebhookDelivery]:
    """The endpoint's deliveries, newest first, a page at a time (opaque keyset cursors on
    (endpoint_id, id), the order of the ix_webhook_deliveries_endpoint index)."""
    stmt = sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return keyset_page(stmt, (WebhookDelivery.endpoint_id, WebhookDelivery.id), cursor,
                       per_page=size, descending=True,
                       parse_key=lambda key: [int(key[0]), int(key[1])],
                       row_key=lambda row: (row[0].endpoint_id, row[0].id),
                       row_item=lambda row: row[0])


def deliveries_with_status(endpoint_id: int, status: WebhookDeliveryStatus,
                           ) -> list[WebhookDelivery]:
    """All of an endpoint's deliveries in `status`, oldest first (replaying the failed)."""
    return list(db.session.scalars(sa.select(WebhookDelivery).filter_by(
        endpoint_id=endpoint_id, status=status).order_by(WebhookDelivery.id)))


def any_active_endpoint() -> bool:
    return db.session.scalar(
        sa.select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True)).limit(1)
    ) is not None


def endpoints_for(event_type: str) -> list[WebhookEndpoint]:
    """Active endpoints subscribed to `event_type`. `events` is a JSON list: filtered here, not
    in SQL (a handful of endpoints; JSON containment differs between the databases)."""
    rows = db.session.scalars(
        sa.select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
        .order_by(WebhookEndpoint.id)
    )  # fmt: skip
    return [e for e in rows if event_type in (e.events or [])]
