"""Chat destinations (admins connect them) and the posts recorded for them.

The webhook URL is the secret: whoever has it can post to the channel. It is checked here,
stored, and never given back: pages show `url_hint` (host and last four characters), audit
events only say that it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import sqlalchemy as sa
from flask import current_app

from app import audit
from app.chat import delivery
from app.chat import messages
from app.chat.providers import Message
from app.chat.providers import get_provider
from app.errors import ValidationError
from app.extensions import db
from app.models import ChatDestination
from app.models import ChatKind
from app.models import ChatPost
from app.models import ChatPostStatus
from app.models import Team
from app.models import User
from app.models.chat import NAME_MAX
from app.models.chat import URL_MAX
from app.outbound import insert_once
from app.outbound import split_url
from app.outbound import url_refusal
from app.text import clean_text

S = ChatPostStatus
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
EDITION_SENT = "edition_sent"
COLLEAGUE_FEATURED = "colleague_featured"
STORY_PUBLISHED = "story_published"
TEST = "test"
EVENT_LABELS = {
    EDITION_SENT: "Edition sent",
    COLLEAGUE_FEATURED: "Colleague featured",
    STORY_PUBLISHED: "New story published",
    TEST: "Test post",
}
AUDITED = ("name", "kind", "on_edition_sent", "on_colleague_featured", "on_story_published",
           "team_id", "active")


@dataclass(frozen=True)
class DestinationData:
    """What the admin's form says. `webhook_url` empty on an edit keeps the stored URL."""

    name: str
    kind: str
    webhook_url: str | None
    on_edition_sent: bool = True
    on_colleague_featured: bool = False
    on_story_published: bool = False
    team_id: int | None = None
    active: bool = True


def url_hint(url: str) -> str:
    """What pages show of a stored URL: its host and last four characters."""
    host = urlsplit(url).hostname or "?"
    return f"{host} · …{url[-4:]}"


def check_url(value: str | None, kind: str) -> tuple[str, str | None]:
    """The URL to store and a warning when it does not look like the platform's (or None).

    https only; http only to this machine (127.0.0.1, localhost) in development and tests.
    Where it points is app.outbound's address rule (the host resolved): link-local (cloud
    metadata at 169.254.169.254), metadata names, unspecified, multicast, reserved addresses
    and IPv4 addresses in odd forms ("2130706433") are always refused; loopback, private and
    other non-public addresses ("localhost", 10.0.0.5) too outside development and tests, since
    Slack and Teams are public services. Checked when saved (a name that resolves elsewhere
    later is not caught: see app.outbound).
    """
    url, parts = split_url(
        value, field="webhook_url", url_max=URL_MAX, empty="Paste the webhook URL.",
        credentials="The URL must not contain a user name or password.")
    host = parts.hostname or ""
    local_allowed = bool(current_app.testing or current_app.debug)
    if parts.scheme == "http" and not (host in LOOPBACK and local_allowed):
        raise ValidationError("Use an https:// address: the URL is a secret and must not "
                              "travel unencrypted.", field="webhook_url")
    refused = url_refusal(url, loopback=local_allowed, private=local_allowed)
    if refused is not None:
        raise ValidationError(f"This address cannot receive chat posts: {refused}. Use the "
                              "public webhook URL Slack or Teams gave you.", field="webhook_url")
    return url, get_provider(kind).url_warning(parts)


def _check(data: DestinationData, destination: ChatDestination | None) -> tuple[dict, str | None]:
    name = clean_text(data.name, name=True)
    if not name:
        raise ValidationError("Name the destination, e.g. after its channel.", field="name")
    if len(name) > NAME_MAX:
        raise ValidationError(f"At most {NAME_MAX} characters.", field="name")
    taken = db.session.scalar(sa.select(ChatDestination.id).where(
        sa.func.lower(ChatDestination.name) == name.lower(),
        ChatDestination.id != (destination.id if destination else -1)))  # fmt: skip
    if taken is not None:
        raise ValidationError("Another destination has this name.", field="name")
    if data.kind not in {k.value for k in ChatKind}:
        raise ValidationError("Choose Slack or Microsoft Teams.", field="kind")
    if data.team_id is not None and db.session.get(Team, data.team_id) is None:
        raise ValidationError("That team no longer exists.", field="team")
    values: dict[str, Any] = {
        "name": name, "kind": ChatKind(data.kind),
        "on_edition_sent": bool(data.on_edition_sent),
        "on_colleague_featured": bool(data.on_colleague_featured),
        "on_story_published": bool(data.on_story_published),
        "team_id": data.team_id, "active": bool(data.active),
    }  # fmt: skip
    warning = None
    if destination is None or (data.webhook_url or "").strip():
        values["webhook_url"], warning = check_url(data.webhook_url, data.kind)
    elif values["kind"] != destination.kind:
        # The stored URL is the other platform's: say so instead of failing every post.
        _url, warning = check_url(destination.webhook_url, data.kind)
    return values, warning


