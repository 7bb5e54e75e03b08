"""The signed customer-voice webhook (app/voice/hooks.py, app/voice/payloads.py), through the real
stack: signed request → view → intake → database, and every refusal storing nothing."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import Band
from app.models import Origin
from app.models import QuoteSource
from app.models import Scale
from app.models import Verbatim
from app.models import VoiceSource
from app.voice import hooks
from app.voice import payloads
from app.voice.sources import signature
from tests import factories

SECRET = "s3cret-for-tests-only-0123456789abcdefghijkl"  # noqa: S105 - a test fixture
DATA = Path(__file__).parent / "data" / "voice_webhook"
GOOD = {"response_id": "r-1", "text": "Lovely service", "score": 9, "scale": "nps"}


@pytest.fixture
def hook(db):
    source = VoiceSource(slug="nps-hook", name="NPS hook", origin=Origin.WEBHOOK,
                         channel=QuoteSource.SURVEY, webhook_secret=SECRET, payload="generic")
    db.session.add(source)
    db.session.commit()
    return source


def _body(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def signed_headers(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"X-Voice-Timestamp": str(ts), "X-Voice-Signature": "v1=" + signature(secret, ts, body)}


def post(client, payload, *, slug="nps-hook", headers=None, content_type="application/json",
         **sign):
    body = _body(payload)
    sent = signed_headers(body, **sign) if headers is None else headers
    return client.post(f"/hooks/voice/{slug}", data=body, headers=sent,
                       content_type=content_type)


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Verbatim))


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json(force=True)
    assert problem["status"] == status
    return problem


# The way in ----------------------------------------------------------------------------------
def test_a_signed_request_creates_one_redacted_mapped_verbatim(client, hook):
    team = factories.make_team("Leeds store")
    db.session.commit()
    response = post(client, {
        "response_id": "r-1042", "text": "Sam was great, write to ana@example.com",
        "score": 9, "scale": "NPS", "received_at": "2026-11-30T10:00:00Z", "team": "leeds STORE",
        "touchpoint": "store", "language": "en", "consent": True, "channel": "chat",
        "customer": {"email": "ana@example.com", "name": "Ana Example"}, "extra": [1, 2],
    })
    assert response.status_code == 201
    assert response.json["status"] == "created"
    assert count() == 1
    verbatim = db.session.get(Verbatim, response.json["id"])
    assert verbatim.text == "Sam was great, write to [email]"
    assert verbatim.original_text is None
    assert (verbatim.scale, verbatim.score, verbatim.band) == (Scale.NPS, 9, Band.PROMOTER)
    assert verbatim.response_id == "r-1042"
    assert verbatim.team_id == team.id
    assert verbatim.touchpoint_id == factories.touchpoint("store").id
    assert verbatim.received_on == date(2026, 11, 30)
    assert (verbatim.language, verbatim.consent) == ("en", True)
    assert verbatim.channel == QuoteSource.CHAT
    assert verbatim.origin == Origin.WEBHOOK and verbatim.source_id == hook.id
    assert verbatim.import_id is None and verbatim.sharer_id is None
    db.session.refresh(hook)
    assert hook.last_received_at is not None
    stored = " ".join(str(v) for v in db.session.execute(sa.select(Verbatim.__table__)).one())
    assert "Ana Example" not in stored and "ana@example.com" not in stored


def test_defaults_the_date_and_channel_and_keeps_a_text_without_score(client, hook):
    response = post(client, {"response_id": 77, "text": "Thanks!", "received_on": "2026-11-29"})
    assert response.status_code == 201
    verbatim = db.session.get(Verbatim, response.json["id"])
    assert (verbatim.response_id, verbatim.received_on) == ("77", date(2026, 11, 29))
    assert verbatim.score is None and verbatim.band is None
    assert verbatim.channel == QuoteSource.SURVEY  # the source's
    response = post(client, {"response_id": "r-2", "score": 3, "scale": "csat"})
    assert response.status_code == 201
    assert db.session.get(Verbatim, response.json["id"]).received_on >= date(2026, 1, 1)


def test_control_characters_in_the_text_are_removed(client, hook):
    response = post(client, {"response_id": "c", "text": "Gr\x00eat\x07 \u202eservice\x1b"})
    assert response.status_code == 201
    assert db.session.get(Verbatim, response.json["id"]).text == "Great \u202eservice"


def test_a_repeat_of_the_response_id_is_a_duplicate_and_stores_nothing(client, hook):
    first = post(client, GOOD)
    assert first.status_code == 201
    again = post(client, {**GOOD, "text": "Changed"}, timestamp=int(time.time()) - 10)
    assert again.status_code == 200
    assert again.json == {"status": "duplicate"}
    assert count() == 1
    assert db.session.scalar(sa.select(Verbatim.text)) == "Lovely service"


def test_several_signatures_pass_when_one_is_right(client, hook):
    body = _body(GOOD)
    ts = int(time.time())
    wrong = "v1=" + signature("an-old-secret", ts, body)
    right = "v1=" + signature(SECRET, ts, body).upper()
    headers = {"X-Voice-Timestamp": str(ts), "X-Voice-Signature": f"{wrong} {right}"}
    assert post(client, body, headers=headers).status_code == 201


@pytest.mark.parametrize("age", [300, -300])
def test_a_timestamp_at_the_tolerance_is_accepted(client, hook, monkeypatch, age):
    sent_at = int(time.time())
    monkeypatch.setattr(hooks, "now", lambda: sent_at + age)
    assert post(client, GOOD, timestamp=sent_at).status_code == 201


# Refused with 401, nothing stored ------------------------------------------------------------
def _tampered(body: bytes) -> tuple[bytes, dict]:
    headers = signed_headers(body)
    return body.replace(b"Lovely", b"Lovelz"), headers


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("unsigned", "missing"),
        ("timestamp only", "missing"),
        ("signature only", "missing"),
        ("wrong secret", "invalid"),
        ("tampered body", "invalid"),
        ("other scheme", "invalid"),
        ("short hex", "invalid"),
        ("timestamp not a number", "invalid"),
        ("signed for another timestamp", "invalid"),
        ("301 s old", "expired"),
        ("301 s in the future", "expired"),
        ("unknown source", "invalid"),
        ("very long slug", "invalid"),
    ],
)
def test_refused_with_401_and_nothing_stored(client, hook, case, detail, monkeypatch):
    body = _body(GOOD)
    now = int(time.time())
    monkeypatch.setattr(hooks, "now", lambda: now)  # "301 s" stays 301 s on a slow machine
    good = signed_headers(body)
    sig = good["X-Voice-Signature"]
    slug = "nps-hook"
    headers = {
        "unsigned": {},
        "timestamp only": {"X-Voice-Timestamp": str(now)},
        "signature only": {"X-Voice-Signature": sig},
        "wrong secret": signed_headers(body, secret="not-the-secret"),
        "other scheme": {**good, "X-Voice-Signature": sig.replace("v1=", "sha256=")},
        "short hex": {**good, "X-Voice-Signature": sig[:-2]},
        "timestamp not a number": {**good, "X-Voice-Timestamp": f"{now}.5"},
        "signed for another timestamp": {**good, "X-Voice-Timestamp": str(now - 1)},
        "301 s old": signed_headers(body, timestamp=now - 301),
        "301 s in the future": signed_headers(body, timestamp=now + 301),
    }.get(case, good)
    if case == "tampered body":
        body, headers = _tampered(body)
    if case == "unknown source":
        slug = "no-such-source"
    if case == "very long slug":
        slug = "x" * 5000
    problem = assert_problem(post(client, body, slug=slug, headers=headers), 401)
    assert problem["detail"] == f"Signature {detail}."
    assert set(problem) == {"type", "title", "status", "detail"}
    assert count() == 0


@pytest.mark.parametrize("state", ["inactive", "no secret", "import origin", "email source"])
def test_a_source_that_cannot_receive_answers_401(client, hook, state):
    slug = "nps-hook"
    if state == "inactive":
        hook.is_active = False
    elif state == "no secret":
        hook.webhook_secret = None
    elif state == "import origin":
        hook.origin = Origin.IMPORT
    else:
        slug = "email"
        db.session.execute(sa.update(VoiceSource).where(VoiceSource.slug == "email")
                           .values(webhook_secret=SECRET))
    db.session.commit()
    problem = assert_problem(post(client, GOOD, slug=slug), 401)
    assert problem["detail"] == "Signature invalid."
    assert count() == 0


def test_the_exact_request_replayed_after_five_minutes_is_refused(client, hook, monkeypatch):
    body = _body(GOOD)
    sent_at = int(time.time())
    headers = signed_headers(body, timestamp=sent_at)
    assert post(client, body, headers=headers).status_code == 201
    monkeypatch.setattr(hooks, "now", lambda: sent_at + 301)
    problem = assert_problem(post(client, body, headers=headers), 401)
    assert problem["detail"] == "Signature expired."
    assert count() == 1


# Bodies refused before the payload is read ---------------------------------------------------
def test_a_body_over_the_limit_is_413(app, client, hook):
    app.config["VOICE_WEBHOOK_MAX_BYTES"] = 1024
    body = _body({**GOOD, "text": "x" * 2000})
    problem = assert_problem(post(client, body), 413)
    assert "1,024 bytes" in problem["detail"]
    assert count() == 0
    assert post(client, {**GOOD, "text": "x" * 900}).status_code == 201


def test_an_oversized_body_is_not_read(client, hook):
    """The declared length is refused before the body is read: the stream stays untouched."""
    stream = io.BytesIO(b"{" + b" " * (10 * 1024 * 1024))
    headers = {**signed_headers(b"{}"), "Content-Length": str(10 * 1024 * 1024 + 1)}
    response = client.post("/hooks/voice/nps-hook", input_stream=stream, headers=headers,
                           content_type="application/json")
    assert_problem(response, 413)
    assert stream.tell() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
def test_a_body_that_is_not_json_is_415(client, hook, content_type):
    assert_problem(post(client, GOOD, content_type=content_type), 415)
    assert count() == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"response_id": "r", "score": NaN}', b"\xff\xfe\x00garbage", b"[" * 100_000,
     b'{"a": 1}{"b": 2}', b"1" * 5000, b"[1, 2]", b'"text"', b"null"],
    ids=["empty", "unclosed", "NaN", "bad bytes", "deep", "two objects", "huge number", "list",
         "string", "null"],
)
def test_malformed_json_is_400(client, hook, body):
    assert_problem(post(client, body), 400)
    assert count() == 0


# Payloads that make no valid verbatim: 422, the field named ----------------------------------
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"score": 11}, "score", "from 0 to 10; got 11"),
        ({"score": "abc"}, "score", "whole number"),
        ({"score": 10**30}, "score", "got 1000000000000000000000000000000"),
        ({"score": 9.5}, "score", "whole number"),
        ({"score": True}, "score", "whole number"),
        ({"score": 4, "scale": None}, "score", "needs its scale"),
        ({"scale": "stars"}, "scale", "nps, csat or ces"),
        ({"text": "x" * 10_001}, "text", "the limit is 10,000"),
        ({"text": {"nested": ["junk", {"deeper": None}]}}, "text", "must be a string"),
        ({"text": "\x00\x07\u200b", "score": None}, "text", "neither a comment nor a score"),
        ({"response_id": None}, "response_id", "required"),
        ({"response_id": ["r"]}, "response_id", "must be a string"),
        ({"response_id": " \u200b\x00 "}, "response_id", "required"),
        ({"response_id": "r" * 201}, "response_id", "longer than 200"),
        ({"received_on": "2026-13-45"}, "received_on", "ISO 8601 date"),
        ({"received_on": "1999-12-31"}, "received_on", "not a plausible"),
        ({"received_at": "yesterday"}, "received_at", "ISO 8601 date and time"),
        ({"received_at": 1764496800}, "received_at", "ISO 8601 date and time"),
        ({"team": "No such team"}, "team", "no team called"),
        ({"team": {"name": "x"}}, "team", "as a string"),
        ({"touchpoint": "moon base"}, "touchpoint", "no touchpoint called"),
        ({"consent": "yes"}, "consent", "true or false"),
        ({"channel": "pigeon"}, "channel", "Use one of"),
        ({"language": 12}, "language", "must be a string"),
    ],
)
def test_an_invalid_payload_is_422_naming_the_field(client, hook, changes, field, message):
    problem = assert_problem(post(client, {**GOOD, **changes}), 422)
    assert list(problem["errors"]) == [field]
    assert message in problem["errors"][field]
    assert count() == 0


def test_every_field_error_is_reported_at_once(client, hook):
    problem = assert_problem(post(client, {"score": "x", "consent": 1, "team": 5}), 422)
    assert set(problem["errors"]) == {"response_id", "score", "consent", "team"}


# Typeform ------------------------------------------------------------------------------------
def test_the_typeform_example_from_its_documentation_maps_right(client, hook):
    team = factories.make_team("Leeds store")
    hook.payload = "typeform"
    db.session.commit()
    document = json.loads((DATA / "typeform_form_response.json").read_text())
    response = post(client, document)
    assert response.status_code == 201, response.get_data(as_text=True)
    verbatim = db.session.get(Verbatim, response.json["id"])
    assert verbatim.response_id == "a3a12ec67a1365927098a606107fac15"
    assert (verbatim.scale, verbatim.score, verbatim.band) == (Scale.NPS, 9, Band.PROMOTER)
    assert verbatim.text == "Sam found my size in minutes and rang me the day it arrived."
    assert verbatim.received_on == date(2026, 11, 30)
    assert verbatim.team_id == team.id
    assert verbatim.touchpoint_id == factories.touchpoint("store").id
    assert (verbatim.language, verbatim.consent) == ("en", True)
    stored = " ".join(str(v) for v in db.session.execute(sa.select(Verbatim.__table__)).one())
    for personal in ("Laura", "laura@example.com", "+447700900123", "abc123456"):
        assert personal not in stored
    assert post(client, document).json == {"status": "duplicate"}
    assert count() == 1


def test_typeform_refs_and_hidden_scale_take_precedence(client, hook):
    hook.payload = "typeform"
    db.session.commit()
    answers = [
        {"type": "number", "number": 2, "field": {"id": "a", "type": "opinion_scale", "ref": "q1"}},
        {"type": "text", "text": "first long text", "field": {"id": "b", "type": "long_text"}},
        {"type": "number", "number": 4, "field": {"id": "c", "type": "rating", "ref": "score"}},
        {"type": "text", "text": "the comment", "field": {"id": "d", "type": "short_text",
                                                          "ref": "comment"}},
        "junk", {"field": "junk"}, {"type": "text"},
    ]
    body = {"event_type": "form_response", "form_response": {
        "token": "t-1", "submitted_at": "2026-11-30T23:30:00-05:00", "answers": answers,
        "hidden": {"scale": "ces"}}}
    response = post(client, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    verbatim = db.session.get(Verbatim, response.json["id"])
    assert (verbatim.scale, verbatim.score, verbatim.text) == (Scale.CES, 4, "the comment")
    assert verbatim.received_on == date(2026, 12, 1)  # 04:30 UTC, the company's time zone


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": "form_response_partial", "form_response": {"token": "t"}}, "event_type"),
        ({"event_type": "form_response", "form_response": []}, "form_response"),
        ({"event_type": "form_response", "form_response": {"token": "t", "answers": {}}},
         "form_response.answers"),
        ({"event_type": "form_response", "form_response": {"token": "t", "answers": [
            {"type": "number", "number": 12, "field": {"type": "nps", "ref": "x"}}]}},
         "form_response.answers[0].number"),
    ],
)
def test_typeform_bodies_that_make_no_verbatim_are_422(client, hook, body, field):
    hook.payload = "typeform"
    db.session.commit()
    problem = assert_problem(post(client, body), 422)
    assert field in problem["errors"]
    assert count() == 0


@pytest.mark.parametrize("layout", sorted(payloads.MAPPINGS))
def test_the_example_shown_on_the_source_page_is_accepted(client, hook, layout):
    hook.payload = layout
    db.session.commit()
    assert set(payloads.MAPPINGS) == set(payloads.EXAMPLES) == set(payloads.LABELS)
    text = json.dumps(payloads.EXAMPLES[layout], ensure_ascii=False)
    assert "'" not in text  # it goes between single quotes in the shell example
    assert post(client, text.encode()).status_code == 201


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_curl_example_signs_like_the_server(tmp_path):
    """The page's shell pipeline computes the same signature as app.voice.sources.signature."""
    body = json.dumps(payloads.EXAMPLES["generic"], ensure_ascii=False)
    script = ("printf '%s.%s' \"$TS\" \"$BODY\" "
              "| openssl dgst -sha256 -hmac \"$VOICE_SECRET\" -r | cut -d' ' -f1")
    result = subprocess.run(  # noqa: S603 - a fixed script
        ["/bin/sh", "-c", script], capture_output=True, text=True, check=True,
        env={"TS": "1764496800", "BODY": body, "VOICE_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.strip() == signature(SECRET, 1764496800, body.encode())


# The HTTP edges ------------------------------------------------------------------------------
@pytest.mark.app_config(VOICE_WEBHOOK_RATE_LIMIT="2 per minute")
def test_rate_limited_per_source(client, hook):
    other = VoiceSource(slug="other", name="Other", origin=Origin.WEBHOOK,
                        channel=QuoteSource.SURVEY, webhook_secret=SECRET, payload="generic")
    db.session.add(other)
    db.session.commit()
    assert post(client, GOOD).status_code == 201
    assert post(client, GOOD).status_code == 200
    limited = post(client, GOOD)
    assert_problem(limited, 429)
    assert limited.headers.get("Retry-After")
    assert post(client, GOOD, slug="other").status_code == 201


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_no_csrf_token_is_needed(client, hook):
    assert post(client, GOOD).status_code == 201


def test_other_methods_are_405(client, hook):
    for method in ("GET", "PUT", "DELETE"):
        assert client.open("/hooks/voice/nps-hook", method=method).status_code == 405


def test_nothing_is_answered_2xx_when_the_commit_fails(client, hook, monkeypatch):
    def fail():
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    monkeypatch.setattr(db.session, "commit", fail)
    response = post(client, GOOD)
    assert response.status_code >= 400
    monkeypatch.undo()
    db.session.rollback()
    assert count() == 0
