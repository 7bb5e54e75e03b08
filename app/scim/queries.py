"""Reads for SCIM: which people and teams a provisioning client sees, by id, filter and page.

A SCIM DELETE erases a person (app/privacy/erasure.py: `erased_at` set, or the row gone) or
detaches a team, and from then on the resource answers 404 as RFC 7644 §3.6 requires; an erased
person is never shown again. Teams (and people deleted before erasure existed, when DELETE only
deactivated) are "deleted" when the audit trail (app/audit.py) says so, not a column: the
deletion's audit event, unless a later one brought the row back (an admin reactivating the
person, the provider creating the same userName or group again). A person who is active is
never hidden, whatever the trail says, unless erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from scim2_models import InvalidFilterException
from scim2_models import ScimFilter
from scim2_models.path.expressions import CompareOperator
from scim2_models.path.expressions import Comparison
from scim2_models.path.expressions import FilterNode
from scim2_models.path.expressions import LogicalExpr
from scim2_models.path.expressions import LogicalOperator
from scim2_models.path.expressions import ValuePath

from app.directory import team_by_name  # noqa: F401 (the SCIM services use them from here)
from app.directory import user_by_email  # noqa: F401
from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.models import Team
from app.models import User
from app.numbers import INT_MAX

USER_DELETED = "scim.user.delete"
USER_REVIVED = ("user.reactivate", "scim.user.restore")
GROUP_DELETED = "scim.group.delete"
GROUP_REVIVED = ("scim.group.restore",)
TOKEN_PURPOSE = "scim"  # noqa: S105 - a label, not a secret


def _last_event(object_type: str, id_column: Any, actions: tuple[str, ...]) -> Any:
    return (
        sa.select(sa.func.max(AuditEvent.id))
        .where(
            AuditEvent.object_type == object_type,
            AuditEvent.object_id == id_column,
            AuditEvent.action.in_(actions),
        )
        .scalar_subquery()
    )


def _user_visible() -> Any:
    deleted_at = _last_event("user", User.id, (USER_DELETED,))
    revived_at = _last_event("user", User.id, USER_REVIVED)
    return sa.and_(
        User.erased_at.is_(None),  # erased (app/privacy): gone for good, whatever else happens
        sa.or_(
            User.is_active_user.is_(True),
            deleted_at.is_(None),
            deleted_at < sa.func.coalesce(revived_at, 0),
        ),
    )


def _team_visible() -> Any:
    deleted_at = _last_event("team", Team.id, (GROUP_DELETED,))
    revived_at = _last_event("team", Team.id, GROUP_REVIVED)
    return sa.or_(deleted_at.is_(None), deleted_at < sa.func.coalesce(revived_at, 0))


def row_id(resource_id: str) -> int | None:
    """A SCIM id is the row's id as text; anything else names no row."""
    text = str(resource_id)
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= INT_MAX else None


def find_user(resource_id: str) -> User | None:
    number = row_id(resource_id)
    if number is None:
        return None
    return db.session.scalar(sa.select(User).where(User.id == number, _user_visible()))


def find_team(resource_id: str) -> Team | None:
    number = row_id(resource_id)
    if number is None:
        return None
    return db.session.scalar(sa.select(Team).where(Team.id == number, _team_visible()))


def user_is_hidden(user: User) -> bool:
    """Deleted through SCIM (and not brought back since)."""
    return db.session.scalar(sa.select(_user_visible()).where(User.id == user.id)) is False


def visible_users(ids: set[int]) -> list[User]:
    """The accounts among `ids` that SCIM still shows (one query, however many)."""
    return list(db.session.scalars(sa.select(User).where(User.id.in_(ids), _user_visible())))


def team_is_hidden(team: Team) -> bool:
    return db.session.scalar(sa.select(_team_visible()).where(Team.id == team.id)) is False


def team_members(team: Team) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User).where(User.team_id == team.id, _user_visible()).order_by(User.id)
        )
    )


# Filters -----------------------------------------------------------------------------------------
USER_FILTERS = "userName eq, emails.value eq, externalId eq, id eq, active eq"
GROUP_FILTERS = "displayName eq, externalId eq, id eq"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidFilterException(detail="Compare with a quoted string.")
    return value


