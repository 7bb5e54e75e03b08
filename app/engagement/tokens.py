"""The signed values in readership links, each with its own salt so one can never pass for
another:

- link token (`/r/<token>/…`): [edition id, item kind, item id, target URL], an itsdangerous
  `URLSafeSerializer` value. The redirect goes only to the URL signed in it, so /r/ is never an
  open redirect; made once per link per compiled edition, so its cost does not matter;
- edition token (`/o/<token>/…`): the edition id, signed (one per compiled edition);
- random tag (`r<16 random characters>.<signature>`): which message a click or open came from,
  in aggregate-only mode: random, so it names nobody, and signed, so nobody can make up messages
  to inflate the counts; the stored tag is `r<16 characters>`;
- person tag (`d<delivery id>.<signature>`): which message a click or open came from, in
  per-person mode only; the stored tag is `d<delivery id>`;
- applause token (`<user id>e<edition id>.<time>.<signature>`): who may applaud from the email,
  for which edition, until APPLAUSE_LINK_MAX_AGE_DAYS after the send.

The last three are made per message, so `FastSigner` signs them with one HMAC call and a key
derived once per sending pass: the output is exactly itsdangerous' (`Signer` / `TimestampSigner`
with the same salt), so reading them back uses itsdangerous itself (constant-time comparison,
key rotation through a list of SECRET_KEYs).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from itsdangerous import BadData
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import Signer
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.encoding import int_to_bytes

from app.errors import TokenError

LINK_SALT = "engagement-link"
OPEN_SALT = "engagement-open"
TAG_SALT = "engagement-tag"
APPLAUSE_SALT = "engagement-applause"
ITEM_KINDS = ("story", "quote")
SCHEMES = ("http://", "https://")

# Aggregate-only tags are random (`r` + 16 URL-safe characters), person tags name a delivery; both
# are signed. Any other tag (including "-", previews and test sends) is recorded nowhere.
RANDOM_TAG_RE = re.compile(r"(r[A-Za-z0-9_-]{16})\.[A-Za-z0-9_-]{27}")
PERSON_TAG_RE = re.compile(r"d([1-9][0-9]{0,17})\.[A-Za-z0-9_-]{27}")
_APPLAUSE_VALUE_RE = re.compile(r"([1-9][0-9]{0,17})e([1-9][0-9]{0,17})")
INTEGER_MAX = 2**31 - 1  # ids fit an INTEGER column (app/numbers.py)


@dataclass(frozen=True, slots=True)
class LinkTarget:
    edition_id: int
    item_kind: str | None
    item_id: int | None
    url: str


@dataclass(frozen=True, slots=True)
class ApplauseClaim:
    user_id: int
    edition_id: int


def _secret() -> Any:
    return current_app.config["SECRET_KEY"]


class FastSigner:
    """`Signer(SECRET_KEY, salt).sign(value)` for many values: the key is derived once, and
    each signature is one `hmac.digest` call (about a microsecond)."""

    def __init__(self, salt: str) -> None:
        signer = Signer(_secret(), salt=salt)
        self._key = signer.derive_key()
        self._digest = signer.digest_method().name  # "sha1", itsdangerous' default

    def sign(self, value: str) -> str:
        mac = hmac.digest(self._key, value.encode("ascii"), self._digest)
        return f"{value}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode('ascii')}"


# -- link tokens (/r/) ----------------------------------------------------------------------------


def link_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(_secret(), salt=LINK_SALT)


def make_link_token(target: LinkTarget, serializer: URLSafeSerializer | None = None) -> str:
    if not target.url.startswith(SCHEMES):
        raise ValueError("only http(s) links are tracked")
    payload = [target.edition_id, target.item_kind, target.item_id, target.url]
    return (serializer or link_serializer()).dumps(payload)


def read_link_token(token: str) -> LinkTarget | None:
    """The signed target, or None for anything tampered, truncated or not a tracked http(s) link
    (a signed `javascript:` URL cannot exist, and would be refused here all the same)."""
    try:
        payload = link_serializer().loads(token)
    except (BadData, ValueError, UnicodeError):
        return None
    if not (isinstance(payload, list) and len(payload) == 4):
        return None
    edition_id, item_kind, item_id, url = payload
    if not (_is_id(edition_id) and isinstance(url, str) and url.startswith(SCHEMES)):
        return None
    if not ((item_kind is None and item_id is None)
            or (item_kind in ITEM_KINDS and _is_id(item_id))):
        return None
    return LinkTarget(edition_id, item_kind, item_id, url)


def _is_id(value: object) -> bool:
    return type(value) is int and 0 < value <= INTEGER_MAX


# -- edition tokens (/o/) -------------------------------------------------------------------------


def make_edition_token(edition_id: int) -> str:
    return Signer(_secret(), salt=OPEN_SALT).sign(str(int(edition_id))).decode("ascii")


def read_edition_token(token: str) -> int | None:
    try:
        value = Signer(_secret(), salt=OPEN_SALT).unsign(token).decode("ascii")
    except (BadData, UnicodeError):
        return None
    if not value.isdigit() or not 0 < int(value) <= INTEGER_MAX:
        return None
    return int(value)


# -- message tags ---------------------------------------------------------------------------------


def random_tag(prefix: str) -> str:
    """`prefix` + 16 URL-safe characters from 12 random bytes: unique per message, derived from
    nothing. "r": sent in aggregate-only mode; "a": anonymized; "x": a person tag read after the
    switch to aggregate-only."""
    return prefix + base64.urlsafe_b64encode(os.urandom(12)).decode("ascii")


def _signed_tag(pattern: re.Pattern[str], tag: str) -> str | None:
    """The pattern's first group of a well-formed tag whose signature holds, else None."""
    match = pattern.fullmatch(tag)
    if match is None:
        return None
    try:
        Signer(_secret(), salt=TAG_SALT).unsign(tag)
    except BadSignature:
        return None
    return match.group(1)


