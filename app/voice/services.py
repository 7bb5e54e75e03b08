"""How a customer comment becomes a verbatim, whichever way it came in.

The file import, the webhook and the email receiver all describe what arrived as an `Incoming`
and hand it to an `Intake` (one per batch or request): `check` applies the rules (one place),
then the text is redacted (app/voice/redact.py), colleagues it names are suggested
(app/voice/mentions.py) and the score is banded (app/voice/scores.py). `insert_rows` writes
a batch in the caller's transaction; a response id already stored for the source is skipped
(INSERT ... ON CONFLICT DO NOTHING), so re-sending the same file or request adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import replace
from datetime import date
from datetime import timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db
from app.models import Band
from app.models import Origin
from app.models import QuoteSource
from app.models import Scale
from app.models import Team
from app.models import Touchpoint
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import VoiceSource
from app.models import utcnow
from app.models.voice import MAX_TEXT
from app.reading.cache import remember
from app.settings import get_settings
from app.text import clean_text
from app.voice.mentions import Matcher
from app.voice.redact import Redactor
from app.voice.scores import band
from app.voice.scores import in_range

MAX_RESPONSE_ID = 200
EARLIEST = date(2000, 1, 1)
EMAIL_SOURCE = "email"
VERBATIMS = Verbatim.__table__


@dataclass(frozen=True)
class Incoming:
    """One customer comment as it arrived, before any rule or redaction."""

    received_on: date
    text: str | None = None
    scale: Scale | None = None
    score: int | None = None
    response_id: str | None = None
    touchpoint_id: int | None = None
    team_id: int | None = None
    language: str | None = None
    consent: bool = False
    channel: QuoteSource | None = None  # None: the source's channel
    sharer_id: int | None = None


def check(item: Incoming, *, today: date | None = None) -> Incoming:
    """`item` cleaned, or ValidationError saying what is wrong with it (the one place), and
    naming the field at fault (`text`, `score`, `received_on`, `response_id`)."""
    today = today or utcnow().date()
    text = clean_text(item.text, multiline=True) or None
    if text is not None and not clean_text(text, name=True):
        text = None  # only invisible characters
    if text is not None and len(text) > MAX_TEXT:
        raise ValidationError(
            f"The comment is {len(text):,} characters long; the limit is {MAX_TEXT:,}.", "text"
        )
    score, scale = item.score, item.scale
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int):
            raise ValidationError("The score must be a whole number.", "score")
        if scale is None:
            raise ValidationError("A score needs its scale (NPS, CSAT or CES).", "score")
        if not in_range(scale, score):
            low, high = scale.bounds
            raise ValidationError(
                f"A {scale.value.upper()} score is a whole number from {low} to {high}; "
                f"got {score}.",
                "score",
            )
    if not EARLIEST <= item.received_on <= today + timedelta(days=1):
        raise ValidationError(
            f"The date {item.received_on.isoformat()} is not a plausible response date.",
            "received_on",
        )
    response_id = clean_text(item.response_id, name=True) or None
    if response_id is not None and len(response_id) > MAX_RESPONSE_ID:
        raise ValidationError(
            f"The response id is longer than {MAX_RESPONSE_ID} characters.", "response_id"
        )
    if score is None and text is None:
        raise ValidationError("The response has neither a comment nor a score.", "text")
    language = clean_text(item.language, name=True)[:16] or None
    return replace(item, text=text, response_id=response_id, language=language)


class Lookups:
    """Team and touchpoint names (as a file or a payload spells them) to ids, loaded once."""

    def __init__(self) -> None:
        self.teams = {name.casefold(): i for i, name in db.session.execute(
            sa.select(Team.id, Team.name))}
        self.touchpoints: dict[str, int] = {}
        for i, slug, label in db.session.execute(
            sa.select(Touchpoint.id, Touchpoint.slug, Touchpoint.label)
        ):
            self.touchpoints.setdefault(slug.casefold(), i)
            self.touchpoints.setdefault(label.casefold(), i)

    def team(self, name: str | None) -> int | None:
        key = clean_text(name, name=True).casefold()
        if not key:
            return None
        if key not in self.teams:
            raise ValidationError(f"There is no team called “{clean_text(name, name=True)}”.")
        return self.teams[key]

    def touchpoint(self, name: str | None) -> int | None:
        key = clean_text(name, name=True).casefold()
        if not key:
            return None
        if key not in self.touchpoints:
            raise ValidationError(
                f"There is no touchpoint called “{clean_text(name, name=True)}”."
            )
        return self.touchpoints[key]


class Intake:
    """Turns checked `Incoming`s of one source into rows for `insert_rows`: the settings, the
    redaction patterns and the people to look for are read once per batch, not per row."""

    def __init__(self, source: VoiceSource, origin: Origin, *, import_id: int | None = None):
        settings = get_settings("voice_keep_original", "voice_redact_patterns")
        self.source = source
        self.origin = origin
        self.import_id = import_id
        self.keep_original = bool(settings["voice_keep_original"])
        self.redactor = Redactor(settings["voice_redact_patterns"])
        self.now = utcnow()

    @cached_property
    def matcher(self) -> Matcher:
        """The people and teams to look for, built only when a comment has text, and shared
        by the requests of a process until people or teams change (the reading cache's content
        version): a webhook call or an email does not rebuild it each time."""
        return remember(("voice-matcher",), Matcher.load)

    def row(self, item: Incoming, *, filtered: bool = False) -> dict[str, Any]:
        """The verbatim's column values. `filtered`: kept for its score only (no text)."""
        text, redactions, original = None, 0, None
        user_ids: list[int] = []
        team_ids: list[int] = []
        if item.text and not filtered:
            text, redactions = self.redactor.redact(item.text)
            if self.keep_original and redactions:
                original = item.text
            found = self.matcher.find(text, item.team_id)
            user_ids, team_ids = found.user_ids, found.team_ids
        scored = band(item.scale, item.score)
        mentions = bool(user_ids)
        return {
            "source_id": self.source.id,
            "origin": self.origin.value,
            "import_id": self.import_id,
            "response_id": item.response_id,
            "text": text,
            "original_text": original,
            "redactions": redactions,
            "scale": item.scale.value if item.scale else None,
            "score": item.score,
            "band": scored.value if scored else None,
            "channel": (item.channel or self.source.channel).value,
            "touchpoint_id": item.touchpoint_id,
            "team_id": item.team_id,
            "received_on": item.received_on,
            "language": item.language,
            "consent": item.consent,
            "sharer_id": item.sharer_id,
            "mentioned_user_ids": user_ids,
            "mentioned_team_ids": team_ids,
            "mentions_colleague": mentions,
            "priority": 0 if mentions and scored == Band.PROMOTER else 1,
            # Without text there is nothing to curate: kept for the figures only.
            "status": (VerbatimStatus.NEW if text else VerbatimStatus.FILTERED).value,
            "created_at": self.now,
        }


