"""Signed unsubscribe links: stable per recipient, no expiry (RFC 8058 one-click must keep working
in old emails), forgeable by nobody without SECRET_KEY.

A token names a user (`{"u": id}`) or, for an extra address an admin added, the address itself
(`{"e": email}`). It carries no timestamp, so one recipient's link is the same in every edition
and signing it costs microseconds per message.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from app.errors import TokenError

SALT = "unsubscribe"


@dataclass(frozen=True, slots=True)
class UnsubscribeTarget:
    user_id: int | None
    email: str | None


def serializer() -> URLSafeSerializer:
    """Build once per batch and reuse: `dumps` is then the only per-recipient cost."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make_unsubscribe_token(
    *, user_id: int | None, email: str | None = None, signer: URLSafeSerializer | None = None
) -> str:
    if user_id is None and not email:
        raise ValueError("an unsubscribe token needs a user id or an address")
    payload: dict[str, int | str] = {"u": user_id} if user_id is not None else {"e": str(email)}
    return (signer or serializer()).dumps(payload)


def read_unsubscribe_token(token: str) -> UnsubscribeTarget:
    try:
        payload = serializer().loads(token)
    except BadSignature:
        raise TokenError(
            "This unsubscribe link is not valid. Check that you copied all of it."
        ) from None
    if isinstance(payload, dict):
        if isinstance(payload.get("u"), int):
            return UnsubscribeTarget(user_id=payload["u"], email=None)
        if isinstance(payload.get("e"), str):
            return UnsubscribeTarget(user_id=None, email=payload["e"])
    raise TokenError("This unsubscribe link is not valid.")
