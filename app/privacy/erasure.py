"""Erasing a person: everything about them goes, or loses their name, in one transaction.

What happens is decided here and nowhere else (the admin page, SCIM DELETE and the confirmation
page's preview all ask this module), under two settings (app/settings.py):

- `erasure_account`: "anonymize" (the default) keeps the row as a shell (the name "A former
  colleague", an `erased-<id>@erased.invalid` address, no password, no identity-provider ids,
  no photo, team, manager or time zone, inactive, `erased_at` set): ids in the history stay
  meaningful and the stories they shared keep an author without naming them. "remove" deletes
  the row; stories that stay need an author, so they move to one shared shell account (created
  once, itself erased and inactive): after that nothing at all tells their stories apart from
  those of any other erased person.
- `erasure_stories`: "keep" (the stories and quotes stay, shown as by "A former colleague" on
  every page, feed, API answer and search result, since they all read the author's name) or
  "remove" (deleted with their revisions; the database removes them from every edition's items,
  so unsent editions lose them. Sent editions keep their frozen HTML: that email is already in
  every inbox, and the archive shows what was sent, as a sent letter stays sent; only the
  person's name in it becomes "a former colleague", whichever the setting).

Always: the recognitions naming them become the free-text name "a former colleague" (the story
stays, their name and the link to their page go); their deliveries, applause, comments (their
words, like applause: deleted, not kept anonymously), notification preferences, API and feed
tokens and emails waiting in the outbox are deleted; their per-person reading events are
anonymized the way the engagement retention does it (the edition's counts stay); audit entries
about them or naming them lose their name and email (ids stay), and one entry records the
erasure with counts only. Photo files go after the commit (the photos feature's
`PhotoDiscarded` subscriber). Search index and reading cache follow through their session hooks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from markupsafe import escape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import InvalidRequestError

from app import audit
from app.admin.services import is_last_admin
from app.database import begin_write
from app.engagement.services import anonymize_person_events
from app.errors import Conflict
from app.errors import NotFound
from app.events import emit
from app.extensions import db
from app.models import AccessToken
from app.models import ApplauseNotice
from app.models import AuditEvent
from app.models import Comment
from app.models import Delivery
from app.models import Edition
from app.models import EngagementEvent
from app.models import NotificationPreference
from app.models import OutboxMessage
from app.models import Quote
from app.models import Reaction
from app.models import Recognition
from app.models import Revision
from app.models import Story
from app.models import User
from app.models import utcnow
from app.models.users import new_security_stamp
from app.photos.services import PhotoDiscarded
from app.settings import get_settings

FORMER_COLLEAGUE = "A former colleague"
RECOGNITION_NAME = "a former colleague"  # as it reads in "with Ana and a former colleague"
ERASED_DOMAIN = "erased.invalid"  # RFC 2606: never deliverable
SHARED_SHELL_EMAIL = f"former-colleague@{ERASED_DOMAIN}"
ERASED_TEXT = "[erased]"
FEED_PURPOSE = "feed"  # feed tokens are owned through created_by_id (app/branding)
VIA = ("admin", "scim")


@dataclass(frozen=True)
class ErasureCounts:
    """What an erasure touches (the confirmation page shows it, the audit entry records it)."""

    stories: int = 0
    quotes: int = 0
    recognitions: int = 0
    comments: int = 0
    reactions: int = 0
    deliveries: int = 0
    reading_events: int = 0
    notification_preferences: int = 0
    tokens: int = 0
    outbox: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def erased_email(user_id: int) -> str:
    return f"erased-{user_id}@{ERASED_DOMAIN}"


def is_erased(user: User) -> bool:
    return user.erased_at is not None


# What it would touch ----------------------------------------------------------------------------
def _count(stmt: sa.Select) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0)


def _tokens_of(user_id: int) -> sa.ColumnElement[bool]:
    return sa.or_(
        AccessToken.user_id == user_id,
        sa.and_(AccessToken.purpose == FEED_PURPOSE, AccessToken.created_by_id == user_id),
    )


def _deliveries_of(user: User) -> sa.ColumnElement[bool]:
    return sa.or_(Delivery.user_id == user.id, Delivery.email == user.email)


def counts(user: User) -> ErasureCounts:
    """What erasing `user` would touch, one COUNT per kind (the confirmation page)."""
    uid = user.id
    return ErasureCounts(
        stories=_count(sa.select(Story.id).where(Story.author_id == uid)),
        quotes=_count(sa.select(Quote.id).where(Quote.author_id == uid)),
        recognitions=_count(sa.select(Recognition.id).where(Recognition.user_id == uid)),
        comments=_count(sa.select(Comment.id).where(Comment.author_id == uid)),
        reactions=_count(sa.select(Reaction.id).where(Reaction.user_id == uid)),
        deliveries=_count(sa.select(Delivery.id).where(_deliveries_of(user))),
        reading_events=_count(sa.select(EngagementEvent.id).where(EngagementEvent.user_id == uid)),
        notification_preferences=_count(
            sa.select(NotificationPreference.kind).where(NotificationPreference.user_id == uid)
        ),
        tokens=_count(sa.select(AccessToken.id).where(_tokens_of(uid))),
        outbox=_count(sa.select(OutboxMessage.id).where(OutboxMessage.to_addr == user.email)),
    )


def blocker(user: User, *, actor: User | None) -> str | None:
    """Why `user` cannot be erased (by `actor`; None: a provisioning client), or None."""
    if is_erased(user):
        return "This person has already been erased."
    if actor is not None and actor.id == user.id:
        return "You cannot erase your own account."
    if is_last_admin(user, lock=False):
        return (f"{user.display_name} is the last active administrator and cannot be erased. "
                "Make someone else an administrator first.")
    return None


def confirmation_matches(user: User, typed: str | None) -> bool:
    """The admin typed the person's email address or their name (any case, spaces trimmed)."""
    text = " ".join((typed or "").split()).casefold()
    return bool(text) and text in (user.email.casefold(), " ".join(user.display_name.split())
                                   .casefold())


