"""Writes on a person's record made by an admin: name, email, team, manager, reset link.

Plain functions with explicit arguments; they raise domain errors and add an audit event to the
caller's transaction. The caller commits (and, for the reset link, the email follows the commit:
it is queued by app.auth.services, which owns the reset tokens).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import audit
from app.admin.services import get_team
from app.auth import services as auth
from app.directory import EMAIL_MAX
from app.directory import NAME_MAX
from app.directory import user_by_email
from app.errors import Conflict
from app.errors import ValidationError
from app.extensions import db
from app.models import User
from app.models.users import new_security_stamp
from app.text import clean_text

# A chain longer than this is treated as a loop: no real organisation is this deep, and the walk
# must end even if bad data (written outside this service) already holds a cycle.
CHAIN_MAX = 200


class PersonInvalid(ValidationError):
    """Some fields were refused; `errors` maps each form field to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("Please correct the highlighted fields: " + "; ".join(errors.values()))
        self.errors = errors


def _clean_name(value: str) -> str:
    name = clean_text(value, name=True)
    if not name:
        raise ValidationError("Enter the person's name.")
    if len(name) > NAME_MAX:
        raise ValidationError(f"Use at most {NAME_MAX} characters for the name.")
    return name


def _clean_email(value: str, person: User) -> str:
    text = clean_text(value)
    if not text:
        raise ValidationError("Enter the person's work email.")
    if len(text) > EMAIL_MAX:
        raise ValidationError(f"Use at most {EMAIL_MAX} characters for the email.")
    email = auth.normalize_email(text)
    taken = db.session.scalar(sa.select(User.display_name).where(
        User.email == email, User.id != person.id))  # fmt: skip
    if taken is not None:
        raise ValidationError(f"{email} is already the email of {taken}'s account.")
    return email


def active_account(text: str, *, inactive: str, for_update: bool = False) -> User:
    """The active account whose work email is `text`; ValidationError saying there is none,
    or that it is deactivated (then `inactive` says what to do instead)."""
    user = user_by_email(text, for_update=for_update)
    if user is None:
        raise ValidationError(f"There is no account with the email {text[:EMAIL_MAX]}.")
    if not user.is_active_user:
        raise ValidationError(f"{user.display_name}'s account is deactivated; {inactive}")
    return user


def find_manager(value: str | None, person: User) -> User | None:
    """The manager an admin typed (their work email), checked: an existing active account, not
    the person, and not someone the person (directly or not) already manages. Empty: none."""
    text = clean_text(value or "")
    if not text:
        return None
    manager = active_account(text, for_update=True, inactive="choose an active colleague.")
    if manager.id == person.id:
        raise ValidationError("Someone cannot be their own manager.")
    if _manages(person, manager):
        raise ValidationError(
            f"{manager.display_name} reports to {person.display_name} (directly or through "
            "others), so they cannot be their manager: the chain would loop.")
    return manager


def _manages(person: User, other: User) -> bool:
    """Whether `person` is somewhere up `other`'s chain of managers.

    Each row on the chain is read FOR UPDATE, so two admins making A manage B and B manage A at
    the same moment are serialized on PostgreSQL and the second one sees the loop (SQLite's
    writers take turns anyway: app/database.py).
    """
    current, seen = other.manager_id, {other.id}
    while current is not None:
        if current == person.id or current in seen or len(seen) > CHAIN_MAX:
            return True
        seen.add(current)
        current = db.session.scalar(
            sa.select(User.manager_id).where(User.id == current).with_for_update()
        )
    return False


def update_person(
    person: User,
    *,
    display_name: str,
    email: str,
    team_id: int | None,
    manager_email: str | None,
    actor: User,
) -> dict[str, Any]:
    """Change a person's name, email, team and manager together; returns what changed.

    Every field is checked before anything is written, so the form shows all its errors at once.
    A new email also rotates the security stamp: the person's other sessions, remember-me cookies
    and any invitation or reset link already mailed (to the old address) stop working, because
    the address that identifies them changed.
    """
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for key, check in (
        ("display_name", lambda: _clean_name(display_name)),
        ("email", lambda: _clean_email(email, person)),
        ("team", lambda: get_team(team_id)),
        ("manager", lambda: find_manager(manager_email, person)),
    ):
        try:
            cleaned[key] = check()
        except ValidationError as error:
            errors[key] = error.message
    if errors:
        raise PersonInvalid(errors)

    changes: dict[str, Any] = {}
    if cleaned["display_name"] != person.display_name:
        changes["name"] = {"from": person.display_name, "to": cleaned["display_name"]}
        person.display_name = cleaned["display_name"]
    if cleaned["email"] != person.email:
        changes["email"] = {"from": person.email, "to": cleaned["email"]}
        person.email = cleaned["email"]
        person.security_stamp = new_security_stamp()
    team = cleaned["team"]
    if (team.id if team else None) != person.team_id:
        changes["team"] = {"from": person.team.name if person.team else None,
                           "to": team.name if team else None}
        person.team = team
    manager = cleaned["manager"]
    if (manager.id if manager else None) != person.manager_id:
        changes["manager"] = {"from": person.manager.email if person.manager else None,
                              "to": manager.email if manager else None}
        person.manager = manager
    if not changes:
        return changes
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # another admin gave the address to someone else meanwhile
        raise PersonInvalid({"email": f"{cleaned['email']} already has an account."}) from None
    audit.record(actor, "user.update", person, **changes)
    return changes


def send_password_reset(person: User, *, actor: User) -> None:
    """Email the person a password-reset link (the reset flow's own link and email, queued for
    after the commit); the admin's request is audited, the link never shown to them."""
    if not person.is_active_user:
        raise Conflict(f"{person.display_name} is deactivated; reactivate the account first.")
    auth.request_password_reset(person.email)
    audit.record(actor, "user.send_reset", person)
