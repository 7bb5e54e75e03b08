"""Build RFC 5322 messages safely: the one place that turns strings into an `EmailMessage`.

Header values are checked for CR/LF *before* they reach the email package: a value carrying a
line break is an injection attempt or a bug, and silently stripping it would hide both.
"""

from __future__ import annotations

import email.policy
from datetime import UTC
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from email.utils import parseaddr

from flask import current_app
from flask import has_app_context

DEFAULT_DOMAIN = "feelgood.local"

# SMTP line endings, RFC 2047 encoded headers (no SMTPUTF8 needed) and 7-bit bodies
# (quoted-printable/base64), so any relay accepts the message and the .eml bytes are identical.
POLICY = email.policy.SMTP.clone(cte_type="7bit")

# Headers the builder owns; letting callers pass them would produce duplicates or broken MIME.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


class HeaderInjectionError(ValueError):
    """A header name or value contains CR or LF; the message is refused, not repaired."""


def _check(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjectionError(f"line break in the {name} header value")
    return value


def _domain_for_message_id() -> str:
    """Message-IDs carry our sender domain so bounces and threads trace back to us."""
    if has_app_context():
        _name, addr = parseaddr(current_app.config.get("MAIL_DEFAULT_SENDER") or "")
        domain = addr.rpartition("@")[2]
        if domain:
            return domain
    return DEFAULT_DOMAIN


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """Return a text (+ HTML alternative) message ready for any backend.

    `sender` and `to` may carry a display name ("Ana <ana@example.com>"); non-ASCII names and
    subjects are RFC 2047 encoded by the policy. Naive `date` values are taken as UTC.
    """
    _check("From", sender)
    _check("To", to)
    _check("Subject", subject)
    extra = dict(headers or {})
    for name, value in extra.items():
        if not name or any(ch in name for ch in "\r\n: ") or not name.isascii():
            raise HeaderInjectionError(f"invalid header name {name!r}")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"the {name} header is set by build_message, not via headers=")
        _check(name, value)
    if message_id is not None:
        _check("Message-ID", message_id)

    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    if not msg["To"].addresses:
        raise ValueError(f"no recipient address in {to!r}")
    msg["Subject"] = subject
    when = date or datetime.now(UTC)
    msg["Date"] = when if when.tzinfo else when.replace(tzinfo=UTC)
    msg["Message-ID"] = message_id or make_msgid(domain=_domain_for_message_id())
    for name, value in extra.items():
        msg[name] = value

    msg.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
        for part in msg.iter_parts():
            del part["MIME-Version"]  # add_alternative copies it into the parts; it belongs on top
    return msg


def envelope_sender(msg: EmailMessage) -> str:
    """The bare address of From, for MAIL FROM."""
    return _addresses(msg, "From")[0].addr_spec


def envelope_recipients(msg: EmailMessage) -> list[str]:
    """The bare addresses of To, for RCPT TO (Cc/Bcc are not used by this app)."""
    return [address.addr_spec for address in _addresses(msg, "To")]


def _addresses(msg: EmailMessage, name: str) -> tuple[Address, ...]:
    header = msg[name]
    addresses = tuple(getattr(header, "addresses", ()))
    if not addresses:
        raise ValueError(f"message has no {name} address")
    return addresses
