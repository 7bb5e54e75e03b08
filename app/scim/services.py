"""SCIM writes: people and teams as an identity provider sees them, and the provisioning tokens.

Plain functions with explicit arguments, like the rest of the app: they apply the people rules
(email normalisation, name cleaning, the last-administrator guard of app.admin.services), raise
domain errors or SCIM errors the views turn into SCIM error responses, and add audit events to
the caller's transaction. Writes by a provisioning client have no user: their audit events name
the token instead (`token` in the details). The caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from scim2_models import InvalidValueException
from scim2_models import UniquenessException

from app import audit
from app.admin.services import TEAM_NAME_MAX
from app.admin.services import is_last_admin
from app.auth.services import normalize_email
from app.errors import Conflict
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db
from app.models import AccessToken
from app.models import Team
from app.models import User
from app.models import utcnow
from app.models.users import new_security_stamp
from app.privacy.erasure import erase_person
from app.scim import queries
from app.text import clean_text
from app.tokens.services import hash_token  # the one hashing of bearer tokens (tests use it)

TOKEN_PREFIX = "fgf_scim_"  # noqa: S105 - recognisable in logs and scanners
TOKEN_NAME_MAX = 120
DISPLAY_NAME_MAX = 120
EXTERNAL_ID_MAX = 255


# Tokens ------------------------------------------------------------------------------------------
def create_token(name: str, *, actor: User) -> tuple[AccessToken, str]:
    """A new token and its secret, which is shown once and stored only as a SHA-256 hash."""
    cleaned = clean_text(name, name=True)
    if not cleaned:
        raise ValidationError("Name the token after the identity provider that will use it.")
    if len(cleaned) > TOKEN_NAME_MAX:
        raise ValidationError(f"Use at most {TOKEN_NAME_MAX} characters.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = AccessToken(
        purpose=queries.TOKEN_PURPOSE,
        name=cleaned,
        prefix=secret[: len(TOKEN_PREFIX) + 4],
        token_hash=hash_token(secret),
        created_by=actor,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "scim.token.create", token, object_type="access_token", name=cleaned)
    return token, secret


def revoke_token(token: AccessToken, *, actor: User) -> None:
    if token.revoked_at is not None:
        raise Conflict(f"The token {token.name!r} is already revoked.")
    token.revoked_at = utcnow()
    audit.record(actor, "scim.token.revoke", token, object_type="access_token", name=token.name)


def get_token(token_id: int) -> AccessToken:
    token = db.session.get(AccessToken, token_id)
    if token is None or token.purpose != queries.TOKEN_PURPOSE:
        raise NotFound("There is no such token.")
    return token


# People ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonData:
    """What a provisioning client says about a person (SCIM User)."""

    user_name: str
    display_name: str
    active: bool
    external_id: str | None


@dataclass(frozen=True)
class TeamData:
    """What a provisioning client says about a team (SCIM Group); members are user ids."""

    display_name: str
    external_id: str | None
    members: list[int] | None  # None: leave the members as they are


def _refuse_controls(value: str, what: str) -> None:
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise InvalidValueException(detail=f"{what} contains control characters.")


def _clean_name(value: str, what: str, limit: int) -> str:
    _refuse_controls(value, what)
    name = clean_text(value, name=True)
    if not name:
        raise InvalidValueException(detail=f"{what} is empty.")
    if len(name) > limit:
        raise InvalidValueException(detail=f"{what} is longer than {limit} characters.")
    return name


def _clean_external_id(value: str | None) -> str | None:
    if value is None:
        return None
    _refuse_controls(value, "externalId")
    if not value.strip():
        return None
    if len(value) > EXTERNAL_ID_MAX:
        raise InvalidValueException(
            detail=f"externalId is longer than {EXTERNAL_ID_MAX} characters."
        )
    return value


def _clean_email(value: str) -> str:
    _refuse_controls(value, "userName")
    try:
        return normalize_email(value)
    except ValidationError:
        raise InvalidValueException(
            detail="userName must be the person's email address (the newsletter's address)."
        ) from None


def _check_unique(
    model: type[User] | type[Team],
    row: User | Team | None,
    holder: User | Team | None,
    external_id: str | None,
    name_taken: str,
    noun: str,
) -> None:
    """`row` (None: a new one) may take its natural key, now held by `holder`, and `external_id`
    only when no other row of `model` (a `noun`) has them."""
    if holder is not None and holder is not row:
        raise UniquenessException(detail=name_taken)
    if external_id is None:
        return
    clash = db.session.scalar(
        sa.select(model.id).where(
            model.external_id == external_id, model.id != (row.id if row else 0)
        )
    )
    if clash is not None:
        raise UniquenessException(detail=f"Another {noun} already has this externalId.")


def _check_user_unique(email: str, external_id: str | None, user: User | None) -> None:
    taken = f"{email} already has an account."
    _check_unique(User, user, queries.user_by_email(email), external_id, taken, "person")


def _details(token: AccessToken, **values: object) -> dict[str, object]:
    return {"token": token.name, **values}


def _apply(row: User | Team, values: dict[str, tuple[str, object]]) -> dict[str, object]:
    """Set each attribute that differs (`values`: audit key -> (attribute, new value)); returns
    the changes as the audit trail records them, {key: {"from": old, "to": new}}."""
    changes: dict[str, object] = {}
    for key, (attribute, value) in values.items():
        old = getattr(row, attribute)
        if value != old:
            changes[key] = {"from": old, "to": value}
            setattr(row, attribute, value)
    return changes


def create_user(data: PersonData, *, token: AccessToken) -> tuple[User, bool]:
    """A new person, or one deleted through SCIM earlier coming back (same userName): their
    stories and recognitions are still theirs. Returns the person and whether they came back."""
    email = _clean_email(data.user_name)
    name = _clean_name(data.display_name, "displayName", DISPLAY_NAME_MAX)
    external_id = _clean_external_id(data.external_id)
    existing = queries.user_by_email(email)
    if existing is not None and queries.user_is_hidden(existing):
        _check_user_unique(email, external_id, existing)
        existing.display_name = name
        existing.external_id = external_id
        existing.is_active_user = data.active
        audit.record(None, "scim.user.restore", existing, **_details(token, email=email))
        return existing, True
    _check_user_unique(email, external_id, None)
    user = User(email=email, display_name=name, external_id=external_id, is_active_user=data.active)
    db.session.add(user)
    db.session.flush()
    audit.record(None, "scim.user.create", user, **_details(token, email=email))
    return user, False


def update_user(user: User, data: PersonData, *, token: AccessToken) -> dict[str, object]:
    """Apply a PUT (or the result of a PATCH); returns what changed."""
    email = _clean_email(data.user_name)
    name = _clean_name(data.display_name, "displayName", DISPLAY_NAME_MAX)
    external_id = _clean_external_id(data.external_id)
    _check_user_unique(email, external_id, user)
    changes = _apply(
        user,
        {
            "email": ("email", email),
            "name": ("display_name", name),
            "external_id": ("external_id", external_id),
        },
    )
    if changes:
        audit.record(None, "scim.user.update", user, **_details(token, **changes))
    if data.active != user.is_active_user:
        if data.active:
            user.is_active_user = True
            audit.record(None, "user.reactivate", user, **_details(token))
        else:
            _deactivate(user, token=token, action="user.deactivate")
        changes["active"] = data.active
    return changes


def _deactivate(user: User, *, token: AccessToken, action: str) -> None:
    """The admin pages' rule: signed out everywhere, no more email, content kept; never the last
    active administrator."""
    if is_last_admin(user):
        raise Conflict(
            f"{user.display_name} is the last active administrator and cannot be deactivated. "
            "Make someone else an administrator first."
        )
    user.is_active_user = False
    user.security_stamp = new_security_stamp()  # voids sessions and open links
    audit.record(None, action, user, **_details(token))


def delete_user(user: User, *, token: AccessToken) -> None:
    """SCIM DELETE: the person is erased (app/privacy/erasure.py, under the admins' privacy
    settings) and answers 404 from then on; the same userName later makes a new account, never
    the erased one back. A provider that only offboards sends `active: false` instead (a
    deactivation, reversible). Never the last active administrator (409)."""
    erase_person(user, actor=None, via="scim", token_name=token.name)


# Teams -------------------------------------------------------------------------------------------
def _check_team_unique(name: str, external_id: str | None, team: Team | None) -> None:
    taken = f"There is already a team called {name!r}."
    _check_unique(Team, team, queries.team_by_name(name), external_id, taken, "team")


def _members(ids: list[int]) -> list[User]:
    visible = queries.visible_users(set(ids))
    if len(visible) != len(set(ids)):
        raise InvalidValueException(detail="A member is not a known User.")
    return visible


def _set_members(team: Team, ids: list[int], *, token: AccessToken) -> None:
    """A person has one team: joining this one moves them out of any other."""
    wanted = {p.id: p for p in _members(ids)}
    current = {p.id: p for p in queries.team_members(team)}
    for person_id, person in current.items():
        if person_id not in wanted:
            person.team = None
    joined = [p for person_id, p in wanted.items() if person_id not in current]
    for person in joined:
        person.team = team
    left = sorted(set(current) - set(wanted))
    if joined or left:
        audit.record(
            None,
            "scim.group.members",
            team,
            **_details(token, joined=sorted(p.id for p in joined), left=left),
        )


def create_team(data: TeamData, *, token: AccessToken) -> tuple[Team, bool]:
    """A new team, or one deleted through SCIM earlier coming back under the same name."""
    name = _clean_name(data.display_name, "displayName", TEAM_NAME_MAX)
    external_id = _clean_external_id(data.external_id)
    existing = queries.team_by_name(name)
    restored = existing is not None and queries.team_is_hidden(existing)
    if restored:
        team = existing
        _check_team_unique(name, external_id, team)
        team.name, team.external_id = name, external_id
        audit.record(None, "scim.group.restore", team, **_details(token, name=name))
    else:
        _check_team_unique(name, external_id, None)
        team = Team(name=name, external_id=external_id)
        db.session.add(team)
        db.session.flush()
        audit.record(None, "scim.group.create", team, **_details(token, name=name))
    if data.members is not None:
        _set_members(team, data.members, token=token)
    return team, restored


def update_team(team: Team, data: TeamData, *, token: AccessToken) -> None:
    name = _clean_name(data.display_name, "displayName", TEAM_NAME_MAX)
    external_id = _clean_external_id(data.external_id)
    _check_team_unique(name, external_id, team)
    changes = _apply(team, {"name": ("name", name), "external_id": ("external_id", external_id)})
    if changes:
        audit.record(None, "scim.group.update", team, **_details(token, **changes))
    if data.members is not None:
        _set_members(team, data.members, token=token)


def delete_team(team: Team, *, token: AccessToken) -> None:
    """SCIM DELETE: the team stays (its stories keep it) but leaves SCIM; its members no longer
    have a team, since the provider no longer groups them."""
    _set_members(team, [], token=token)
    team.external_id = None
    audit.record(None, queries.GROUP_DELETED, team, **_details(token, name=team.name))
