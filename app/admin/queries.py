"""Reads for the admin pages: people, teams, touchpoints, the audit log, the next send time.

Lists use keyset pagination (WHERE (sort key, id) > last seen), so a page costs the same at any
depth and does not skip or repeat rows when people are added between clicks. Cursors are opaque
base64 tokens; a malformed one simply yields the first page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any
from typing import Generic
from typing import TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import AuditEvent
from app.models import Role
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.models.base import LabeledEnum
from app.numbers import bounded_int

T = TypeVar("T")
USERS_PER_PAGE = 25
AUDIT_PER_PAGE = 50


# Keyset pagination -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    prev_cursor: str | None = None


def encode_cursor(direction: str, key: Sequence[Any]) -> str:
    raw = json.dumps([direction, list(key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str | None) -> tuple[str, list[Any]] | None:
    """("after" | "before", key values) or None for a missing or tampered cursor."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        direction, key = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        return None
    if direction not in ("after", "before") or not isinstance(key, list) or len(key) != 2:
        return None
    return direction, key


def _beyond(columns: tuple[Any, Any], key: Sequence[Any], *, forward: bool) -> sa.ColumnElement:
    """Rows strictly after `key` in the (columns) order; `forward=False` for strictly before.

    Spelled out rather than a row-value comparison so SQLite and PostgreSQL read it the same.
    """
    first, second = columns
    if forward:
        return sa.or_(first > key[0], sa.and_(first == key[0], second > key[1]))
    return sa.or_(first < key[0], sa.and_(first == key[0], second < key[1]))


def keyset_page(
    stmt: sa.Select,
    columns: tuple[Any, Any],
    cursor: str | None,
    *,
    per_page: int,
    descending: bool = False,
    parse_key: Callable[[list[Any]], Sequence[Any]] = lambda key: key,
    row_key: Callable[[Any], Sequence[Any]],
    row_item: Callable[[Any], T] = lambda row: row,
) -> Page[T]:
    """One page of `stmt` ordered by `columns`, before or after the position in `cursor`.

    `row_key` gives the cursor values of a result row; `parse_key` turns a decoded cursor back
    into bind values (e.g. ISO strings into datetimes); `row_item` picks what the page holds.
    """
    decoded = decode_cursor(cursor)
    direction, key = decoded if decoded else ("after", None)
    if key is not None:
        try:
            key = parse_key(key)
        except (TypeError, ValueError):
            direction, key = "after", None
    backwards = direction == "before"
    # Walking backwards = reading the reversed order from the cursor, then flipping the page.
    reverse = descending != backwards
    order = [c.desc() if reverse else c.asc() for c in columns]
    if key is not None:
        stmt = stmt.where(_beyond(columns, key, forward=not reverse))
    rows = list(db.session.execute(stmt.order_by(*order).limit(per_page + 1)))
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()
    if not rows:
        return Page([])
    has_next = more if not backwards else True
    has_prev = more if backwards else key is not None
    return Page(
        items=[row_item(r) for r in rows],
        next_cursor=encode_cursor("after", row_key(rows[-1])) if has_next else None,
        prev_cursor=encode_cursor("before", row_key(rows[0])) if has_prev else None,
    )


# People ------------------------------------------------------------------------------------------
class UserStatus(LabeledEnum):
    ACTIVE = "active"
    INVITED = "invited"
    DEACTIVATED = "deactivated"


def newest_first_page(stmt: sa.Select, model: type[T], cursor: str | None, *,
                      per_page: int) -> Page[T]:
    """A page of `stmt` (which selects `model` first) newest first, keyed on (created_at, id):
    the audit log's and the API tokens' order, a page costing the same at any depth."""
    return keyset_page(
        stmt,
        (model.created_at, model.id),
        cursor,
        per_page=per_page,
        descending=True,
        parse_key=lambda key: (datetime.fromisoformat(key[0]).astimezone(UTC),
                               bounded_int(key[1])),
        row_key=lambda row: (row[0].created_at.isoformat(), row[0].id),
        row_item=lambda row: row[0],
    )


def user_status(user: User) -> UserStatus:
    if not user.is_active_user:
        return UserStatus.DEACTIVATED
    return UserStatus.ACTIVE if user.has_password else UserStatus.INVITED


@dataclass(frozen=True)
class UserFilters:
    q: str = ""
    role: Role | None = None
    team_id: int | None = None
    status: UserStatus | None = None

    @property
    def active(self) -> bool:
        return bool(self.q or self.role or self.team_id or self.status)


def _contains(column: Any, text: str) -> sa.ColumnElement:
    return sa.func.lower(column).contains(text.lower(), autoescape=True)


