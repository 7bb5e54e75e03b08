"""A delivery claim takes exactly one batch, on every database, however many rows are pending.

On PostgreSQL, `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` let the
planner re-run the limited subquery and claimed every pending row in one call; these tests count
the rows in `sending` after each claim.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Delivery
from app.models import DeliveryStatus
from app.newsletter import sending
from tests.helpers_sender import seed_edition

NOW = datetime(2026, 6, 5, 7, 0, tzinfo=UTC)


def _prepared_edition(recipients: int) -> int:
    edition = seed_edition(recipients=recipients)
    db.session.commit()
    assert sending.claim_edition(edition.id, now=NOW)
    report = sending.create_deliveries(edition, now=NOW)
    assert report is not None and report.count >= recipients
    return edition.id


def _count(edition_id: int, status: DeliveryStatus) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            .where(Delivery.edition_id == edition_id, Delivery.status == status)
        )


def test_each_claim_takes_one_batch(app):
    edition_id = _prepared_edition(1000)
    total = _count(edition_id, DeliveryStatus.PENDING)
    claimed_ids: list[int] = []
    with db.engine.connect() as conn:
        for call in (1, 2, 3):
            rows = sending._claim_batch(conn, edition_id, NOW, 100)
            assert len(rows) == 100
            assert _count(edition_id, DeliveryStatus.SENDING) == 100 * call
            assert _count(edition_id, DeliveryStatus.PENDING) == total - 100 * call
            claimed_ids += [r.id for r in rows]
    assert len(set(claimed_ids)) == 300  # never the same row twice
    assert claimed_ids == sorted(claimed_ids)  # oldest rows first


def test_a_claim_takes_only_due_rows_and_at_most_what_is_left(app):
    edition_id = _prepared_edition(5)
    total = _count(edition_id, DeliveryStatus.PENDING)
    with db.engine.begin() as conn:
        first = conn.scalar(sa.select(sa.func.min(Delivery.id)).where(
            Delivery.edition_id == edition_id))
        conn.execute(sa.update(Delivery).where(Delivery.id == first)
                     .values(next_attempt_at=NOW + timedelta(minutes=5)))
    with db.engine.connect() as conn:
        rows = sending._claim_batch(conn, edition_id, NOW, 100)
        assert first not in {r.id for r in rows}
        assert len(rows) == total - 1
        assert sending._claim_batch(conn, edition_id, NOW, 100) == []
        later = sending._claim_batch(conn, edition_id, NOW + timedelta(minutes=5), 100)
        assert [r.id for r in later] == [first]


def test_a_claim_skips_rows_another_sender_holds(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks (SKIP LOCKED) exist on PostgreSQL; SQLite serializes writers")
    edition_id = _prepared_edition(300)
    with db.engine.connect() as holder, db.engine.connect() as conn:
        held = holder.scalars(
            sa.select(Delivery.id).where(Delivery.edition_id == edition_id)
            .order_by(Delivery.id).limit(50).with_for_update()
        ).all()
        rows = sending._claim_batch(conn, edition_id, NOW, 100)
        assert len(rows) == 100
        assert not set(held) & {r.id for r in rows}
        assert _count(edition_id, DeliveryStatus.SENDING) == 100
        holder.rollback()