def _insert() -> Any:
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(VERBATIMS)
    # A NULL response id never conflicts (several emails without one are all kept).
    return insert.on_conflict_do_nothing(index_elements=["source_id", "response_id"])


def insert_rows(rows: Iterable[dict[str, Any]]) -> int:
    """Write `rows` in the caller's transaction; returns how many were new (the others had a
    response id the source already has)."""
    rows = list(rows)
    if not rows:
        return 0
    # RETURNING counts what was new on both databases (rowcount of an executemany is not
    # reliable on PostgreSQL); SQLAlchemy batches it as multi-row INSERTs ("insertmanyvalues").
    return len(db.session.execute(_insert().returning(VERBATIMS.c.id), rows).all())


def receive(item: Incoming, intake: Intake) -> Verbatim | None:
    """One checked comment stored (webhook, email); None when its response id is known."""
    statement = _insert().values(**intake.row(check(item))).returning(VERBATIMS.c.id)
    new_id = db.session.execute(statement).scalar()
    if new_id is None:
        return None
    intake.source.last_received_at = intake.now
    return db.session.get(Verbatim, new_id)


def get_source(slug: str) -> VoiceSource:
    source = db.session.scalar(sa.select(VoiceSource).where(VoiceSource.slug == slug))
    if source is None:
        raise NotFound("There is no such customer-voice source.")
    return source


def email_source() -> VoiceSource:
    """The built-in source of forwarded emails (installed by migration 0010)."""
    return get_source(EMAIL_SOURCE)