def _audited(destination: ChatDestination) -> dict[str, Any]:
    return {key: str(value) if key == "kind" else value
            for key in AUDITED if (value := getattr(destination, key)) is not None}


def create_destination(data: DestinationData, *, actor: User) -> tuple[ChatDestination, str | None]:
    values, warning = _check(data, None)
    destination = ChatDestination(**values)
    db.session.add(destination)
    db.session.flush()
    audit.record(actor, "chat.destination.create", destination, object_type="chat_destination",
                 **_audited(destination))
    return destination, warning


def update_destination(
    destination: ChatDestination, data: DestinationData, *, actor: User
) -> tuple[str | None, int]:
    """Save the form; (the URL warning or None, how many waiting posts were dropped).

    Waiting posts are dropped when the platform changes (they are the other platform's JSON)
    or the destination is switched off (they would be stale when it is switched on again).
    """
    values, warning = _check(data, destination)
    before = _audited(destination)
    kind_changed = values["kind"] != destination.kind
    url_changed = "webhook_url" in values and values["webhook_url"] != destination.webhook_url
    for key, value in values.items():
        setattr(destination, key, value)
    dropped = 0
    if kind_changed or not destination.active:
        dropped = _drop_waiting(destination)
    after = _audited(destination)
    changes = {key: after.get(key) for key in set(before) | set(after)
               if before.get(key) != after.get(key)}  # fmt: skip
    if url_changed:
        changes["webhook_url"] = "changed"
        destination.last_failure = destination.last_failure_at = None
    if changes:
        audit.record(actor, "chat.destination.update", destination,
                     object_type="chat_destination", name=destination.name,
                     dropped_posts=dropped or None, **{f"new_{k}": v for k, v in changes.items()})
    return warning, dropped


def _drop_waiting(destination: ChatDestination) -> int:
    result = db.session.execute(
        sa.delete(ChatPost).where(ChatPost.destination_id == destination.id,
                                  ChatPost.status.in_((S.PENDING, S.SENDING)))
    )  # fmt: skip
    return result.rowcount or 0


def delete_destination(destination: ChatDestination, *, actor: User) -> None:
    audit.record(actor, "chat.destination.delete", destination, object_type="chat_destination",
                 name=destination.name, kind=str(destination.kind))
    db.session.execute(sa.delete(ChatPost).where(ChatPost.destination_id == destination.id))
    db.session.delete(destination)
    db.session.flush()


# -- posts -----------------------------------------------------------------------------------------


def record_posts(
    destinations: list[ChatDestination], event: str, dedupe_key: str, message: Message
) -> list[ChatPost]:
    """One post per destination for this happening, posted after the commit.

    A destination that already has a post with `dedupe_key` gets none (INSERT … ON CONFLICT DO
    NOTHING on the unique key, so even two dispatchers at once add one row). Returns the new rows.
    """
    payloads: dict[str, dict[str, Any]] = {}
    posts = []
    for destination in destinations:
        kind = str(destination.kind)
        if kind not in payloads:
            payloads[kind] = get_provider(kind).build(message)
        post_id = insert_once(db.session, ChatPost.__table__, {
            "destination_id": destination.id, "event": event, "dedupe_key": dedupe_key[:120],
            "payload": payloads[kind], "status": S.PENDING, "attempts": 0,
        }, ("destination_id", "dedupe_key"))  # fmt: skip
        if post_id is None:
            continue
        post = db.session.get(ChatPost, post_id)
        assert post is not None
        delivery.post_after_commit(post)
        posts.append(post)
    return posts


def record_test_post(destination: ChatDestination, *, actor: User) -> ChatPost:
    """A test post for "Send a test post": the caller posts it after its commit (and shows the
    answer), so it is not handed to the background thread."""
    message = messages.check_post(destination)
    post = ChatPost(destination_id=destination.id, event=TEST,
                    dedupe_key=f"{TEST}:{uuid4().hex}",
                    payload=get_provider(destination.kind).build(message),
                    status=S.PENDING, attempts=0)  # fmt: skip
    db.session.add(post)
    db.session.flush()
    audit.record(actor, "chat.destination.test", destination, object_type="chat_destination",
                 name=destination.name)
    return post


def retry_failed(destination: ChatDestination, *, actor: User) -> int:
    """Give the destination's failed posts a fresh set of attempts (the admin fixed the cause);
    they are posted after the commit."""
    failed = list(db.session.scalars(
        sa.select(ChatPost)
        .where(ChatPost.destination_id == destination.id, ChatPost.status == S.FAILED)
        .order_by(ChatPost.id)
    ))  # fmt: skip
    for post in failed:
        post.status, post.attempts, post.next_attempt_at = S.PENDING, 0, None
        delivery.post_after_commit(post)
    if failed:
        audit.record(actor, "chat.destination.retry", destination,
                     object_type="chat_destination", name=destination.name, posts=len(failed))
    return len(failed)
