"""Webhook signatures checked by the real counterpart, the `standardwebhooks` library: a genuine
delivery verifies; a wrong secret, a changed body, id or timestamp, or an old timestamp do not."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC
from datetime import datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks import WebhookVerificationError

from app.webhooks import signing
from app.webhooks.delivery import encode

BODY = encode({"type": "edition.sent", "timestamp": "2026-12-04T09:00:00Z",
               "data": {"id": 7, "subject": "Ünïcode ✓ \u2028 \"quotes\""}})


def _headers(secret: str, body: bytes = BODY, *, at: int | None = None,
             msg_id: str = "msg_abc") -> dict[str, str]:
    return signing.headers(secret, msg_id, int(time.time()) if at is None else at, body)


def test_a_new_secret_is_whsec_and_at_least_24_random_bytes():
    secrets = {signing.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
        assert len(secret) <= 100  # the column


def test_message_ids_are_unique_and_fit_the_column():
    ids = {signing.new_message_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(i.startswith("msg_") and len(i) <= 64 and i.isascii() for i in ids)


def test_standardwebhooks_verifies_a_signed_body():
    secret = signing.new_secret()
    headers = _headers(secret)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["webhook-id"] == "msg_abc"


def test_the_signature_matches_the_librarys_own():
    secret = signing.new_secret()
    at = int(time.time())
    theirs = Webhook(secret).sign("msg_abc", datetime.fromtimestamp(at, tz=UTC),
                                  BODY.decode("utf-8"))
    assert _headers(secret, at=at)["webhook-signature"] == theirs


def test_a_wrong_secret_fails():
    headers = _headers(signing.new_secret())
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


@pytest.mark.parametrize("tamper", [
    lambda b: b.replace(b'"id":7', b'"id":8'),
    lambda b: b + b" ",
    lambda b: b[:-1],
    lambda b: b"",
])
def test_a_changed_body_fails(tamper):
    secret = signing.new_secret()
    headers = _headers(secret)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tamper(BODY), headers)


def test_a_changed_id_or_timestamp_fails():
    secret = signing.new_secret()
    headers = _headers(secret)
    for key, value in (("webhook-id", "msg_other"),
                       ("webhook-timestamp", str(int(headers["webhook-timestamp"]) + 1))):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(BODY, {**headers, key: value})


@pytest.mark.parametrize("offset", [-3600, -301, 301, 86400])
def test_an_old_or_future_timestamp_fails_even_when_signed(offset):
    secret = signing.new_secret()
    headers = _headers(secret, at=int(time.time()) + offset)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


def test_a_large_body_signs_and_verifies():
    secret = signing.new_secret()
    body = encode({"type": "x", "data": {"text": "é" * 500_000}})
    assert Webhook(secret).verify(body, _headers(secret, body))["data"]["text"] == "é" * 500_000


def test_a_secret_that_is_not_base64_is_refused():
    with pytest.raises(ValueError):
        signing.signature("whsec_not base64!!", "msg_1", 1, b"{}")
