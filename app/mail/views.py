"""Development outbox: read the .eml files the `file` backend writes, as a mail client would.

Registered only when DEV_OUTBOX is set (development and tests), never in production. Email HTML
is untrusted markup, so it is served from its own URL with a locked-down CSP and shown in a
sandboxed iframe; the page itself never embeds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.message import MIMEPart
from email.parser import BytesParser
from pathlib import Path

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import render_template

from app.auth.access import public
from app.mail.backends import EML_NAME_PATTERN
from app.mail.backends import outbox_dir

bp = Blueprint("dev_outbox", __name__, url_prefix="/dev/outbox")

NAME_RE = re.compile(EML_NAME_PATTERN)
LIST_LIMIT = 200
EMAIL_FRAME_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    name: str
    date: datetime | None
    to: str
    subject: str


@bp.before_request
def _only_when_enabled() -> None:
    # Defence in depth: even if someone registers the blueprint by hand, it stays closed.
    if not current_app.config.get("DEV_OUTBOX"):
        abort(404)


@bp.get("")
@public
def index() -> str:
    directory = outbox_dir(current_app)
    files = sorted(_eml_files(directory), reverse=True)  # names start with a UTC timestamp
    entries = [entry for path in files[:LIST_LIMIT] if (entry := _entry(path)) is not None]
    return render_template(
        "dev/outbox.html",
        entries=entries,
        total=len(files),
        limit=LIST_LIMIT,
        directory=directory,
        backend=current_app.config.get("MAIL_BACKEND"),
    )


@bp.get("/<name>")
@public
def message(name: str) -> str:
    msg = _load(name)
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    return render_template(
        "dev/outbox_message.html",
        name=name,
        headers=[(key, str(value)) for key, value in msg.items()],
        subject=str(msg.get("Subject", "")),
        text=_content(text_part),
        has_html=html_part is not None,
    )


@bp.get("/<name>/html")
@public
def message_html(name: str) -> Response:
    html_part = _load(name).get_body(preferencelist=("html",))
    if html_part is None:
        abort(404)
    response = Response(_content(html_part), mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_FRAME_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # the app default (DENY) would block it
    response.headers["Referrer-Policy"] = "no-referrer"  # remote images must not see our URLs
    return response


def _eml_files(directory: Path) -> list[Path]:
    try:
        return [path for path in directory.iterdir() if NAME_RE.fullmatch(path.name)]
    except FileNotFoundError:
        return []


def _parse(path: Path, *, headers_only: bool = False) -> EmailMessage:
    with path.open("rb") as fp:
        msg = BytesParser(policy=policy.default).parse(fp, headersonly=headers_only)
    assert isinstance(msg, EmailMessage)
    return msg


def _entry(path: Path) -> OutboxEntry | None:
    try:
        msg = _parse(path, headers_only=True)
    except OSError:
        return None  # deleted between listing and reading
    date_header = msg.get("Date")
    date = getattr(date_header, "datetime", None)
    return OutboxEntry(
        name=path.name,
        date=date.astimezone(UTC) if date and date.tzinfo else date,
        to=str(msg.get("To", "")),
        subject=str(msg.get("Subject", "")),
    )


def _load(name: str) -> EmailMessage:
    """The stored message called `name`; 404 for anything but a generated file name."""
    if not NAME_RE.fullmatch(name):
        abort(404)
    path = outbox_dir(current_app) / name
    try:
        return _parse(path)
    except (FileNotFoundError, IsADirectoryError):
        abort(404)


def _content(part: MIMEPart | None) -> str:
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else content.decode("utf-8", "replace")
