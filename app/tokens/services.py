"""Writes of API tokens: create (personal or service), revoke, record a use; and the one
definition of how a token is hashed, shared by every kind of bearer token (SCIM's too).

A token's secret is returned once, by the function that creates it, and never stored: the row
keeps its SHA-256 hash (to find it) and its first characters (to tell tokens apart in lists).
Plain functions with explicit arguments raising domain errors; they add audit events to the
caller's transaction, and the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app import audit
from app.errors import Conflict
from app.errors import PermissionDenied
from app.errors import ValidationError
from app.extensions import db
from app.models import AccessToken
from app.models import Role
from app.models import User
from app.models import utcnow
from app.text import clean_text
from app.tokens import scopes as scope_rules
from app.tokens.queries import active_condition
from app.tokens.queries import person_by_email
from app.tokens.scopes import PERSONAL
from app.tokens.scopes import SERVICE

__all__ = [
    "create_personal_token",
    "acting_person",
    "create_service_token",
    "expiry_from_choice",
    "hash_token",
    "may_revoke",
    "revoke_token",
    "touch",
]

TOKEN_PREFIX = "fgf_"  # noqa: S105 - recognisable in logs and secret scanners
SECRET_PREFIXES = {PERSONAL: "fgf_pat_", SERVICE: "fgf_svc_"}
PREFIX_SHOWN = 4  # characters of the random part kept (with the kind's prefix) for the lists
NAME_MAX = 120
MAX_LIFETIME = timedelta(days=731)  # two years, a leap day included
ACTIVE_CAP = 50  # active tokens of one kind acting as one person
EXPIRY_DAYS = (30, 90, 365)  # the form's ready-made lifetimes
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token
_CONTROLS = frozenset(chr(c) for c in (*range(32), *range(127, 160)))


# Hashing and use ---------------------------------------------------------------------------------
def hash_token(token: str) -> str:
    """The stored form of any bearer token (API, SCIM): SHA-256 is enough for 256-bit random
    secrets, and lets a request's token be found with one indexed lookup."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def touch(token: AccessToken, now: datetime | None = None) -> bool:
    """Record the use; at most once a minute, so a busy client does not write on every request.
    Returns whether the token changed (the caller then needs a write transaction)."""
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return False
    token.last_used_at = now
    return True


# Validation --------------------------------------------------------------------------------------
def _clean_name(name: object) -> str:
    if not isinstance(name, str):
        raise ValidationError("Name the token.", field="name")
    if len(name) > NAME_MAX * 4:  # refused before any cleaning work
        raise ValidationError(f"Use at most {NAME_MAX} characters.", field="name")
    if any(c in _CONTROLS for c in name):
        # Refused, not silently dropped: a name is typed, and what is stored should be what
        # the person sees they sent.
        raise ValidationError("The name contains control characters.", field="name")
    cleaned = clean_text(name, name=True)
    if not cleaned:
        raise ValidationError(
            "Name the token after what will use it, e.g. “Weekly report script”.", field="name"
        )
    if len(cleaned) > NAME_MAX:
        raise ValidationError(f"Use at most {NAME_MAX} characters.", field="name")
    return cleaned


def _clean_scopes(wanted: Iterable[object], allowed: frozenset[str], whose: str) -> str:
    """The scopes as stored: a non-empty subset of `allowed` (else a ValidationError naming
    the first one refused)."""
    chosen: set[str] = set()
    for scope in wanted:
        if not isinstance(scope, str) or scope not in scope_rules.SCOPES:
            raise ValidationError("Choose scopes from the list.", field="scopes")
        if scope not in allowed:
            raise ValidationError(
                f"{whose} may not use the “{scope}” scope, so the token cannot have it.",
                field="scopes",
            )
        chosen.add(scope)
    if not chosen:
        raise ValidationError("Choose at least one scope.", field="scopes")
    return scope_rules.dump(chosen)