def _user_condition(name: str, value: Any) -> Any:
    if name in ("username", "emails.value", "emails"):
        return User.email == User.normalize_email(_text(value))
    if name == "externalid":
        return User.external_id == _text(value)
    if name == "id":
        number = row_id(_text(value))
        return User.id == number if number is not None else sa.false()
    if name == "active":
        if not isinstance(value, bool):
            raise InvalidFilterException(detail="active compares with true or false.")
        return User.is_active_user.is_(value)
    return None


def _team_condition(name: str, value: Any) -> Any:
    if name == "displayname":
        return sa.func.lower(Team.name) == _text(value).lower()
    if name == "externalid":
        return Team.external_id == _text(value)
    if name == "id":
        number = row_id(_text(value))
        return Team.id == number if number is not None else sa.false()
    return None


def _condition(node: FilterNode, column_for: Any, supported: str) -> Any:
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        return sa.and_(*(_condition(term, column_for, supported) for term in node.terms))
    if isinstance(node, ValuePath) and isinstance(node.val_filter, Comparison):
        inner = node.val_filter
        if node.attr_path.uri is None and inner.op == CompareOperator.eq:
            name = f"{node.attr_path.attr}.{inner.attr_path.attr}".lower()
            condition = column_for(name, inner.value)
            if condition is not None:
                return condition
    if isinstance(node, Comparison) and node.op == CompareOperator.eq:
        path = node.attr_path
        name = path.attr.lower() + (f".{path.sub_attr.lower()}" if path.sub_attr else "")
        condition = column_for(name, node.value)
        if condition is not None:
            return condition
    raise InvalidFilterException(
        detail=f"This filter is not supported. Supported: {supported} (joined with 'and')."
    )


def parse_filter(text: str | None, column_for: Any, supported: str) -> Any:
    """The SQL condition for a SCIM `filter`, or InvalidFilterException (400 invalidFilter)."""
    if text is None or not text.strip():
        return sa.true()
    if len(text) > 1000:
        raise InvalidFilterException(detail="The filter is too long.")
    return _condition(ScimFilter(text).ast, column_for, supported)


# Lists -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    total: int
    start_index: int
    rows: list[Any]


def _page(model: Any, condition: Any, start_index: int, count: int) -> Page:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(model).where(condition))
    rows: list[Any] = []
    if count > 0 and start_index <= (total or 0):
        rows = list(
            db.session.scalars(
                sa.select(model)
                .where(condition)
                .order_by(model.id)
                .offset(start_index - 1)
                .limit(count)
            )
        )
    return Page(total=total or 0, start_index=start_index, rows=rows)


def list_users(filter_text: str | None, start_index: int, count: int) -> Page:
    condition = parse_filter(filter_text, _user_condition, USER_FILTERS)
    return _page(User, sa.and_(condition, _user_visible()), start_index, count)


def list_teams(filter_text: str | None, start_index: int, count: int) -> Page:
    condition = parse_filter(filter_text, _team_condition, GROUP_FILTERS)
    return _page(Team, sa.and_(condition, _team_visible()), start_index, count)


def members_by_team(team_ids: list[int]) -> dict[int, list[int]]:
    """Member ids of each team, in one query for a whole page of groups."""
    members: dict[int, list[int]] = {team_id: [] for team_id in team_ids}
    if not team_ids:
        return members
    rows = db.session.execute(
        sa.select(User.team_id, User.id)
        .where(User.team_id.in_(team_ids), _user_visible())
        .order_by(User.id)
    )
    for team_id, user_id in rows:
        members[team_id].append(user_id)
    return members


# Tokens ------------------------------------------------------------------------------------------
def token_by_hash(token_hash: str) -> AccessToken | None:
    return db.session.scalar(
        sa.select(AccessToken).where(
            AccessToken.token_hash == token_hash,
            AccessToken.purpose == TOKEN_PURPOSE,
            AccessToken.revoked_at.is_(None),
        )
    )


def tokens() -> list[AccessToken]:
    return list(
        db.session.scalars(
            sa.select(AccessToken)
            .where(AccessToken.purpose == TOKEN_PURPOSE)
            .order_by(AccessToken.revoked_at.is_not(None), AccessToken.created_at.desc())
        )
    )
