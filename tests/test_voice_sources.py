"""Customer voice → Sources (app/voice/source_views.py, app/voice/sources.py): admins add webhook
sources whose secret is shown once, rotate it, deactivate, reactivate and delete; editors read."""

from __future__ import annotations

import json
import re
import time

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import Origin
from app.models import QuoteSource
from app.models import Verbatim
from app.models import VoiceSource
from app.voice.sources import signature

BASE = "/review/voice/sources"
BODY = {"response_id": "r-1", "text": "Lovely", "score": 10, "scale": "nps"}


def _secret(page: str) -> str:
    match = re.search(r'id="voice-secret">([A-Za-z0-9_-]{43})<', page)
    assert match, page
    return match.group(1)


def send(client, slug: str, secret: str, body: dict | None = None):
    raw = json.dumps(body or BODY).encode()
    ts = int(time.time())
    headers = {"X-Voice-Timestamp": str(ts),
               "X-Voice-Signature": "v1=" + signature(secret, ts, raw)}
    return client.post(f"/hooks/voice/{slug}", data=raw, headers=headers,
                       content_type="application/json")


def add_source(admin_client, name="Typeform store survey", **data) -> tuple[VoiceSource, str]:
    page = admin_client.post(f"{BASE}/new", data={"name": name, "channel": "survey",
                                                   "payload": "generic", **data})
    assert page.status_code == 200, page.get_data(as_text=True)
    source = db.session.scalar(sa.select(VoiceSource).order_by(VoiceSource.id.desc()))
    return source, _secret(page.get_data(as_text=True))


def actions() -> list[str]:
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.action.startswith("voice.source."))
        .order_by(AuditEvent.id)))


def test_admin_adds_a_webhook_source_whose_secret_is_shown_once(admin_client, admin, client):
    empty = admin_client.get(BASE).get_data(as_text=True)
    assert "Forwarded emails" in empty and "Add a webhook source" in empty

    page = admin_client.post(f"{BASE}/new", data={"name": "  Typeform   store survey ",
                                                   "channel": "chat", "payload": "typeform"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    secret = _secret(text)
    source = db.session.scalar(sa.select(VoiceSource).where(VoiceSource.origin == Origin.WEBHOOK))
    assert (source.name, source.slug, source.payload) == (
        "Typeform store survey", "typeform-store-survey", "typeform")
    assert source.channel == QuoteSource.CHAT and source.is_active
    assert source.webhook_secret == secret and source.secret_rotated_at is not None
    assert "http://localhost/hooks/voice/typeform-store-survey" in text
    assert "openssl dgst -sha256 -hmac" in text and "hmac.new(" in text
    assert actions() == ["voice.source.create"]

    for url in (BASE, f"{BASE}/{source.id}"):
        shown = admin_client.get(url)
        assert shown.status_code == 200
        assert secret not in shown.get_data(as_text=True)  # never again
    detail = admin_client.get(f"{BASE}/{source.id}").get_data(as_text=True)
    assert "Secret</dt><dd>Set" in detail and "form_response.token" in detail
    assert "curl -sS -X POST 'http://localhost/hooks/voice/typeform-store-survey'" in detail

    typeform_body = json.loads(json.dumps({
        "event_type": "form_response", "form_response": {"token": "t1", "answers": [
            {"type": "number", "number": 9, "field": {"type": "nps", "ref": "nps"}}]}}))
    assert send(client, source.slug, secret, typeform_body).status_code == 201


def test_the_list_shows_counts_and_last_received(admin_client, client):
    source, secret = add_source(admin_client)
    assert send(client, source.slug, secret).status_code == 201
    assert send(client, source.slug, secret, {**BODY, "response_id": "r-2"}).status_code == 201
    listing = admin_client.get(BASE).get_data(as_text=True)
    row = listing[listing.index("Typeform store survey"):]
    row = row[:row.index("</tr>")]
    assert '<td class="num">2</td>' in row and "Never" not in row and "Secret set" in row


def test_rotating_refuses_the_old_secret_at_once(admin_client, client):
    source, old = add_source(admin_client)
    confirm = admin_client.get(f"{BASE}/{source.id}/rotate")
    assert confirm.status_code == 200
    assert "refused from the moment" in confirm.get_data(as_text=True)
    page = admin_client.post(f"{BASE}/{source.id}/rotate")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    new = _secret(page.get_data(as_text=True))
    assert new != old
    assert send(client, source.slug, old).status_code == 401
    assert send(client, source.slug, new).status_code == 201
    assert actions() == ["voice.source.create", "voice.source.rotate"]


def test_deactivated_sources_are_refused_until_reactivated(admin_client, client):
    source, secret = add_source(admin_client)
    done = admin_client.post(f"{BASE}/{source.id}/deactivate", follow_redirects=True)
    assert "is deactivated" in done.get_data(as_text=True)
    assert send(client, source.slug, secret).status_code == 401
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Verbatim)) == 0
    again = admin_client.post(f"{BASE}/{source.id}/deactivate", follow_redirects=True)
    assert "already inactive" in again.get_data(as_text=True)
    admin_client.post(f"{BASE}/{source.id}/reactivate")
    assert send(client, source.slug, secret).status_code == 201
    assert actions() == ["voice.source.create", "voice.source.deactivate",
                         "voice.source.reactivate"]


