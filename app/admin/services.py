"""Administrative writes: people, roles, teams, touchpoints and settings.

Plain functions with explicit arguments; they raise domain errors (app.errors) and add an audit
event to the caller's transaction. The caller commits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import Address
from email.headerregistry import HeaderRegistry
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError
from email_validator import validate_email
from sqlalchemy.exc import IntegrityError

from app import audit
from app.auth import services as auth
from app.errors import Conflict
from app.errors import NotFound
from app.errors import ValidationError
from app.events import PersonInvited
from app.events import emit
from app.extensions import db
from app.models import Role
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.models.users import new_security_stamp
from app.settings import SETTINGS
from app.settings import set_settings
from app.text import clean_text
from app.timezones import EXAMPLE
from app.timezones import canonical_zone

TEAM_NAME_MAX = 80
TOUCHPOINT_LABEL_MAX = 80
SLUG_MAX = 40


# People ------------------------------------------------------------------------------------------
def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such person.")
    return user


def get_team(team_id: int | None) -> Team | None:
    """The team for a form's select value; 0/None means "no team"."""
    if not team_id:
        return None
    team = db.session.get(Team, team_id)
    if team is None:
        raise ValidationError("That team does not exist any more.")
    return team


def invite(
    email: str, display_name: str, *, role: Role, team_id: int | None, actor: User
) -> User:
    """Create the account and queue the invitation email (sent after the caller commits; it is
    essential, so it goes straight to the mail outbox rather than through notifications)."""
    team = get_team(team_id)
    try:
        with db.session.begin_nested():
            user = auth.invite_user(email, display_name, role=role, team=team, actor=actor)
    except IntegrityError:
        # Two admins inviting the same address at the same moment: the unique index decides.
        raise ValidationError(f"{email.strip()} already has an account.") from None
    emit(PersonInvited(user_id=user.id, actor_id=actor.id, role=user.role.value))
    return user


def _other_active_admin_ids(user: User, *, lock: bool = True) -> list[int]:
    """Active admins other than `user`; with `lock`, their rows stay locked until commit.

    The lock makes "is there another admin?" and the demotion one decision: on PostgreSQL two
    admins demoting each other at once are serialized and the second sees it would leave nobody
    (Conflict). SQLite ignores FOR UPDATE, but a request that writes begins with the write lock
    (app/database.py): the second waits for the first to commit, then sees it.
    """
    stmt = (
        sa.select(User.id)
        .where(User.role == Role.ADMIN, User.is_active_user.is_(True))
        .order_by(User.id)
    )
    ids = db.session.scalars(stmt.with_for_update() if lock else stmt).all()
    return [i for i in ids if i != user.id]


def is_last_admin(user: User, *, lock: bool = True) -> bool:
    """The one rule: the last active administrator can be neither demoted nor deactivated
    (used by the admin pages and by SCIM provisioning)."""
    return (
        user.role == Role.ADMIN
        and user.is_active_user
        and not _other_active_admin_ids(user, lock=lock)
    )


def deactivation_blocker(user: User, *, actor: User) -> str | None:
    """Why `actor` may not deactivate `user` (for the confirmation page), or None."""
    if user.id == actor.id:
        return "You cannot deactivate your own account."
    if is_last_admin(user, lock=False):
        return f"{user.display_name} is the last active administrator and cannot be deactivated."
    return None


def update_user(user: User, *, role: Role, team_id: int | None, actor: User) -> dict[str, Any]:
    """Change a person's role and team; returns what changed (empty when nothing did)."""
    team = get_team(team_id)
    changes: dict[str, Any] = {}
    if role != user.role:
        if role != Role.ADMIN and is_last_admin(user):
            raise Conflict(
                f"{user.display_name} is the last active administrator. "
                "Make someone else an administrator first."
            )
        changes["role"] = {"from": user.role.value, "to": role.value}
        user.role = role
    if (team.id if team else None) != user.team_id:
        changes["team"] = {
            "from": user.team.name if user.team else None,
            "to": team.name if team else None,
        }
        user.team = team
    if changes:
        audit.record(actor, "user.update", user, **changes)
    return changes


