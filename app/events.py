"""Domain events: what happened, recorded with the change, reacted to after the commit.

Services call `emit(SomeEvent(...))` inside the transaction that makes the change. That adds a
`domain_events` row to the same transaction, so an event exists if and only if its change was
committed, and survives a process killed right after the commit. Features react by subscribing
(`@subscribe(EditionSent)` in their `subscribers.py`, imported by `register_subscribers` in the
app factory); the code that emits never knows who listens.

Dispatch, exactly once per subscriber:

* After the commit, the committing process offers its events to every subscriber at once (the
  Session hooks of app.after_commit, shared with app.mail's outbox); the scheduler's "domain
  events" job offers any event still undispatched after EVENTS_DISPATCH_DELAY_SECONDS (process
  killed between commit and dispatch, subscriber retries that are due).
* Each subscriber runs in a transaction of its own (a fresh app context, so a fresh session)
  that first writes its `event_deliveries` marker (unique per event and subscriber), then runs
  the subscriber: its effects (mail_outbox rows, a new edition) and the marker commit together.
  A second dispatcher finds the marker (or waits for it on the unique key) and skips.
* A subscriber that raises is logged, its transaction rolled back, and retried with exponential
  backoff (EVENTS_RETRY_BASE_SECONDS .. EVENTS_RETRY_MAX_SECONDS, EVENTS_MAX_ATTEMPTS); it never
  affects the action that emitted the event nor the other subscribers.
* An event whose subscribers are all settled gets `dispatched_at` (one nobody subscribes to gets
  it when emitted); such rows are pruned after EVENTS_KEEP_DAYS (those with a subscriber that
  failed for good stay for an operator).

Subscriber names (module.function by default) are stored in the markers: renaming a subscriber
makes it a new one for the events not yet dispatched.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import ClassVar
from typing import TypeVar

import sqlalchemy as sa
from flask import Flask
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.after_commit import AfterCommit
from app.database import begin_write
from app.extensions import db
from app.models import DomainEvent
from app.models import EventDelivery
from app.models import EventDeliveryStatus
from app.models import utcnow

log = logging.getLogger(__name__)
_current_event_id: ContextVar[int | None] = ContextVar("fgf_event_id", default=None)

BATCH = 200
ERROR_MAX = 2000
PENDING_KEY = "feelgood.events.pending"
COMMITTED_KEY = "feelgood.events.committed"
D = EventDeliveryStatus



# -- the events ------------------------------------------------------------------------------------

EVENT_TYPES: dict[str, type[Event]] = {}


@dataclass(frozen=True)
class Event:
    """Base of every event: a dataclass of JSON-able fields, registered under its `name`."""

    name: ClassVar[str]

    def __init_subclass__(cls, *, name: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:
            cls.name = name
            EVENT_TYPES[name] = cls

    def payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        """Fields this code knows; a field added later with a default reads old rows too."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in names})


@dataclass(frozen=True)
class SubmissionSubmitted(Event, name="submission.submitted"):
    item_kind: str  # "story" | "quote"
    item_id: int
    author_id: int
    resubmitted: bool = False


@dataclass(frozen=True)
class ChangesRequested(Event, name="submission.changes_requested"):
    item_kind: str
    item_id: int
    actor_id: int
    note: str


@dataclass(frozen=True)
class SubmissionApproved(Event, name="submission.approved"):
    item_kind: str
    item_id: int
    actor_id: int
    edition_id: int


@dataclass(frozen=True)
class SubmissionRejected(Event, name="submission.rejected"):
    item_kind: str
    item_id: int
    actor_id: int
    reason: str


@dataclass(frozen=True)
class SubmissionPublished(Event, name="submission.published"):
    item_kind: str
    item_id: int
    author_id: int
    edition_id: int


@dataclass(frozen=True)
class SubmissionWithdrawn(Event, name="submission.withdrawn"):
    """The author took a draft or an item under review back (it is now "withdrawn").
    `previous_status`: draft, submitted or changes_requested, which a later reader of the row
    cannot tell."""

    item_kind: str
    item_id: int
    actor_id: int
    previous_status: str


@dataclass(frozen=True)
class ColleagueFeatured(Event, name="colleague.featured"):
    """A story naming a colleague's account went out (one event per colleague and story)."""

    user_id: int
    story_id: int
    edition_id: int