def list_users(
    filters: UserFilters, cursor: str | None = None, *, per_page: int = USERS_PER_PAGE
) -> Page[User]:
    """People ordered by name (case-insensitive), then id; search matches name or email."""
    sort_name = sa.func.lower(User.display_name)
    stmt = sa.select(User, sort_name.label("sort_name")).options(joinedload(User.team))
    if filters.q.strip():
        q = filters.q.strip()
        stmt = stmt.where(sa.or_(_contains(User.display_name, q), _contains(User.email, q)))
    if filters.role:
        stmt = stmt.where(User.role == filters.role)
    if filters.team_id:
        stmt = stmt.where(User.team_id == filters.team_id)
    if filters.status == UserStatus.DEACTIVATED:
        stmt = stmt.where(User.is_active_user.is_(False))
    elif filters.status == UserStatus.INVITED:
        stmt = stmt.where(User.is_active_user.is_(True), User.password_hash.is_(None))
    elif filters.status == UserStatus.ACTIVE:
        stmt = stmt.where(User.is_active_user.is_(True), User.password_hash.is_not(None))
    return keyset_page(
        stmt,
        (sort_name, User.id),
        cursor,
        per_page=per_page,
        parse_key=lambda key: (str(key[0]), bounded_int(key[1])),
        row_key=lambda row: (row.sort_name, row.User.id),
        row_item=lambda row: row.User,
    )


def team_choices() -> list[tuple[int, str]]:
    return [(t.id, t.name) for t in db.session.scalars(sa.select(Team).order_by(Team.name))]


@dataclass(frozen=True)
class TeamRow:
    team: Team
    members: int


def teams_with_counts() -> list[TeamRow]:
    """Every team with its number of active members, in one query."""
    members = (
        sa.select(sa.func.count(User.id))
        .where(User.team_id == Team.id, User.is_active_user.is_(True))
        .scalar_subquery()
    )
    rows = db.session.execute(sa.select(Team, members.label("members")).order_by(Team.name))
    return [TeamRow(row.Team, row.members) for row in rows]


def touchpoints() -> list[Touchpoint]:
    return list(
        db.session.scalars(sa.select(Touchpoint).order_by(Touchpoint.position, Touchpoint.id))
    )


# Audit log ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    tz: str = "UTC"

    @property
    def active(self) -> bool:
        return bool(
            self.actor
            or self.action
            or self.object_type
            or self.object_id
            or self.date_from
            or self.date_to
        )


def _local_midnight_utc(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def list_audit_events(
    filters: AuditFilters, cursor: str | None = None, *, per_page: int = AUDIT_PER_PAGE
) -> Page[AuditEvent]:
    """Newest first. Dates are whole days in the organization's time zone, both inclusive."""
    stmt = sa.select(AuditEvent).options(joinedload(AuditEvent.actor))
    actor = filters.actor.strip()
    if actor:
        matching = sa.select(User.id).where(
            sa.or_(_contains(User.display_name, actor), _contains(User.email, actor))
        )
        stmt = stmt.where(AuditEvent.actor_id.in_(matching))
    if filters.action.strip():
        stmt = stmt.where(AuditEvent.action.startswith(filters.action.strip(), autoescape=True))
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == filters.object_id)
    if filters.date_from:
        start = _local_midnight_utc(filters.date_from, filters.tz)
        stmt = stmt.where(AuditEvent.created_at >= start)
    if filters.date_to:
        end = _local_midnight_utc(filters.date_to + timedelta(days=1), filters.tz)
        stmt = stmt.where(AuditEvent.created_at < end)
    return newest_first_page(stmt, AuditEvent, cursor, per_page=per_page)


def audit_object_types() -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.object_type).distinct().order_by(AuditEvent.object_type)
        )
    )


@dataclass(frozen=True)
class DetailLine:
    label: str
    value: str
    nested: list[DetailLine] = field(default_factory=list)


def _humanize(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "(none)"
    return str(value)


def describe_details(details: dict[str, Any] | None) -> list[DetailLine]:
    """An event's JSON details as labelled lines; {"from", "to"} pairs read as "a → b"."""
    lines = []
    for key, value in (details or {}).items():
        if isinstance(value, dict) and set(value) == {"from", "to"}:
            change = f"{_text(value['from'])} → {_text(value['to'])}"
            lines.append(DetailLine(_humanize(key), change))
        elif isinstance(value, dict):
            lines.append(DetailLine(_humanize(key), "", describe_details(value)))
        else:
            lines.append(DetailLine(_humanize(key), _text(value)))
    return lines


# Schedule ----------------------------------------------------------------------------------------
def parse_hhmm(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


def next_weekly_occurrence(now_utc: datetime, weekday: int, hhmm: str, tz: str) -> datetime:
    """The first `weekday` (0=Monday) at wall time `hhmm` in `tz` strictly after `now_utc`, in UTC.

    The wall time is kept across DST changes (09:00 stays 09:00 local, so its UTC time moves).
    A time skipped by a spring-forward gap (e.g. 02:30) happens the same number of minutes after
    the gap (03:30); a time repeated in autumn happens at its first occurrence.
    """
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    zone = ZoneInfo(tz)
    at = parse_hhmm(hhmm)
    today = now_utc.astimezone(zone).date()
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() != weekday:
            continue
        # fold=0: zoneinfo resolves gaps with the pre-transition offset (shifting forward)
        # and ambiguous times to their first occurrence.
        candidate = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if candidate > now_utc:
            return candidate
    raise AssertionError("unreachable: a weekday recurs within 8 days")  # pragma: no cover