# The erasure ------------------------------------------------------------------------------------
def erase_person(user: User, *, actor: User | None, via: str, token_name: str | None = None
                 ) -> ErasureCounts:
    """Erase `user` under the current settings; the caller commits (all or nothing).

    Raises Conflict for an account already erased, the actor's own account or the last active
    administrator. `via` ("admin" or "scim") and `token_name` (the provisioning token) go into
    the one audit entry, with the counts and the settings applied, never a name or an email.
    """
    if via not in VIA:
        raise ValueError(f"via must be one of {VIA}")
    begin_write()
    try:  # fresh, and locked on PostgreSQL: a second admin erasing at once waits, then stops
        db.session.refresh(user, with_for_update=True)
    except InvalidRequestError:  # deleted meanwhile ("remove" erasure by someone else)
        raise NotFound("This person no longer exists.") from None
    if is_erased(user):
        raise Conflict("This person has already been erased.")
    if actor is not None and actor.id == user.id:
        raise Conflict("You cannot erase your own account.")
    if is_last_admin(user):
        raise Conflict(f"{user.display_name} is the last active administrator and cannot be "
                       "erased. Make someone else an administrator first.")
    settings = get_settings("erasure_account", "erasure_stories")
    remove_account = settings["erasure_account"] == "remove"
    remove_stories = settings["erasure_stories"] == "remove"
    uid, email, name = user.id, user.email, user.display_name
    found = counts(user)

    _scrub_audit(uid, [email, name])
    _scrub_sent_editions(name)
    for stmt in (
        sa.delete(Comment).where(Comment.author_id == uid),
        sa.delete(Reaction).where(Reaction.user_id == uid),
        sa.delete(NotificationPreference).where(NotificationPreference.user_id == uid),
        sa.delete(AccessToken).where(_tokens_of(uid)),
        sa.delete(Delivery).where(_deliveries_of(user)),
        sa.delete(OutboxMessage).where(OutboxMessage.to_addr == email),
        sa.delete(ApplauseNotice).where(
            ApplauseNotice.story_id.in_(sa.select(Story.id).where(Story.author_id == uid))
        ),
        sa.update(User).where(User.manager_id == uid).values(manager_id=None),
        sa.update(Recognition).where(Recognition.user_id == uid)
        .values(user_id=None, name=RECOGNITION_NAME),
    ):
        db.session.execute(stmt, execution_options={"synchronize_session": False})
    # Their reading events lose the person, each message under a new random tag: the
    # engagement feature's one rule for it, so unique counts per edition stay as they were.
    while anonymize_person_events(before=None, user_id=uid):
        pass
    if remove_stories:
        _remove_submissions(uid)
    elif remove_account:
        shell = shared_shell()
        for model in (Story, Quote):
            db.session.execute(sa.update(model).where(model.author_id == uid)
                               .values(author_id=shell.id),
                               execution_options={"synchronize_session": False})
    photo = user.photo_key
    if remove_account:
        db.session.execute(sa.delete(User).where(User.id == uid),
                           execution_options={"synchronize_session": False})
        db.session.expunge(user)
    else:
        _anonymize_account(user)
    if photo:
        emit(PhotoDiscarded(user_id=None, key=photo))
    audit.record(
        actor, "user.erase", object_type="user", object_id=uid, via=via, token=token_name,
        account=settings["erasure_account"], stories_and_quotes=settings["erasure_stories"],
        counts=found.as_dict(),
    )
    db.session.flush()
    db.session.expire_all()  # bulk statements above: nothing loaded may show the old state
    return found


def _anonymize_account(user: User) -> None:
    user.display_name = FORMER_COLLEAGUE
    user.email = erased_email(user.id)
    user.password_hash = None
    user.external_id = None
    user.oidc_issuer = None
    user.oidc_subject = None
    user.photo_key = None
    user.team_id = None
    user.manager_id = None
    user.timezone = None
    user.is_active_user = False
    user.email_opt_out = True
    user.opted_out_at = None
    user.invited_at = None
    user.last_login_at = None
    user.security_stamp = new_security_stamp()
    user.erased_at = utcnow()


