"""Redaction of customers' personal data (app/voice/redact.py): a corpus of real-looking formats
from several countries (tests/data/voice_privacy/redaction_corpus.tsv), the admin's patterns and
their time budget, and redaction on arrival through the intake."""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

import pytest

from app.models import Origin
from app.models import Verbatim
from app.settings import set_settings
from app.voice import redact
from app.voice import services
from app.voice.redact import DEFAULT_REGIONS
from app.voice.redact import TOKEN
from app.voice.redact import Redactor
from app.voice.redact import current_redactor
from app.voice.redact import iban_valid
from app.voice.redact import luhn

CORPUS = Path(__file__).parent / "data" / "voice_privacy" / "redaction_corpus.tsv"


def _corpus() -> list[tuple[str, str]]:
    cases = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            given, expected = line.split("\t")
            cases.append((given, expected))
    return cases


@pytest.mark.parametrize(("given", "expected"), _corpus(), ids=lambda v: v[:40])
def test_corpus(given, expected):
    text, count = Redactor([], regions=DEFAULT_REGIONS).redact(given)
    assert text == expected
    assert count == len(TOKEN.findall(expected)) - len(TOKEN.findall(given))


def test_corpus_is_large_and_varied():
    cases = _corpus()
    redacted = [c for c in cases if c[0] != c[1]]
    assert len(cases) >= 50 and len(redacted) >= 35
    for token in ("[phone]", "[email]", "[card]", "[iban]"):
        assert sum(token in expected for _, expected in cases) >= 4


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("378282246310005", True),
     ("5555555555554444", True), ("79927398713", True), ("79927398710", False)],
)
def test_luhn(digits, valid):
    assert luhn(digits) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [("GB82WEST12345698765432", True), ("GB82WEST12345698765433", False),
     ("DE89370400440532013000", True), ("NL91ABNA0417164300", True), ("GB82", False),
     ("1282WEST12345698765432", False)],
)
def test_iban_check(iban, valid):
    assert iban_valid(iban) is valid


PATTERNS = [
    {"label": "order", "pattern": r"ORD-[0-9]{6}"},
    {"label": "account id", "pattern": r"\bACC[0-9]{8}\b"},
]


def test_admin_patterns_become_their_label():
    text, count = Redactor(PATTERNS).redact(
        "Order ORD-123456 on account ACC12345678 (not ACC1234), mail a@b.example")
    assert text == "Order [order] on account [account id] (not ACC1234), mail [email]"
    assert count == 3


def test_admin_patterns_run_before_phone_numbers():
    """An order number that also reads as a phone number is shown as what the admin said."""
    assert Redactor([{"label": "order", "pattern": r"ORD-0[0-9]{9}"}]).redact(
        "ORD-0612345678 arrived") == ("[order] arrived", 1)
    assert Redactor([]).redact("ORD-0612345678 arrived") == ("ORD-[phone] arrived", 1)


def test_admin_patterns_never_touch_tokens_or_earlier_redactions():
    patterns = [{"label": "word", "pattern": "email|phone|card"}, {"label": "at", "pattern": "@"}]
    text, count = Redactor(patterns).redact("[email] card a@b.example phone")
    assert text == "[email] [word] [email] [word]"
    assert count == 3


def test_zero_width_matches_are_ignored():
    """The settings refuse a pattern matching empty text; a lookaround can still match
    between characters, which must not insert tokens everywhere."""
    assert Redactor([{"label": "edge", "pattern": r"\b"}]).redact("hello world") == (
        "hello world", 0)


def test_a_pattern_that_backtracks_forever_withholds_the_comment(monkeypatch, caplog):
    monkeypatch.setattr(redact, "PATTERN_TIMEOUT", 0.01)
    redactor = Redactor([{"label": "slow", "pattern": r"(a|aa)+$"}])
    hostile = "a" * 60 + "!"
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="app.voice.redact"):
        results = [redactor.redact(hostile) for _ in range(redact.BROKEN_AFTER + 5)]
    assert time.perf_counter() - started < 5
    assert results == [("[withheld]", 1)] * (redact.BROKEN_AFTER + 5)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == redact.BROKEN_AFTER  # then the pattern is not tried again
    assert "'slow'" in warnings[0].getMessage() and hostile not in caplog.text
    # The same pattern on a harmless comment (a new batch) still works.
    assert Redactor([{"label": "slow", "pattern": r"(a|aa)+$"}]).redact("baa") == ("b[slow]", 1)


@pytest.mark.parametrize(
    "text",
    ["", " ", "[", "[]", "[email", "@", "@@@ @ a@ @b", "+", "+" * 50, "0" * 40, "4" * 19,
     "1-2-3-4-5-6-7-8-9-0-1-2-3-4-5", "(((((1)))))", "\x00\x01", "🙂" * 100, "٠٦١٢٣٤٥٦٧٨",
     "a." * 5000 + "@"],
)
def test_odd_input_does_not_break(text):
    result, count = Redactor(PATTERNS).redact(text)
    assert isinstance(result, str) and count >= 0


def test_longest_comment_is_fast():
    """A 10,000-character comment full of numbers (the intake's limit) stays well under a
    second, however many digit runs and addresses it has."""
    chunk = "call 06 12 34 56 78 or a@b.example on 30/11/2026, card 4111 1111 1111 1112; "
    text = (chunk * (10_000 // len(chunk) + 1))[:10_000]
    started = time.perf_counter()
    redacted, count = Redactor(PATTERNS, regions=DEFAULT_REGIONS).redact(text)
    assert time.perf_counter() - started < 5
    assert count >= 2 * text.count("a@b.example") - 2
    assert "06 12 34" not in redacted and "a@b" not in redacted


def test_unknown_regions_are_ignored(app, caplog):
    app.config["VOICE_PHONE_REGIONS"] = ("FR", "XX")
    with caplog.at_level(logging.WARNING, logger="app.voice.redact"):
        redactor = current_redactor()
    assert redactor.regions == ("FR",)
    assert "XX" in caplog.text
    assert redactor.redact("06 12 34 56 78") == ("[phone]", 1)
    assert redactor.redact("07700 900123")[1] == 0  # a British number in national form


def test_current_redactor_uses_the_admin_patterns(db):
    set_settings({"voice_redact_patterns": "order: ORD-[0-9]{6}"}, actor=None)
    db.session.commit()
    assert current_redactor().redact("ORD-123456") == ("[order]", 1)


def test_intake_stores_the_redacted_text_and_the_original_only_when_kept(db):
    source = services.email_source()
    comment = "Ana (+44 20 7946 0958, ana@example.com) was lovely"
    item = services.Incoming(date(2026, 11, 30), comment)

    services.insert_rows([services.Intake(source, Origin.EMAIL).row(services.check(item))])
    set_settings({"voice_keep_original": True}, actor=None)
    db.session.commit()
    services.insert_rows([services.Intake(source, Origin.EMAIL).row(services.check(item))])

    rows = db.session.scalars(db.select(Verbatim).order_by(Verbatim.id)).all()
    assert [(v.text, v.redactions, v.original_text) for v in rows] == [
        ("Ana ([phone], [email]) was lovely", 2, None),
        ("Ana ([phone], [email]) was lovely", 2, comment),
    ]
