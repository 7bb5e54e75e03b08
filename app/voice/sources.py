"""Customer-voice sources: creating webhook sources, their secrets, turning them off and on,
deleting an unused one, and the signature every webhook request carries.

A webhook source's secret is made here with `secrets.token_urlsafe(32)` and returned once, to be
shown to the admin on the page right after it was made (created or rotated); it is kept to
check signatures (an HMAC key cannot be stored as a hash) but never shown again. Sources of
imports are made by the import flow, the built-in "email" source by the migration: neither gets
a secret. Plain functions that raise app.errors and audit; the caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from app import audit
from app.admin.services import unique_slug
from app.errors import Conflict
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db
from app.models import Origin
from app.models import QuoteSource
from app.models import User
from app.models import Verbatim
from app.models import VoiceSource
from app.models import utcnow
from app.text import clean_text
from app.voice.payloads import MAPPINGS
from app.voice.services import EMAIL_SOURCE

NAME_MAX = 120
SLUG_MAX = 40  # voice_sources.slug is String(40)
SIGNATURE_VERSION = "v1"


# Signatures --------------------------------------------------------------------------------------
def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" with `secret`: what X-Voice-Signature carries
    after "v1=". The body is the exact bytes sent, not a re-serialised JSON."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_matches(secret: str, timestamp: int | str, body: bytes,
                      candidates: list[str]) -> bool:
    """Whether one of the sent signatures is right, compared in constant time (each of them, so
    the time taken does not say which one was close)."""
    expected = signature(secret, timestamp, body).encode("ascii")
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("ascii", "replace"))
    return matched


# Reading -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceRow:
    source: VoiceSource
    verbatims: int


def sources_overview() -> list[SourceRow]:
    """Every source with how many verbatims it brought: webhooks first, then by name."""
    counts = (
        sa.select(Verbatim.source_id, sa.func.count().label("n"))
        .group_by(Verbatim.source_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(VoiceSource, sa.func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.source_id == VoiceSource.id)
        .order_by(VoiceSource.origin != Origin.WEBHOOK, VoiceSource.name, VoiceSource.id)
    )
    return [SourceRow(source, count) for source, count in rows]


def get_source_by_id(source_id: int) -> VoiceSource:
    source = db.session.get(VoiceSource, source_id)
    if source is None:
        raise NotFound("There is no such customer-voice source.")
    return source


def verbatim_count(source: VoiceSource) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Verbatim).where(Verbatim.source_id == source.id)
    ) or 0


def is_builtin(source: VoiceSource) -> bool:
    return source.slug == EMAIL_SOURCE


# Writing -----------------------------------------------------------------------------------------
def new_source(name: str, origin: Origin, channel: QuoteSource, *, actor: User | None,
               unnamed: str, **fields) -> VoiceSource:
    """A new active source named `name` (cleaned; `unnamed` is the message when nothing is
    left), its slug made once from the name, audited. Webhook and import sources alike."""
    cleaned = clean_text(name, name=True)
    if not cleaned:
        raise ValidationError(unnamed)
    if len(cleaned) > NAME_MAX:
        raise ValidationError(
            f"The source name is longer than {NAME_MAX} characters; use at most {NAME_MAX}."
        )
    source = VoiceSource(
        slug=unique_slug(cleaned, VoiceSource.slug, origin.value), name=cleaned, origin=origin,
        channel=QuoteSource(channel), is_active=True, **fields,
    )
    db.session.add(source)
    db.session.flush()
    audit.record(actor, "voice.source.create", source, object_type="voice_source",
                 name=cleaned, slug=source.slug, origin=origin.value,
                 payload=fields.get("payload"))
    return source


def create_webhook_source(name: str, channel: QuoteSource, payload: str, *,
                          actor: User) -> tuple[VoiceSource, str]:
    """A new, active webhook source and its secret (to be shown once)."""
    if payload not in MAPPINGS:
        raise ValidationError("Choose how the requests’ bodies are laid out.")
    secret = _new_secret()
    source = new_source(name, Origin.WEBHOOK, channel, actor=actor,
                        unnamed="Name the source, e.g. after the survey it receives.",
                        payload=payload, webhook_secret=secret, secret_rotated_at=utcnow())
    return source, secret


def rotate_secret(source: VoiceSource, *, actor: User) -> str:
    """A new secret for a webhook source: requests signed with the old one are refused at once."""
    if source.origin != Origin.WEBHOOK:
        raise Conflict(f"“{source.name}” does not receive webhook requests, so it has no secret.")
    secret = _new_secret()
    source.webhook_secret = secret
    source.secret_rotated_at = utcnow()
    audit.record(actor, "voice.source.rotate", source, object_type="voice_source",
                 name=source.name)
    return secret


def set_active(source: VoiceSource, active: bool, *, actor: User) -> None:
    """Turn a source off (its webhook requests are refused, what it brought stays) or on again."""
    if source.is_active == active:
        raise Conflict(f"“{source.name}” is already {'active' if active else 'inactive'}.")
    source.is_active = active
    action = "voice.source.reactivate" if active else "voice.source.deactivate"
    audit.record(actor, action, source, object_type="voice_source", name=source.name)


def deletion_blocker(source: VoiceSource) -> str | None:
    """Why `source` cannot be deleted (shown on the confirmation page, raised by the delete),
    or None: only a source that brought nothing can go; the others can be deactivated."""
    if is_builtin(source):
        return "The forwarded-emails source is built in: it cannot be deleted."
    count = verbatim_count(source)
    if count:
        return (
            f"“{source.name}” brought {count:,} verbatim{'s' if count != 1 else ''}, which would "
            "go with it. Deactivate it instead: it then receives nothing more, and what it "
            "brought stays."
        )
    return None


def delete_source(source: VoiceSource, *, actor: User) -> None:
    """Delete a source that brought nothing; one with verbatims can only be deactivated."""
    blocker = deletion_blocker(source)
    if blocker:
        raise Conflict(blocker)
    audit.record(actor, "voice.source.delete", source, object_type="voice_source",
                 name=source.name, slug=source.slug)
    db.session.delete(source)


def _new_secret() -> str:
    return secrets.token_urlsafe(32)