def test_a_source_with_verbatims_cannot_be_deleted(admin_client, client):
    source, secret = add_source(admin_client)
    send(client, source.slug, secret)
    page = admin_client.get(f"{BASE}/{source.id}/delete").get_data(as_text=True)
    assert "brought 1 verbatim," in page and "Delete the source" not in page
    refused = admin_client.post(f"{BASE}/{source.id}/delete", follow_redirects=True)
    assert "Deactivate it instead" in refused.get_data(as_text=True)
    assert db.session.get(VoiceSource, source.id) is not None


def test_an_unused_source_is_deleted_after_confirmation(admin_client):
    source, _secret_ = add_source(admin_client)
    page = admin_client.get(f"{BASE}/{source.id}/delete").get_data(as_text=True)
    assert "Delete the source" in page
    done = admin_client.post(f"{BASE}/{source.id}/delete", follow_redirects=True)
    assert "is deleted" in done.get_data(as_text=True)
    assert db.session.get(VoiceSource, source.id) is None
    assert actions()[-1] == "voice.source.delete"
    assert admin_client.get(f"{BASE}/{source.id}", follow_redirects=True).status_code == 200


def test_the_email_source_gets_no_secret_and_is_not_deleted(admin_client):
    email = db.session.scalar(sa.select(VoiceSource).where(VoiceSource.slug == "email"))
    detail = admin_client.get(f"{BASE}/{email.id}").get_data(as_text=True)
    assert "Rotate the secret" not in detail and ">Delete<" not in detail
    rotated = admin_client.post(f"{BASE}/{email.id}/rotate", follow_redirects=True)
    assert "has no secret" in rotated.get_data(as_text=True)
    deleted = admin_client.post(f"{BASE}/{email.id}/delete", follow_redirects=True)
    assert "built in" in deleted.get_data(as_text=True)
    db.session.refresh(email)
    assert email.webhook_secret is None
    assert actions() == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "Name the source"),
        ({"name": "\x00\u200b  "}, "Name the source"),
        ({"name": "n" * 121}, "at most 120 characters"),
        ({"payload": "delighted"}, "Not a valid choice"),
        ({"channel": "pigeon"}, "Not a valid choice"),
    ],
)
def test_bad_input_re_renders_the_form_keeping_it(admin_client, data, message):
    form = {"name": "Kept name", "channel": "survey", "payload": "generic", **data}
    page = admin_client.post(f"{BASE}/new", data=form)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "There’s a problem" in text and 'id="voice-secret"' not in text
    assert message in text
    if "name" not in data:
        assert 'value="Kept name"' in text  # what was typed stays
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VoiceSource)) == 1  # email
    assert actions() == []


@pytest.mark.parametrize(
    ("names", "slug"),
    [
        (["Café crème survey"], "cafe-creme-survey"),
        (["日本の調査"], "webhook"),
        (["NPS", "nps"], "nps-2"),
        (["x" * 120], "x" * 40),
        (["Email"], "email-2"),
    ],
)
def test_slugs_are_made_from_the_name_and_unique(admin_client, names, slug):
    for name in names:
        source, _ = add_source(admin_client, name=name)
    assert source.slug == slug


def test_editors_read_the_list_but_manage_nothing(editor_client, admin_client):
    source, _ = add_source(admin_client)
    listing = editor_client.get(BASE)
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert "Typeform store survey" in text and "Add a webhook source" not in text
    assert f"{BASE}/{source.id}" not in text
    for url in (f"{BASE}/new", f"{BASE}/{source.id}", f"{BASE}/{source.id}/rotate"):
        assert editor_client.get(url).status_code == 403
    for url in ("rotate", "deactivate", "reactivate", "delete"):
        assert editor_client.post(f"{BASE}/{source.id}/{url}").status_code == 403
    db.session.refresh(source)
    assert source.is_active and actions() == ["voice.source.create"]


def test_unknown_sources_go_back_to_the_list(admin_client):
    page = admin_client.get(f"{BASE}/999999", follow_redirects=True)
    assert page.status_code == 200
    assert "no such customer-voice source" in page.get_data(as_text=True)
