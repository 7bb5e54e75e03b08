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
anonymized the way the engagement retention does it (the edition's counts stay). Their name
and address, and every earlier one their account's audit entries recorded, go from: the audit
log (entries about their account lose every string in their details; all others lose the names
as whole words and the addresses anywhere, matched in Python, any case; ids stay), the
"colleagues" list of story revisions, sent editions' frozen copies, and chat posts and webhook
deliveries not sent yet (`_scrub_outgoing` says why others' waiting emails are left). With
"remove", entries about the deleted row are detached from its id (SQLite reuses ids). One
entry records the erasure with counts and "person #<id>" only. Photo files go after the commit
(the photos feature's `PhotoDiscarded` subscriber). Search index and reading cache follow
through their session hooks.
"""

from __future__ import annotations

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
from app.models import ChatPost
from app.models import ChatPostStatus
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
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
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

    scrubber = person_scrubber(uid, email, name)
    _scrub_audit(uid, scrubber)
    for known_name in scrubber.names:
        _scrub_sent_editions(known_name)
    _scrub_outgoing(scrubber)
    _scrub_revisions(list(db.session.scalars(
        sa.select(Recognition.story_id).where(Recognition.user_id == uid)
        .union(sa.select(Story.id).where(Story.author_id == uid))
    )), scrubber)
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
        _detach_audit(uid)
    else:
        _anonymize_account(user)
    if photo:
        emit(PhotoDiscarded(user_id=None, key=photo))
    audit.record(
        actor, "user.erase", object_type="user", object_id=None if remove_account else uid,
        person=f"person #{uid}", via=via, token=token_name,
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


# Finding their name and email ------------------------------------------------------------------
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Detail keys whose string values are a person's name or address (app/auth, app/account, app/scim,
# app/people record these); "from"/"to"/"old"/"new" take the meaning of the key above them, at
# the top level the action's last word ("user.sso_email" old=..., new=...).
IDENTITY_KEYS = frozenset({"email", "name", "display_name", "sso_email", "merge_name",
                           "user_name", "username"})
CHANGE_KEYS = frozenset({"from", "to", "old", "new"})
AUDIT_SCAN_BATCH = 1000
PLACEHOLDERS = frozenset(v.casefold() for v in (ERASED_TEXT, FORMER_COLLEAGUE, RECOGNITION_NAME))


class Scrubber:
    """Finds a person's names (whole words, any case, any run of spaces between words) and email
    addresses (whole addresses, anywhere, any case) in text and in JSON values. Matching is done
    here, in Python (`re.IGNORECASE` folds non-ASCII letters too: "ZOË ÜNAL" is "Zoë Ünal"),
    never with SQL LIKE: a short name such as "Ed" must not turn "edition" into
    "[erased]ition"."""

    def __init__(self, names: Iterable[str], emails: Iterable[str]) -> None:
        self.names = sorted({" ".join(n.split()) for n in names
                             if len(" ".join(n.split())) >= 2
                             and " ".join(n.split()).casefold() not in PLACEHOLDERS},
                            key=len, reverse=True)
        self.emails = sorted({e.strip() for e in emails if e and "@" in e}, key=len, reverse=True)
        # An address is bounded by characters no address has around it ("ed@example.com" is
        # not inside "fred@example.com"; a full stop after it ends a sentence).
        parts = [rf"(?<![\w.%+-]){re.escape(e)}(?!\.?[\w-])" for e in self.emails] + [
            r"(?<!\w)" + r"\s+".join(re.escape(w) for w in n.split()) + r"(?!\w)"
            for n in self.names
        ]
        self.pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def text(self, value: str, *, name_as: str = ERASED_TEXT) -> str:
        if self.pattern is None:
            return value
        return self.pattern.sub(
            lambda m: ERASED_TEXT if "@" in m.group(0) else name_as, value)

    def value(self, value: Any, *, name_as: str = ERASED_TEXT) -> Any:
        """`value` (JSON) with every match replaced; keys, numbers and the rest unchanged."""
        if isinstance(value, str):
            return self.text(value, name_as=name_as)
        if isinstance(value, dict):
            return {k: self.value(v, name_as=name_as) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, name_as=name_as) for v in value]
        return value

    def is_name(self, value: str) -> bool:
        folded = " ".join(value.split()).casefold()
        return any(folded == n.casefold() for n in self.names)


def erase_strings(value: Any) -> Any:
    """Every string in `value` (JSON) becomes "[erased]": details about the erased person."""
    if isinstance(value, str):
        return ERASED_TEXT
    if isinstance(value, dict):
        return {k: erase_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [erase_strings(v) for v in value]
    return value


def _former_identities(action: str, details: Any) -> tuple[set[str], set[str]]:
    """Names and addresses the person had before (renames, address changes, SCIM updates), as
    their own audit entries recorded them."""
    names: set[str] = set()
    emails: set[str] = set()

    def walk(value: Any, key: str) -> None:
        if isinstance(value, str):
            text = value.strip()
            if EMAIL_RE.fullmatch(text):
                emails.add(text)
            elif key in IDENTITY_KEYS and any(ch.isalpha() for ch in text):
                names.add(text)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, key if k in CHANGE_KEYS else str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)

    walk(details or {}, action.rsplit(".", 1)[-1])
    return names, emails


def _about(uid: int) -> sa.ColumnElement[bool]:
    return sa.and_(AuditEvent.object_type == "user", AuditEvent.object_id == uid)


def person_scrubber(uid: int, email: str, name: str) -> Scrubber:
    """Their current name and address plus every earlier one their own entries recorded."""
    names, emails = {name}, {email}
    for action, details in db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.details).where(_about(uid))
    ):
        found_names, found_emails = _former_identities(action, details)
        names |= found_names
        emails |= found_emails
    return Scrubber(names, emails)


def _scrub_audit(uid: int, scrubber: Scrubber) -> int:
    """Entries about the person lose every string in their details (what they changed on their
    account is about them); every other entry, by them or anyone, loses their names and
    addresses wherever they appear. Ids stay: the history still says what happened to #id.

    The whole log is read in id-keyed batches and matched in Python (see Scrubber): erasure is
    rare, a missed mention is a leak, and a database LIKE is neither whole-word nor
    Unicode-case-aware."""
    table = AuditEvent.__table__
    changed_total = 0
    last = 0
    while True:
        rows = db.session.execute(
            sa.select(table.c.id, table.c.object_type, table.c.object_id, table.c.details)
            .where(table.c.id > last).order_by(table.c.id).limit(AUDIT_SCAN_BATCH)
        ).all()
        if not rows:
            return changed_total
        last = rows[-1].id
        changed = []
        for row in rows:
            details = row.details or {}
            about = row.object_type == "user" and row.object_id == uid
            cleaned = erase_strings(details) if about else scrubber.value(details)
            if cleaned != details:
                changed.append({"b_id": row.id, "b_details": cleaned})
        if changed:
            db.session.execute(
                sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                .values(details=sa.bindparam("b_details")),
                changed,
            )
            changed_total += len(changed)


def _detach_audit(uid: int) -> int:
    """"remove" erasure: the entries about the deleted row stop pointing at its id (SQLite can
    hand the id to the next new account, which would then show them in its data export and
    its SCIM state). The erasure entry keeps "person #<id>" in its details."""
    result = db.session.execute(
        sa.update(AuditEvent).where(_about(uid)).values(object_id=None),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)


# Other places their name is written down --------------------------------------------------------
def _scrub_revisions(story_ids: list[int], scrubber: Scrubber) -> int:
    """Story revisions keep the "colleagues" list as it was (app/submissions/services.py
    `snapshot`): in the stories that recognized them, and their own, an entry that is one of
    their names becomes "a former colleague", like the recognition itself."""
    if not story_ids or not scrubber.names:
        return 0
    changed = []
    for chunk in (story_ids[i:i + 500] for i in range(0, len(story_ids), 500)):
        rows = db.session.execute(
            sa.select(Revision.id, Revision.data)
            .where(Revision.object_type == Story.kind, Revision.object_id.in_(chunk))
        ).all()
        for row_id, data in rows:
            colleagues = (data or {}).get("colleagues")
            if not isinstance(colleagues, list):
                continue
            renamed = [RECOGNITION_NAME if isinstance(c, str) and scrubber.is_name(c) else c
                       for c in colleagues]
            if renamed != colleagues:
                changed.append({"b_id": row_id, "b_data": {**data, "colleagues": renamed}})
    if changed:
        table = Revision.__table__
        db.session.execute(
            sa.update(table).where(table.c.id == sa.bindparam("b_id"))
            .values(data=sa.bindparam("b_data")),
            changed,
        )
    return len(changed)


def _scrub_outgoing(scrubber: Scrubber) -> int:
    """Chat posts and webhook deliveries still waiting (pending) or replayable (failed) carry
    the payload as it was built: their names become "a former colleague", their addresses
    "[erased]", before anything goes out (webhook signatures are computed at send time).
    Posts being sent right now are left to finish. Emails to other people waiting in the
    outbox are left alone on purpose: they are finished MIME messages (encoded, possibly
    signed), rewriting them risks a corrupt email, deleting them silently drops someone
    else's notification, and the outbox sends within minutes."""
    changed = 0
    for model, statuses in ((ChatPost, (ChatPostStatus.PENDING, ChatPostStatus.FAILED)),
                            (WebhookDelivery, (WebhookDeliveryStatus.PENDING,
                                               WebhookDeliveryStatus.FAILED))):
        table = model.__table__
        updates = []
        for row_id, payload in db.session.execute(
            sa.select(table.c.id, table.c.payload).where(table.c.status.in_(statuses))
        ):
            cleaned = scrubber.value(payload, name_as=RECOGNITION_NAME)
            if cleaned != payload:
                updates.append({"b_id": row_id, "b_payload": cleaned})
        if updates:
            db.session.execute(
                sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                .values(payload=sa.bindparam("b_payload")),
                updates,
            )
        changed += len(updates)
    return changed