def _clean_expiry(expires_at: object, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise ValidationError("Give the expiry as a date and time with its zone.",
                              field="expires_at")
    expires_at = expires_at.astimezone(UTC)
    if expires_at <= now:
        raise ValidationError("The expiry must be in the future.", field="expires_at")
    if expires_at > now + MAX_LIFETIME:
        raise ValidationError("A token may live at most two years: choose an earlier expiry, "
                              "or none.", field="expires_at")
    return expires_at


def expiry_from_choice(
    choice: str, on_date: date | None, *, zone: ZoneInfo, now: datetime | None = None
) -> datetime | None:
    """The expiry the form's choice means: "30"/"90"/"365" days from now, "never", or "date"
    (the token works through `on_date` in the organization's timezone). Refuses what
    `create_*_token` would, before any date arithmetic could overflow (year 9999)."""
    now = now or utcnow()
    if choice == "never":
        return None
    if choice in {str(days) for days in EXPIRY_DAYS}:  # never int() on untrusted text
        return now + timedelta(days=int(choice))
    if choice != "date":
        raise ValidationError("Choose when the token expires.", field="expires")
    if on_date is None:
        raise ValidationError("Give the date the token expires.", field="expires_on")
    if on_date < now.astimezone(zone).date():
        raise ValidationError("The expiry must be in the future.", field="expires_on")
    # The last day allowed ends (the next begins) no later than the longest lifetime allows.
    if on_date >= (now + MAX_LIFETIME).astimezone(zone).date():
        raise ValidationError("A token may live at most two years: choose an earlier date, "
                              "or no expiry.", field="expires_on")
    # Through that whole day: it expires when the next one begins.
    return datetime.combine(on_date + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)


def acting_person(email: object) -> User:
    """The person a service token is to act as, from the email address an admin typed."""
    address = User.normalize_email(email) if isinstance(email, str) else ""
    if len(address) > 320 or any(c in _CONTROLS for c in address) or "@" not in address:
        raise ValidationError("Enter the person's email address.", field="acts_as")
    person = person_by_email(address)
    if person is None:
        raise ValidationError(f"No one here has the address {address}.", field="acts_as")
    return person


def _check_cap(person: User, purpose: str) -> None:
    active = db.session.scalar(
        sa.select(sa.func.count(AccessToken.id)).where(
            AccessToken.purpose == purpose,
            AccessToken.user_id == person.id,
            active_condition(utcnow()),
        )
    )
    if (active or 0) >= ACTIVE_CAP:
        kind = "personal" if purpose == PERSONAL else "service"
        raise Conflict(
            f"{person.display_name} already has {ACTIVE_CAP} active {kind} tokens, the most "
            "one person may have. Revoke the ones no longer used first."
        )


# Create and revoke -------------------------------------------------------------------------------
def _new_token(
    purpose: str, *, name: str, person: User, actor: User, scopes: str, expires_at: datetime | None
) -> tuple[AccessToken, str]:
    secret = SECRET_PREFIXES[purpose] + secrets.token_urlsafe(32)
    token = AccessToken(
        purpose=purpose,
        name=name,
        prefix=secret[: len(SECRET_PREFIXES[purpose]) + PREFIX_SHOWN],
        token_hash=hash_token(secret),
        created_by=actor,
        user=person,
        scopes=scopes,
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        actor,
        "api_token.create",
        token,
        object_type="access_token",
        purpose=purpose,
        name=name,
        scopes=scopes,
        acts_as=person.id,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return token, secret


def create_personal_token(
    user: User, *, name: str, scopes: Iterable[str], expires_at: datetime | None
) -> tuple[AccessToken, str]:
    """A token for the person's own scripts: it acts as them, with scopes their role allows.
    Returns the token and its secret (shown once)."""
    if not user.is_active_user:
        raise PermissionDenied("A deactivated account cannot create tokens.")
    cleaned = _clean_name(name)
    stored_scopes = _clean_scopes(scopes, scope_rules.allowed_for(user), "Your role")
    expiry = _clean_expiry(expires_at, utcnow())
    _check_cap(user, PERSONAL)
    return _new_token(PERSONAL, name=cleaned, person=user, actor=user, scopes=stored_scopes,
                      expires_at=expiry)


def create_service_token(
    *,
    actor: User,
    name: str,
    acts_as: User,
    scopes: Iterable[str],
    expires_at: datetime | None,
) -> tuple[AccessToken, str]:
    """An admin's token for an integration, acting as `acts_as` (whose role bounds the scopes:
    a token acting as an employee cannot curate, whoever made it)."""
    if actor.role != Role.ADMIN or not actor.is_active_user:
        raise PermissionDenied("Only administrators can create service tokens.")
    cleaned = _clean_name(name)
    if not acts_as.is_active_user:
        raise ValidationError(
            f"{acts_as.display_name} is deactivated: a token cannot act as them.", field="acts_as"
        )
    stored_scopes = _clean_scopes(scopes, scope_rules.allowed_for(acts_as), acts_as.display_name)
    expiry = _clean_expiry(expires_at, utcnow())
    _check_cap(acts_as, SERVICE)
    return _new_token(SERVICE, name=cleaned, person=acts_as, actor=actor, scopes=stored_scopes,
                      expires_at=expiry)


def may_revoke(token: AccessToken, actor: User) -> bool:
    """The owner of a personal token, or an active administrator (any API token)."""
    if not actor.is_active_user:
        return False
    if actor.role == Role.ADMIN:
        return True
    return token.purpose == PERSONAL and token.user_id == actor.id


def revoke_token(token: AccessToken, *, actor: User) -> None:
    """Requests with the token are refused from now on; the row stays, for the lists and the
    audit trail. Revoking twice is a Conflict (the second click of a double submit)."""
    if token.purpose not in scope_rules.API_PURPOSES:
        raise PermissionDenied("This is not an API token.")
    if not may_revoke(token, actor):
        raise PermissionDenied("Only the token's owner or an administrator can revoke it.")
    if token.revoked_at is not None:
        raise Conflict(f"The token “{token.name}” is already revoked.")
    token.revoked_at = utcnow()
    audit.record(actor, "api_token.revoke", token, object_type="access_token",
                 purpose=token.purpose, name=token.name, acts_as=token.user_id)
