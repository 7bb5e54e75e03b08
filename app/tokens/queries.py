"""Reads of API tokens: the one the API's guard finds by hash, a person's own list, the admins'
list of every API token (keyset-paginated, filtered), and one token by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.admin.queries import Page
from app.admin.queries import newest_first_page
from app.errors import NotFound
from app.extensions import db
from app.models import AccessToken
from app.models import User
from app.models import utcnow
from app.tokens.scopes import API_PURPOSES
from app.tokens.scopes import PERSONAL
from app.tokens.scopes import SERVICE

ACTIVE = "active"
REVOKED = "revoked"
EXPIRED = "expired"
KINDS = ("all", PERSONAL, SERVICE)
STATUSES = ("all", ACTIVE, REVOKED, EXPIRED)
PER_PAGE = 25
INACTIVE_SHOWN = 50  # a person's list shows this many revoked or expired tokens, newest first


def api_token_for_secret(token_hash: str) -> AccessToken | None:
    """The usable API token with this hash (not revoked, not expired), with its person loaded;
    None otherwise. Whether its person may still use it is `scopes.grants`'s decision."""
    token = db.session.scalar(
        sa.select(AccessToken)
        .options(joinedload(AccessToken.user))
        .where(
            AccessToken.token_hash == token_hash,
            AccessToken.purpose.in_(API_PURPOSES),
            AccessToken.revoked_at.is_(None),
        )
    )
    if token is None or (token.expires_at is not None and token.expires_at <= utcnow()):
        return None
    return token


def active_condition(now: datetime) -> sa.ColumnElement[bool]:
    """Not revoked and not expired at `now`: the tokens that count towards a person's cap."""
    return sa.and_(
        AccessToken.revoked_at.is_(None),
        sa.or_(AccessToken.expires_at.is_(None), AccessToken.expires_at > now),
    )


def status(token: AccessToken, now: datetime | None = None) -> str:
    """"active", "revoked" or "expired" (revoked wins: it was a decision, expiry a date)."""
    if token.revoked_at is not None:
        return REVOKED
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return EXPIRED
    return ACTIVE


def tokens_of(user: User) -> list[AccessToken]:
    """The person's personal tokens: every active one (newest first), then the latest revoked
    or expired ones, so the list stays short however many were made over the years."""
    now = utcnow()
    mine = sa.select(AccessToken).where(
        AccessToken.purpose == PERSONAL, AccessToken.user_id == user.id
    )
    newest = (AccessToken.created_at.desc(), AccessToken.id.desc())
    active = db.session.scalars(mine.where(active_condition(now)).order_by(*newest))
    inactive = db.session.scalars(
        mine.where(sa.not_(active_condition(now))).order_by(*newest).limit(INACTIVE_SHOWN)
    )
    return [*active, *inactive]


def get_api_token(token_id: int, purpose: str | None = None) -> AccessToken:
    """The API token (of `purpose`, if given) with this id; NotFound for any other token
    (a SCIM or feed token is not reachable through the API token pages)."""
    token = db.session.get(AccessToken, token_id)
    wanted = (purpose,) if purpose else API_PURPOSES
    if token is None or token.purpose not in wanted:
        raise NotFound("There is no such token.")
    return token


def person_by_email(email: str) -> User | None:
    """The account with this (normalised) email address, active or not."""
    return db.session.scalar(sa.select(User).where(User.email == email))


# The admins' list --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """The admin list's filters, from the query string; unknown values mean "all"."""

    kind: str = "all"
    status: str = "all"

    @classmethod
    def parse(cls, kind: str | None, status: str | None) -> Filters:
        return cls(kind if kind in KINDS else "all", status if status in STATUSES else "all")


def _filtered(filters: Filters, now: datetime) -> sa.Select[Any]:
    stmt = sa.select(AccessToken).options(
        joinedload(AccessToken.user), joinedload(AccessToken.created_by)
    )
    kinds = API_PURPOSES if filters.kind == "all" else (filters.kind,)
    stmt = stmt.where(AccessToken.purpose.in_(kinds))
    if filters.status == ACTIVE:
        stmt = stmt.where(active_condition(now))
    elif filters.status == REVOKED:
        stmt = stmt.where(AccessToken.revoked_at.is_not(None))
    elif filters.status == EXPIRED:
        stmt = stmt.where(
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at.is_not(None),
            AccessToken.expires_at <= now,
        )
    return stmt


def api_tokens(filters: Filters, cursor: str | None = None,
               per_page: int = PER_PAGE) -> Page[AccessToken]:
    """A page of every API token (personal and service), newest first. Keyset-paginated on
    (created_at, id) like the audit log, so a page costs the same at any depth and none is
    skipped or repeated when tokens are made between clicks; a malformed cursor gives the first
    page."""
    return newest_first_page(_filtered(filters, utcnow()), AccessToken, cursor,
                             per_page=per_page)