def deactivate_user(user: User, *, actor: User) -> None:
    """Sign the person out everywhere and stop their access and email; their content stays."""
    if not user.is_active_user:
        raise Conflict(f"{user.display_name} is already deactivated.")
    if user.id == actor.id:
        raise Conflict("You cannot deactivate your own account.")
    if is_last_admin(user):
        raise Conflict(
            f"{user.display_name} is the last active administrator and cannot be deactivated."
        )
    user.is_active_user = False
    # A new stamp voids sessions, remember-me cookies and open links, even after reactivation.
    user.security_stamp = new_security_stamp()
    audit.record(actor, "user.deactivate", user)


def reactivate_user(user: User, *, actor: User) -> None:
    if user.erased_at is not None:
        raise Conflict("This person was erased: the account cannot be reactivated.")
    if user.is_active_user:
        raise Conflict(f"{user.display_name} is already active.")
    user.is_active_user = True
    audit.record(actor, "user.reactivate", user)


def resend_invite(user: User, *, actor: User) -> None:
    auth.resend_invite(user, actor=actor)


# Teams and touchpoints: two catalogues, one implementation ------------------------------------
def _flush_unique(message: str) -> None:
    """Flush inside a savepoint so a concurrent duplicate becomes a clear error, not a 500."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise ValidationError(message) from None


def _no_columns(_name: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Catalogue:
    """A list of named things the admins keep (teams, touchpoints). Each row has one name,
    cleaned like any name and unique whatever its case; creating and renaming are audited as
    `<noun>.create` and `<noun>.rename`."""

    model: type[Team] | type[Touchpoint]
    name_field: str  # the column (and form field) holding the name: "name", "label"
    noun: str
    max_length: int
    missing: str  # the message for an empty name
    new_columns: Callable[[str], dict[str, Any]] = _no_columns  # a new row's other columns
    audited: tuple[str, ...] = ()  # which of those the creation's audit event records

    def clean(self, value: str, *, exclude_id: int | None = None) -> str:
        name = clean_text(value, name=True)
        if not name:
            raise ValidationError(self.missing)
        if len(name) > self.max_length:
            raise ValidationError(f"Use at most {self.max_length} characters.")
        column = getattr(self.model, self.name_field)
        clash = db.session.scalar(
            sa.select(self.model.id).where(
                sa.func.lower(column) == name.lower(), self.model.id != (exclude_id or 0)
            )
        )
        if clash is not None:
            raise ValidationError(self._taken(name))
        return name

    def _taken(self, name: str) -> str:
        return f"There is already a {self.noun} called {name!r}."

    def create(self, value: str, *, actor: User) -> Team | Touchpoint:
        name = self.clean(value)
        columns = self.new_columns(name)
        row = self.model(**{self.name_field: name}, **columns)
        db.session.add(row)
        _flush_unique(self._taken(name))
        details = {self.name_field: name, **{key: columns[key] for key in self.audited}}
        audit.record(actor, f"{self.noun}.create", row, **details)
        return row

    def rename(self, row: Team | Touchpoint, value: str, *, actor: User) -> None:
        name = self.clean(value, exclude_id=row.id)
        old = getattr(row, self.name_field)
        if name == old:
            return
        setattr(row, self.name_field, name)
        _flush_unique(self._taken(name))
        audit.record(actor, f"{self.noun}.rename", row, **{"from": old, "to": name})


def slugify(text: str, fallback: str = "touchpoint") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or fallback


def unique_slug(
    label: str, column: Any = Touchpoint.slug, fallback: str = "touchpoint"
) -> str:
    """A slug made from `label` that `column` does not hold yet ("store", "store-2", ...)."""
    base = slugify(label, fallback)
    taken = set(
        db.session.scalars(sa.select(column).where(column.startswith(base, autoescape=True)))
    )
    slug, n = base, 2
    while slug in taken:
        suffix = f"-{n}"
        slug, n = base[: SLUG_MAX - len(suffix)] + suffix, n + 1
    return slug


def _new_touchpoint(label: str) -> dict[str, Any]:
    """A new touchpoint goes at the end of the list; its slug is derived once, never changed."""
    last = db.session.scalar(sa.select(sa.func.max(Touchpoint.position)))
    return {"slug": unique_slug(label), "position": (last or 0) + 1, "is_active": True}


TEAMS = Catalogue(Team, "name", "team", TEAM_NAME_MAX, "Enter a team name.")
TOUCHPOINTS = Catalogue(
    Touchpoint,
    "label",
    "touchpoint",
    TOUCHPOINT_LABEL_MAX,
    "Enter a label.",
    new_columns=_new_touchpoint,
    audited=("slug",),
)


def _ordered_touchpoints() -> list[Touchpoint]:
    return list(
        db.session.scalars(sa.select(Touchpoint).order_by(Touchpoint.position, Touchpoint.id))
    )


def move_touchpoint(touchpoint: Touchpoint, direction: str, *, actor: User) -> bool:
    """Swap with the neighbour ("up" or "down"); positions are renumbered 0..n-1 so duplicate
    positions (e.g. from the initial data) never linger.

    Returns False (and changes nothing) when the touchpoint is already first or last.
    """
    if direction not in ("up", "down"):
        raise ValidationError("Choose up or down.")
    ordered = _ordered_touchpoints()
    index = ordered.index(touchpoint)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(ordered):
        return False
    ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, item in enumerate(ordered):
        if item.position != position:
            item.position = position
    audit.record(actor, "touchpoint.move", touchpoint, direction=direction, position=other)
    return True


def set_touchpoint_active(touchpoint: Touchpoint, active: bool, *, actor: User) -> None:
    """Deactivated touchpoints leave the forms but stay on the stories that use them."""
    if touchpoint.is_active == active:
        return
    touchpoint.is_active = active
    audit.record(actor, "touchpoint.reactivate" if active else "touchpoint.deactivate", touchpoint)


# Settings ----------------------------------------------------------------------------------------
def clean_sender(value: str) -> str:
    """'Display Name <address>' (or a bare address), normalised; refuses line breaks.

    Parsed with the email package's strict header parser: lenient parsing would quietly turn
    "Doe, Jane <j@x.com>" into two senders or drop trailing text.
    """
    text = SETTINGS["sender"].validate(value)
    if not text:
        raise ValidationError("Enter the sender, e.g. Feel Good Fridays <fgf@example.com>.")
    header = HeaderRegistry()("From", text)
    if len(header.addresses) != 1 or header.defects:
        raise ValidationError(
            'Write one sender as Name <address@example.com>; put a name containing a comma '
            'in quotes.'
        )
    name, address = header.addresses[0].display_name, header.addresses[0].addr_spec
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationError(f"{address!r} is not a valid email address.") from None
    return str(Address(display_name=name, addr_spec=address)) if name else address


def _padded_hour(value: Any) -> Any:
    """Pad a one-digit hour (9:30 → 09:30); the settings' 24-hour rule refuses 9am or 25:00."""
    text = str(value or "").strip()
    return "0" + text if re.fullmatch(r"\d:[0-5]\d", text) else value


def check_setting(key: str, value: Any) -> Any:
    """The cleaned value, or ValidationError when it is not acceptable for the setting `key`."""
    if key == "sender":
        return clean_sender(value)
    if key == "timezone":
        zone = canonical_zone(value)
        if zone is None:
            raise ValidationError(f"Choose the organization’s time zone ({EXAMPLE}).")
        return zone
    if key in ("send_time", "nudge_time"):
        value = _padded_hour(value)
    try:
        return SETTINGS[key].validate(value)
    except (TypeError, ValueError):
        raise ValidationError("Enter a whole number.") from None


def update_settings(values: dict[str, Any], *, actor: User) -> dict[str, Any]:
    """Validate every value first, then write all of them or none; returns what changed."""
    cleaned, errors = {}, {}
    for key, value in values.items():
        try:
            cleaned[key] = check_setting(key, value)
        except ValidationError as error:
            errors[key] = error.message
    if errors:
        raise SettingsInvalid(errors)
    return set_settings(cleaned, actor=actor)


class SettingsInvalid(ValidationError):
    """Several settings failed validation; `errors` maps each key to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("Some settings are not valid: " + "; ".join(errors.values()))
        self.errors = errors
