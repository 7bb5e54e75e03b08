"""A person's own profile: name, team, time zone, email preferences per kind, password.

Plain functions with explicit arguments; they raise domain errors and add audit events to the
caller's transaction. The caller commits.
"""

from __future__ import annotations

from typing import Any

from app import audit
from app.auth import services as auth
from app.errors import ValidationError
from app.extensions import db
from app.mail import send_email_after_commit
from app.models import Team
from app.models import User
from app.models import utcnow
from app.notifications import preferences
from app.notifications.kinds import WEEKLY
from app.notifications.kinds import Kind
from app.text import clean_text
from app.timezones import canonical_zone
from app.web.urls import absolute_url

DISPLAY_NAME_MAX = auth.DISPLAY_NAME_MAX


class FieldError(ValidationError):
    """A validation error that belongs to one form field (`field` is the field's name)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def clean_timezone(value: str | None) -> str | None:
    """An IANA zone name (canonical spelling), or None for "use the organization's time zone"."""
    return canonical_zone(value)


def update_profile(
    user: User,
    *,
    display_name: str,
    team_id: int | None,
    timezone: str | None,
    weekly_email: bool,
) -> dict[str, Any]:
    """Apply the profile form; returns the changes (each also recorded in the audit log)."""
    display_name = clean_text(display_name, name=True)
    if not display_name:
        raise FieldError("display_name", "Enter your name.")
    if len(display_name) > DISPLAY_NAME_MAX:
        raise FieldError("display_name", f"Use at most {DISPLAY_NAME_MAX} characters.")
    team = db.session.get(Team, team_id) if team_id else None
    if team_id and team is None:
        raise FieldError("team", "That team does not exist any more.")
    try:
        timezone = clean_timezone(timezone)
    except ValidationError as error:
        raise FieldError("timezone", error.message) from None

    changes: dict[str, Any] = {}
    if display_name != user.display_name:
        changes["display_name"] = {"from": user.display_name, "to": display_name}
        user.display_name = display_name
    if user.team_id != (team.id if team else None):
        changes["team"] = {"from": user.team.name if user.team else None, "to": team and team.name}
        user.team = team
    if timezone != user.timezone:
        changes["timezone"] = {"from": user.timezone, "to": timezone}
        user.timezone = timezone
    if changes:
        audit.record(user, "user.update_profile", user, **changes)
    if set_weekly_email(user, weekly_email):
        changes["weekly_email"] = {"from": not weekly_email, "to": weekly_email}
    return changes


def set_weekly_email(user: User, enabled: bool) -> bool:
    """Subscribe or unsubscribe `user` from the weekly email; returns True when it changed.

    This is also how people who used an unsubscribe link come back.
    """
    return preferences.set_preference(user, WEEKLY, enabled)


def update_notifications(user: User, choices: dict[str, bool]) -> list[str]:
    """Apply the notification checkboxes (kind key -> on); returns the keys that changed.

    Only kinds this person can receive and switch count: anything else in `choices` is ignored,
    so a crafted form cannot switch off an essential email.
    """
    changed = []
    for kind in preferences.visible_kinds(user):
        if kind.essential or kind is WEEKLY or kind.key not in choices:
            continue
        if preferences.set_preference(user, kind, bool(choices[kind.key]), via="profile"):
            changed.append(kind.key)
    return changed


def turn_off(user: User, kind: Kind, *, via: str) -> bool:
    """The footer link / List-Unsubscribe: switch one kind off, no sign-in needed."""
    return preferences.set_preference(user, kind, False, via=via)


def change_password(user: User, *, current: str, new: str) -> None:
    """Change the password (signing out other sessions) and tell the owner by email.

    The new password is checked first, so a weak one is reported without spending a slow
    password hash on the current one.
    """
    try:
        auth.check_password_policy(new, email=user.email)
    except ValidationError as error:
        raise FieldError("password", error.message) from None
    try:
        auth.change_password(user, current, new)
    except ValidationError as error:
        raise FieldError("current", error.message) from None
    send_email_after_commit(
        user.email,
        "Your Feel Good Fridays password was changed",
        "account_password_changed",
        user=user,
        when=utcnow(),
        reset_link=absolute_url("auth.forgot_password"),
    )
