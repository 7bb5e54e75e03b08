"""Who wants which kind of notification: one switch per person and kind.

The weekly edition's switch is `users.email_opt_out` (what the newsletter's recipient query and
its one-click unsubscribe have always used); every other kind is a `notification_preferences`
row, or the kind's default while there is none. Essential kinds cannot be switched off.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import audit
from app.extensions import db
from app.models import NotificationPreference
from app.models import User
from app.models import utcnow
from app.notifications.kinds import KINDS
from app.notifications.kinds import WEEKLY
from app.notifications.kinds import Kind


def visible_kinds(user: User) -> list[Kind]:
    """The kinds this person can receive (editor reminders only for editors)."""
    return [k for k in KINDS.values() if not k.editors_only or user.is_editor]


def is_enabled(user: User, kind: Kind) -> bool:
    if kind.essential:
        return True
    if kind is WEEKLY:
        return not user.email_opt_out
    enabled = db.session.scalar(
        sa.select(NotificationPreference.enabled).where(
            NotificationPreference.user_id == user.id, NotificationPreference.kind == kind.key
        )
    )
    return kind.default if enabled is None else enabled


def preferences_for(user: User) -> dict[str, bool]:
    """Every kind's current state for `user` (one query)."""
    stored = dict(
        db.session.execute(
            sa.select(NotificationPreference.kind, NotificationPreference.enabled).where(
                NotificationPreference.user_id == user.id
            )
        ).all()
    )
    result = {key: stored.get(key, kind.default) for key, kind in KINDS.items()}
    result[WEEKLY.key] = not user.email_opt_out
    result.update({key: True for key, kind in KINDS.items() if kind.essential})
    return result


def set_preference(user: User, kind: Kind, enabled: bool, *, via: str | None = None) -> bool:
    """Switch one kind on or off for `user`; True when it changed (and was audited).

    `via` says where ("profile", "unsubscribe_link", "one_click") in the audit trail. Adds to
    the caller's transaction; the caller commits.
    """
    if kind.essential:
        raise ValueError(f"{kind.key} notifications are always sent")
    if kind is WEEKLY:
        if enabled == (not user.email_opt_out):
            return False
        user.email_opt_out = not enabled
        user.opted_out_at = None if enabled else utcnow()
        audit.record(user, "user.email_opt_in" if enabled else "user.email_opt_out", user,
                     via=via)
        return True
    row = db.session.get(NotificationPreference, (user.id, kind.key))
    if (row.enabled if row is not None else kind.default) == enabled:
        return False
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    NotificationPreference(user_id=user.id, kind=kind.key, enabled=enabled)
                )
        except IntegrityError:  # a second click of the same link got there first
            row = db.session.get(
                NotificationPreference, (user.id, kind.key), populate_existing=True
            )
    if row is not None:
        row.enabled = enabled
        row.updated_at = utcnow()
    audit.record(user, "user.notifications_on" if enabled else "user.notifications_off", user,
                 kind=kind.key, via=via)
    return True