@dataclass(frozen=True)
class EditionScheduled(Event, name="edition.scheduled"):
    edition_id: int
    number: int
    actor_id: int | None  # None: the scheduler or the CLI promoted the draft
    automatic: bool = False


@dataclass(frozen=True)
class EditionSent(Event, name="edition.sent"):
    edition_id: int
    number: int
    story_ids: list[int] = field(default_factory=list)  # published by this edition
    quote_ids: list[int] = field(default_factory=list)
    sent: int = 0
    failed: int = 0


@dataclass(frozen=True)
class EditionDueSoon(Event, name="edition.due_soon"):
    """The editors' reminder is due: the edition is empty or items wait for review."""

    edition_id: int
    number: int
    due_at: str  # ISO 8601, UTC
    waiting: int
    items: int


@dataclass(frozen=True)
class EditionMissed(Event, name="edition.missed"):
    """An edition's send time passed beyond the grace period; the week was given up."""

    edition_id: int
    number: int
    due_at: str
    noticed_at: str


@dataclass(frozen=True)
class PersonInvited(Event, name="person.invited"):
    user_id: int
    actor_id: int | None
    role: str


@dataclass(frozen=True)
class CommentPosted(Event, name="comment.posted"):
    """Someone commented on a published story (its author and colleagues are told)."""

    comment_id: int
    story_id: int
    author_id: int  # who wrote the comment


# -- subscribers ---------------------------------------------------------------------------------

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_type: type[Event]
    handler: Callable[[Any], None]
    # Asked when the event is emitted (in its transaction): False means "nothing to do for this
    # one", so an event no subscriber wants costs no transactions after the commit.
    when: Callable[[Any], bool] | None = None


_subscribers: dict[str, dict[str, Subscriber]] = {}