def shared_shell() -> User:
    """The one account the stories of removed accounts belong to (created by the first
    erasure that needs it; a concurrent erasure that created it first wins the unique email)."""
    shell = db.session.scalar(sa.select(User).where(User.email == SHARED_SHELL_EMAIL))
    if shell is not None:
        return shell
    try:
        with db.session.begin_nested():
            shell = User(email=SHARED_SHELL_EMAIL, display_name=FORMER_COLLEAGUE,
                         is_active_user=False, email_opt_out=True, erased_at=utcnow())
            db.session.add(shell)
    except IntegrityError:
        shell = db.session.scalar(sa.select(User).where(User.email == SHARED_SHELL_EMAIL))
        assert shell is not None
    return shell


def _remove_submissions(uid: int) -> None:
    """Their stories and quotes, with their revisions; the database cascades the rest
    (recognitions, tags, applause, comments, edition items; quotes linked to a story keep
    going without the link). ORM bulk deletes, so the search index and reading cache follow."""
    for model in (Story, Quote):
        ids = sa.select(model.id).where(model.author_id == uid)
        db.session.execute(
            sa.delete(Revision).where(Revision.object_type == model.kind,
                                      Revision.object_id.in_(ids)),
            execution_options={"synchronize_session": False},
        )
    # Quotes first: a quote linked to one of their stories must not block the story's delete.
    for model in (Quote, Story):
        db.session.execute(sa.delete(model).where(model.author_id == uid),
                           execution_options={"synchronize_session": False})


def _scrub_sent_editions(name: str) -> int:
    """Sent editions are frozen HTML and text ("Shared by <name>", their name among the
    recognized): the archive, feeds and re-sends show the erased person's name as "a former
    colleague" from now on. The rest stays as it was emailed (a removed story's text too: the
    copies in every inbox are beyond reach, and the archive shows what was sent). Whole-word
    matches of the full display name only, in the form each field stores it."""
    if len(name.strip()) < 2:
        return 0
    html_name = str(escape(name))
    patterns = {
        "content_html": re.compile(rf"(?<!\w){re.escape(html_name)}(?!\w)"),
        "web_html": re.compile(rf"(?<!\w){re.escape(html_name)}(?!\w)"),
        "content_text": re.compile(rf"(?<!\w){re.escape(name)}(?!\w)"),
    }
    table = Edition.__table__
    rows = db.session.execute(
        sa.select(table.c.id, table.c.content_html, table.c.web_html, table.c.content_text)
        .where(sa.or_(table.c.content_html.contains(html_name, autoescape=True),
                      table.c.web_html.contains(html_name, autoescape=True),
                      table.c.content_text.contains(name, autoescape=True)))
    ).all()
    for row in rows:
        values = {field: pattern.sub(RECOGNITION_NAME, getattr(row, field))
                  for field, pattern in patterns.items() if getattr(row, field)}
        db.session.execute(sa.update(table).where(table.c.id == row.id).values(**values))
    return len(rows)


# The audit trail --------------------------------------------------------------------------------
def scrub(value: Any, needles: list[str]) -> Any:
    """`value` (an event's JSON details) with every occurrence of `needles` (any case) replaced
    by "[erased]"; keys, ids and everything else unchanged."""
    if isinstance(value, str):
        for needle in needles:
            if needle and needle.casefold() in value.casefold():
                start = value.casefold().find(needle.casefold())
                while start != -1:
                    value = value[:start] + ERASED_TEXT + value[start + len(needle):]
                    start = value.casefold().find(needle.casefold(), start + len(ERASED_TEXT))
        return value
    if isinstance(value, dict):
        return {k: scrub(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, needles) for v in value]
    return value


def _json_fragments(needles: Iterable[str]) -> list[str]:
    """How each needle appears inside stored JSON text (non-ASCII escaped or not)."""
    fragments = set()
    for needle in needles:
        if needle:
            fragments.add(needle)
            fragments.add(json.dumps(needle)[1:-1])
    return sorted(fragments)


def _scrub_audit(uid: int, needles: list[str]) -> int:
    """Audit entries about the person, by them, or naming them anywhere in their details lose
    the name and email (their ids stay: the history still says what happened to #id). The text
    search reads the whole log once: an erasure is rare, and a missed mention is a leak."""
    text = sa.cast(AuditEvent.details, sa.Text)
    mentions = [text.ilike(f"%{fragment}%", escape="\\") for fragment in
                (f.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                 for f in _json_fragments(needles))]
    rows = db.session.execute(
        sa.select(AuditEvent.id, AuditEvent.details).where(
            sa.or_(sa.and_(AuditEvent.object_type == "user", AuditEvent.object_id == uid),
                   AuditEvent.actor_id == uid, *mentions)
        )
    ).all()
    changed = [
        {"b_id": row_id, "b_details": cleaned}
        for row_id, details in rows
        if (cleaned := scrub(details or {}, needles)) != (details or {})
    ]
    if changed:
        table = AuditEvent.__table__
        db.session.execute(
            sa.update(table).where(table.c.id == sa.bindparam("b_id"))
            .values(details=sa.bindparam("b_details")),
            changed,
        )
    return len(changed)