def read_random_tag(tag: str) -> str | None:
    """The stored form (`r<16>`) of a genuine aggregate-only tag, else None (forged, malformed)."""
    return _signed_tag(RANDOM_TAG_RE, tag)


def read_person_tag(tag: str) -> int | None:
    """The delivery id of a genuine person tag, else None (forged, malformed)."""
    value = _signed_tag(PERSON_TAG_RE, tag)
    return int(value) if value is not None and int(value) <= INTEGER_MAX else None


# -- applause tokens ------------------------------------------------------------------------------


def timestamp_part(now: float | None = None) -> str:
    """The time in TimestampSigner's format, taken once per sending pass."""
    return base64_encode(int_to_bytes(int(time.time() if now is None else now))).decode("ascii")


class ApplauseTokens:
    """The applause tokens of one edition's sending pass (`RecipientKeys.applause`): the key, the
    edition and the time are fixed once, so each token is one string join and one HMAC call.
    `now` (seconds since the epoch) backdates the tokens."""

    def __init__(self, edition_id: int, *, now: float | None = None) -> None:
        self._signer = FastSigner(APPLAUSE_SALT)
        # What follows the user id: `e<edition id>.<time>` (read back by _APPLAUSE_VALUE_RE).
        self._suffix = f"e{int(edition_id)}.{timestamp_part(now)}"

    def make(self, user_id: int) -> str:
        return self._signer.sign(f"{int(user_id)}{self._suffix}")


class ApplauseLinkExpired(TokenError):
    """The link is genuine but older than APPLAUSE_LINK_MAX_AGE_DAYS."""


def read_applause_token(token: str) -> ApplauseClaim:
    """Who the link was made for, and for which edition; TokenError when it was tampered with,
    ApplauseLinkExpired when it is too old."""
    max_age = int(current_app.config["APPLAUSE_LINK_MAX_AGE_DAYS"]) * 86400
    try:
        value = TimestampSigner(_secret(), salt=APPLAUSE_SALT).unsign(token, max_age=max_age)
    except SignatureExpired:
        raise ApplauseLinkExpired("This applause link has expired.") from None
    except (BadData, UnicodeError, ValueError, OverflowError):
        raise TokenError("This applause link is not valid.") from None
    match = _APPLAUSE_VALUE_RE.fullmatch(value.decode("ascii", "replace"))
    if match is None:
        raise TokenError("This applause link is not valid.")
    user_id, edition_id = int(match.group(1)), int(match.group(2))
    if user_id > INTEGER_MAX or edition_id > INTEGER_MAX:
        raise TokenError("This applause link is not valid.")
    return ApplauseClaim(user_id=user_id, edition_id=edition_id)