def subscribe(
    event_type: type[E], *, name: str | None = None, when: Callable[[E], bool] | None = None
) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Register the decorated function to run once per `event_type` event, after its commit.
    `when(event)`, if given, is asked at emit: while it says False for every subscriber, the
    event is recorded as dispatched at once (e.g. webhooks while no endpoint is registered).
    When another subscriber wants the event, this one still runs (and may find nothing to do)."""

    def decorate(handler: Callable[[E], None]) -> Callable[[E], None]:
        key = name or f"{handler.__module__}.{handler.__qualname__}"
        if len(key) > 120:
            raise ValueError(f"subscriber name {key!r} is longer than 120 characters")
        _subscribers.setdefault(event_type.name, {})[key] = Subscriber(
            key, event_type, handler, when)
        return handler

    return decorate


def unsubscribe(event_type: type[Event], name: str) -> None:
    _subscribers.get(event_type.name, {}).pop(name, None)


def subscribers_for(event_name: str) -> list[Subscriber]:
    return list(_subscribers.get(event_name, {}).values())


# -- emitting ------------------------------------------------------------------------------------


def emit(event: Event) -> DomainEvent:
    """Record `event` in the current transaction; it is dispatched after that transaction commits.

    Call it where the change is made, inside its transaction: a rolled-back transaction (or
    savepoint) takes the event with it, so nobody reacts to a change that did not happen.
    """
    session = db.session()
    if not session.in_transaction():
        raise RuntimeError(f"emit({event.name}) outside a transaction: emit with the change")
    now = utcnow()
    row = DomainEvent(name=event.name, payload=event.payload(), created_at=now)
    session.add(row)
    if not any(s.when is None or s.when(event) for s in subscribers_for(event.name)):
        # Nobody listens (yet), or nobody wants this one: the row is the record for later
        # integrations, and there is nothing to dispatch, so no extra transactions after the
        # commit.
        row.dispatched_at = now
        return row
    _after_commit.record(session, row)
    return row


def init_app(app: Flask) -> None:
    """Attach the session hooks that dispatch events after the commit (create_app's chain)."""
    _after_commit.listen()


# -- dispatching ---------------------------------------------------------------------------------


@dataclass
class DispatchStats:
    done: int = 0  # subscriber runs that succeeded now
    failed: int = 0  # failed now (retried later, or given up)
    waiting: int = 0  # a retry not due yet, or another process is on it
    events: int = 0  # events offered
    pruned: int = 0


def dispatch(
    event_ids: Sequence[int],
    *,
    now: datetime | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DispatchStats:
    """Offer these committed events to every subscriber that has not handled them yet.

    Runs in a fresh app context, so its session (and every subscriber's transaction) is
    independent of whatever session the caller holds. `now` fixes the clock (tests).
    """
    stats = DispatchStats()
    if not event_ids:
        return stats
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with app.app_context():
        rows = db.session.execute(
            sa.select(DomainEvent.id, DomainEvent.name, DomainEvent.payload)
            .where(DomainEvent.id.in_(list(event_ids)), DomainEvent.dispatched_at.is_(None))
            .order_by(DomainEvent.id)
        ).all()
        db.session.commit()
        for row in rows:
            if should_stop is not None and should_stop():
                break
            _dispatch_one(row.id, row.name, row.payload, now, stats)
    return stats


# Dispatches this process's events once their transaction commits; the scheduler does the rest.
_after_commit = AfterCommit(
    pending_key=PENDING_KEY,
    committed_key=COMMITTED_KEY,
    handle=dispatch,
    log=log,
    doing="dispatching",
    noun="event(s)",
)


def _dispatch_one(
    event_id: int, name: str, payload: dict[str, Any], now: datetime | None, stats: DispatchStats
) -> None:
    event_type = EVENT_TYPES.get(name)
    if event_type is None:
        log.warning("event %d: unknown event %r left undispatched", event_id, name)
        return
    stats.events += 1
    event = event_type.from_payload(payload)
    settled = True
    for subscriber in subscribers_for(name):
        outcome = _run(subscriber, event_id, event, now or utcnow())
        if outcome.ran:
            stats.done += outcome.status is D.DONE
            stats.failed += outcome.status is not D.DONE
        elif outcome.status is D.PENDING:
            stats.waiting += 1
        settled = settled and outcome.status is not D.PENDING
    if settled:
        _mark_dispatched(event_id, now or utcnow())


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: EventDeliveryStatus  # PENDING: to be retried, not due yet, or someone else has it
    ran: bool = False  # the subscriber ran in this call (and succeeded or failed)


def _run(subscriber: Subscriber, event_id: int, event: Event, now: datetime) -> _Outcome:
    """One subscriber, one event, one transaction holding both its effects and its marker."""
    session = db.session()
    begin_write()
    delivery = session.scalar(
        sa.select(EventDelivery)
        .where(EventDelivery.event_id == event_id, EventDelivery.subscriber == subscriber.name)
        .with_for_update()
    )
    if delivery is not None:
        if delivery.status is not D.PENDING:
            session.commit()
            return _Outcome(delivery.status)
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            session.commit()
            return _Outcome(D.PENDING)
        delivery.attempts += 1
    else:
        delivery = EventDelivery(event_id=event_id, subscriber=subscriber.name, attempts=1)
        session.add(delivery)
    attempts = delivery.attempts
    delivery.status, delivery.done_at = D.DONE, now
    delivery.last_error = delivery.next_attempt_at = None
    try:
        session.flush()  # the claim: a concurrent dispatcher now waits for us, then skips
    except IntegrityError:
        session.rollback()
        return _Outcome(D.PENDING)
    handling = _current_event_id.set(event_id)
    try:
        subscriber.handler(event)
        session.commit()
    except Exception as exc:
        session.rollback()
        return _Outcome(_record_failure(subscriber, event_id, event, attempts, exc, now), True)
    finally:
        _current_event_id.reset(handling)
    return _Outcome(D.DONE, True)


def current_event_id() -> int | None:
    """The `domain_events` row id of the event a subscriber is handling (None outside one):
    a stable key for effects that must happen once per event (a webhook delivery per endpoint),
    even for two events with identical payloads."""
    return _current_event_id.get()


def _record_failure(
    subscriber: Subscriber, event_id: int, event: Event, attempts: int, exc: Exception,
    now: datetime,
) -> EventDeliveryStatus:
    """Log the failure and store when to retry (or that we gave up), in a new transaction."""
    session = db.session()
    maximum = current_app.config["EVENTS_MAX_ATTEMPTS"]
    delay = min(current_app.config["EVENTS_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1),
                current_app.config["EVENTS_RETRY_MAX_SECONDS"])
    gave_up = attempts >= maximum
    log.error(
        "event %d (%s): subscriber %s failed (attempt %d of %d)%s",
        event_id, event.name, subscriber.name, attempts, maximum,
        "; giving up" if gave_up else f"; retry in {delay} s", exc_info=exc,
    )  # fmt: skip
    status = D.FAILED if gave_up else D.PENDING
    values = {
        "status": status,
        "attempts": attempts,
        "last_error": f"{type(exc).__name__}: {exc}"[:ERROR_MAX],
        "next_attempt_at": None if gave_up else now + timedelta(seconds=delay),
        "done_at": None,
    }
    try:
        begin_write()
        delivery = session.scalar(
            sa.select(EventDelivery)
            .where(EventDelivery.event_id == event_id,
                   EventDelivery.subscriber == subscriber.name)
            .with_for_update()
        )
        if delivery is None:
            session.add(EventDelivery(event_id=event_id, subscriber=subscriber.name, **values))
        elif delivery.status is D.DONE:  # another process ran it meanwhile
            session.commit()
            return D.DONE
        else:
            for key, value in values.items():
                setattr(delivery, key, value)
        session.commit()
    except Exception:
        session.rollback()
        log.exception("event %d: recording the failure of %s failed", event_id, subscriber.name)
        return D.PENDING
    return status


def _mark_dispatched(event_id: int, now: datetime) -> None:
    table = DomainEvent.__table__
    begin_write()
    db.session.execute(
        sa.update(table)
        .where(table.c.id == event_id, table.c.dispatched_at.is_(None))
        .values(dispatched_at=now)
    )
    db.session.commit()


# -- the scheduler job and housekeeping ------------------------------------------------------------


def run_events(
    now: datetime | None = None, *, should_stop: Callable[[], bool] | None = None
) -> DispatchStats:
    """One tick of the scheduler's "domain events" job: events their process did not dispatch
    (older than EVENTS_DISPATCH_DELAY_SECONDS, so a live process gets to do it first), retries
    that are due, then pruning."""
    clock = now or utcnow()
    cutoff = clock - timedelta(seconds=current_app.config["EVENTS_DISPATCH_DELAY_SECONDS"])
    stats = DispatchStats()
    after_id = 0
    while not (should_stop is not None and should_stop()):
        ids = list(db.session.scalars(
            sa.select(DomainEvent.id)
            .where(DomainEvent.dispatched_at.is_(None), DomainEvent.created_at <= cutoff,
                   DomainEvent.id > after_id)
            .order_by(DomainEvent.id)
            .limit(BATCH)
        ))
        db.session.commit()
        if not ids:
            break
        after_id = ids[-1]
        batch = dispatch(ids, now=now, should_stop=should_stop)
        for name in ("done", "failed", "waiting", "events"):
            setattr(stats, name, getattr(stats, name) + getattr(batch, name))
    stats.pruned = prune_events(clock)
    if stats.done or stats.failed:
        log.info("domain events: %d event(s) offered, %d subscriber run(s) done, %d failed, "
                 "%d waiting", stats.events, stats.done, stats.failed, stats.waiting)
    return stats


def prune_events(now: datetime | None = None, *, keep_days: int | None = None) -> int:
    """Delete dispatched events older than EVENTS_KEEP_DAYS, except those a subscriber failed
    for good (an operator may want to see or retry them)."""
    now = now or utcnow()
    keep = current_app.config["EVENTS_KEEP_DAYS"] if keep_days is None else keep_days
    events, deliveries = DomainEvent.__table__, EventDelivery.__table__
    failed = sa.select(deliveries.c.event_id).where(deliveries.c.status == D.FAILED)
    old = sa.select(events.c.id).where(
        events.c.dispatched_at < now - timedelta(days=keep), events.c.id.not_in(failed)
    )
    with db.engine.begin() as conn:
        conn.execute(sa.delete(deliveries).where(deliveries.c.event_id.in_(old)))
        result = conn.execute(sa.delete(events).where(events.c.id.in_(old)))
    if result.rowcount:
        log.info("domain events: %d dispatched event(s) older than %d days pruned",
                 result.rowcount, keep)
    return result.rowcount
