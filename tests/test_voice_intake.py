"""The one intake every way in shares: rules, bands, redaction on arrival, de-duplication."""

from __future__ import annotations

from datetime import date

import pytest

from app.errors import ValidationError
from app.models import Band
from app.models import Origin
from app.models import QuoteSource
from app.models import Scale
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import VoiceSource
from app.voice import services
from app.voice.scores import band

DAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("scale", "score", "expected"),
    [
        (Scale.NPS, 10, Band.PROMOTER), (Scale.NPS, 9, Band.PROMOTER),
        (Scale.NPS, 8, Band.PASSIVE), (Scale.NPS, 7, Band.PASSIVE),
        (Scale.NPS, 6, Band.DETRACTOR), (Scale.NPS, 0, Band.DETRACTOR),
        (Scale.CSAT, 5, Band.PROMOTER), (Scale.CSAT, 4, Band.PROMOTER),
        (Scale.CSAT, 3, Band.PASSIVE), (Scale.CSAT, 2, Band.DETRACTOR),
        (Scale.CES, 7, Band.PROMOTER), (Scale.CES, 5, Band.PROMOTER),
        (Scale.CES, 4, Band.PASSIVE), (Scale.CES, 3, Band.DETRACTOR),
        (None, None, None), (Scale.NPS, None, None),
    ],
)
def test_bands(scale, score, expected):
    assert band(scale, score) == expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (services.Incoming(DAY, "ok", Scale.NPS, 11), "from 0 to 10; got 11"),
        (services.Incoming(DAY, "ok", Scale.CSAT, 0), "from 1 to 5; got 0"),
        (services.Incoming(DAY, "ok", None, 5), "needs its scale"),
        (services.Incoming(DAY, "ok", Scale.NPS, True), "whole number"),
        (services.Incoming(DAY, "  \u200b\x00 "), "neither a comment nor a score"),
        (services.Incoming(date(1999, 12, 31), "ok"), "not a plausible"),
        (services.Incoming(DAY, "x" * (services.MAX_TEXT + 1)), "the limit is 10,000"),
        (services.Incoming(DAY, "ok", response_id="r" * 201), "longer than 200"),
    ],
)
def test_check_refuses_with_a_message(item, message):
    with pytest.raises(ValidationError, match=message):
        services.check(item, today=DAY)


def test_rows_are_redacted_banded_and_deduplicated(db, survey):
    intake = services.Intake(survey, Origin.IMPORT)
    items = [
        services.Incoming(DAY, "Mail me at ana@example.com", Scale.NPS, 10, response_id="r1"),
        services.Incoming(DAY, None, Scale.NPS, 3, response_id="r2"),
        services.Incoming(DAY, "no id", Scale.NPS, 8),
        services.Incoming(DAY, "no id either", Scale.NPS, 8),
    ]
    rows = [intake.row(services.check(i, today=DAY)) for i in items]
    assert services.insert_rows(rows) == 4
    assert services.insert_rows(rows[:2]) == 0  # same response ids: nothing added
    stored = {v.response_id: v for v in db.session.scalars(db.select(Verbatim))}
    assert db.session.scalar(db.select(db.func.count(Verbatim.id))) == 6 - 2
    assert stored["r1"].text == "Mail me at [email]"
    assert stored["r1"].redactions == 1
    assert stored["r1"].original_text is None  # originals are not kept by default
    assert stored["r1"].band == Band.PROMOTER
    assert stored["r2"].band == Band.DETRACTOR
    assert stored["r1"].status == VerbatimStatus.NEW
    assert stored["r1"].channel == QuoteSource.SURVEY


def test_receive_one_and_again(db, survey):
    intake = services.Intake(survey, Origin.WEBHOOK)
    item = services.Incoming(DAY, "Great help", Scale.CSAT, 5, response_id="abc")
    first = services.receive(item, intake)
    assert first is not None and first.band == Band.PROMOTER
    assert services.receive(item, intake) is None
    assert db.session.get(VoiceSource, survey.id).last_received_at is not None


def test_the_email_source_is_installed(db):
    assert services.email_source().origin == Origin.EMAIL
