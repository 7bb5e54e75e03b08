"""Standard Webhooks signatures (https://www.standardwebhooks.com): what a receiver checks.

Every delivery carries `webhook-id` (the message id, the same for every attempt, so a receiver
can drop duplicates), `webhook-timestamp` (unix seconds of this attempt, so a receiver can refuse
replays of old messages) and `webhook-signature`: `v1,` + base64 of HMAC-SHA256 over
"{id}.{timestamp}.{body}", keyed with the endpoint's secret (`whsec_` + base64 of random bytes;
the key is the decoded bytes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 -- a prefix, not a secret
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64
MESSAGE_ID_PREFIX = "msg_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def new_message_id() -> str:
    """A `webhook-id`: unique, URL-safe, at most 64 characters (the column)."""
    return MESSAGE_ID_PREFIX + secrets.token_urlsafe(18)


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 after the prefix, decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
