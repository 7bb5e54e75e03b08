"""Newsletter messages assembled from parts encoded once per edition.

Why not `app.mail.build_message` per recipient: the email package spends ~1.7 ms building and
flattening one 15 KB multipart message, more than the SMTP exchange itself, so 20,000 recipients
would spend most of the send in Python. `EditionMailer` encodes everything that is the same for
every recipient once (constant headers folded and RFC 2047 encoded by the policy, both bodies
as quoted-printable segments split at the personalisation markers) and per recipient only
joins pre-encoded segments with the encoded values. The result is a normal multipart/alternative
message (the tests parse it with the `email` package and compare it with `personalize`).

Embedded cover pictures (the `embed_images` setting: the composer writes `cid:` references) are
read and base64-encoded once, here, so per recipient they are one more constant string:

    multipart/alternative
      text/plain
      multipart/related; type="text/html"
        text/html            (src="cid:<upload name>@fgf.inline")
        image/jpeg …         (Content-ID, Content-Disposition: inline)

The pictures belong to the HTML, so they are related to it alone: a client showing the text part
never lists them as attachments, and Gmail, Outlook, Apple Mail and Thunderbird all resolve cid:
in this shape (the one they write themselves). Related-around-alternative makes several of them
show the pictures as attachments under the text. A picture whose file is gone falls back to its
remote URL.

`WireMessage` is an `EmailMessage` whose serialisation is those prepared bytes: smtplib's
`send_message` flattens it via the generator's `_write_headers` hook without re-encoding, while
From/To stay real parsed headers for the backends' envelope. For backends that keep or store the
message object (memory, file) `to_email_message` parses the same bytes into an ordinary message.
"""

from __future__ import annotations

import base64
import binascii
import email
import html as html_lib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from email.utils import formataddr
from email.utils import parseaddr

from app.engagement.recipients import NO_APPLAUSE
from app.engagement.recipients import NO_TRACK
from app.mail import HeaderInjectionError
from app.mail import SendResult
from app.mail.backends import MailBackend
from app.mail.backends import SMTPBackend
from app.mail.message import POLICY
from app.newsletter.compose import APPLAUSE
from app.newsletter.compose import CID_RE
from app.newsletter.compose import FIRST_NAME
from app.newsletter.compose import MARKER_PATTERN
from app.newsletter.compose import TRACK
from app.newsletter.compose import UNSUBSCRIBE_URL
from app.newsletter.compose import WEB_URL
from app.newsletter.compose import RenderedEdition
from app.newsletter.compose import greeting_name
from app.newsletter.compose import remote_url_for_cid
from app.submissions import uploads

CRLF = "\r\n"
_SPLIT_RE = re.compile(MARKER_PATTERN)
_URL_SAFE_RE = re.compile(r"[A-Za-z0-9._~-]*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


def _qp(text: str) -> str:
    """Quoted-printable with CRLF line ends (binascii: C speed; smtplib sends bytes as given)."""
    data = text.replace("\r\n", "\n").replace("\n", CRLF).encode("utf-8")
    encoded = binascii.b2a_qp(data, istext=True).decode("ascii")
    # b2a_qp picks its soft-break style from the data; short chunks without a line end get "\n".
    return encoded.replace(CRLF, "\n").replace("\n", CRLF)


@dataclass(frozen=True, slots=True)
class _Template:
    """A body as QP segments around markers: segments[i], values[keys[i]], segments[i+1] ..."""

    segments: tuple[str, ...]
    keys: tuple[str, ...]

    @classmethod
    def encode(cls, text: str) -> _Template:
        pieces = _SPLIT_RE.split(text)
        return cls(tuple(_qp(p) for p in pieces[0::2]), tuple(pieces[1::2]))

    def fill(self, values: dict[str, str]) -> str:
        """Soft line breaks ("=" CRLF) around each value: invisible after decoding, and they
        keep every line within QP's 76 characters whatever the lengths of the pieces."""
        out = [self.segments[0]]
        for key, segment in zip(self.keys, self.segments[1:], strict=True):
            out.append("=\r\n")
            out.append(values[key])
            out.append("=\r\n")
            out.append(segment)
        return "".join(out)


class WireMessage(EmailMessage):
    """A message whose headers and body are prepared text, written out verbatim."""

    def __init__(self, head: str, body: str, from_header: object, to_header: object,
                 content_type: object) -> None:
        super().__init__(policy=POLICY)
        self._head = head
        # Real header objects: backends read From/To for the envelope; Content-Type tells the
        # generator this is multipart, so the prepared body string is written unchanged.
        self._headers = [("From", from_header), ("To", to_header), ("Content-Type", content_type)]
        self._payload = body

    def _write_headers(self, generator) -> None:  # hook called by email.generator
        generator.write(self._head + CRLF)  # the headers, then the blank line before the body

    def wire_bytes(self) -> bytes:
        return (self._head + CRLF + self._payload).encode("ascii")

    def to_email_message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.wire_bytes(), policy=POLICY)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass(frozen=True, slots=True)
class InlineImage:
    name: str  # the upload's name; Content-ID <name@fgf.inline>
    mimetype: str
    size: int  # bytes of the file
    part: str  # the whole MIME part, headers and base64 body, CRLF line ends


def inline_images(html: str, *, embed: bool = True) -> tuple[str, list[InlineImage]]:
    """The pictures the HTML references by `cid:`, read and encoded (each file once), and the
    HTML with every reference it cannot honour (file gone, or `embed=False`) made remote."""
    images: dict[str, InlineImage] = {}
    missing: set[str] = set()
    for name in dict.fromkeys(m.group(2) for m in CID_RE.finditer(html)):
        path = uploads.path_for(name) if embed else None
        try:
            data = path.read_bytes() if path is not None else None
        except OSError:
            data = None
        if data is None:
            missing.add(name)
            continue
        mimetype = uploads.mimetype_for(name)
        images[name] = InlineImage(name, mimetype, len(data), "".join((
            f"Content-Type: {mimetype}{CRLF}",
            f"Content-Transfer-Encoding: base64{CRLF}",
            f"Content-ID: <{name}@fgf.inline>{CRLF}",
            f'Content-Disposition: inline; filename="{name}"{CRLF}{CRLF}',
            _base64_lines(data),
        )))  # fmt: skip
    if missing:
        html = CID_RE.sub(
            lambda m: f'{m.group(1)}{remote_url_for_cid(m.group(2))}"' if m.group(2) in missing
            else m.group(0),
            html,
        )
    return html, list(images.values())


def _base64_lines(data: bytes) -> str:
    """Base64 in lines of 76 characters (57 bytes each), CRLF after every line."""
    return "".join(
        base64.b64encode(data[i:i + 57]).decode("ascii") + CRLF for i in range(0, len(data), 57)
    )


class EditionMailer:
    """Everything about an edition's message that does not depend on the recipient.

    `embed=False` sends the pictures the HTML embeds as remote links instead (the preview's size
    "without pictures")."""

    def __init__(
        self,
        rendered: RenderedEdition,
        *,
        sender: str,
        web_url: str,
        list_id: str,
        subject_prefix: str = "",
        embed: bool = True,
    ) -> None:
        subject = subject_prefix + rendered.subject
        for name, value in (("From", sender), ("Subject", subject), ("List-Id", list_id)):
            if "\r" in value or "\n" in value:
                raise HeaderInjectionError(f"line break in the {name} header value")
        self.sender_address = parseaddr(sender)[1]
        if "@" not in self.sender_address:
            raise ValueError(f"no sender address in {sender!r}")
        self.web_url = web_url
        self.web_url_html = html_lib.escape(web_url, quote=True)
        self._web_url_qp = _qp(web_url)
        self._web_url_html_qp = _qp(self.web_url_html)
        boundary = f"=_fgf_{secrets.token_hex(12)}"
        content_type = f'multipart/alternative; boundary="{boundary}"'
        self._from_header = POLICY.header_factory("From", sender)
        self._content_type = POLICY.header_factory("Content-Type", content_type)
        self._head_start = "".join(
            POLICY.header_factory(name, value).fold(policy=POLICY)
            for name, value in (
                ("From", sender),
                ("Subject", subject),
                ("List-Id", list_id),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ("Precedence", "bulk"),
                ("Auto-Submitted", "auto-generated"),
                ("X-Auto-Response-Suppress", "OOF, AutoReply"),
            )
        )
        self._head_end = f"MIME-Version: 1.0{CRLF}Content-Type: {content_type}{CRLF}"
        self._mailto = f"mailto:{self.sender_address}?subject=unsubscribe"
        html, self.images = inline_images(rendered.html, embed=embed)  # once per edition
        self._text = _Template.encode(rendered.text)
        self._html = _Template.encode(html)
        self._part_text = (
            f"--{boundary}{CRLF}Content-Type: text/plain; charset=\"utf-8\"{CRLF}"
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
        )
        html_head = (
            f"Content-Type: text/html; charset=\"utf-8\"{CRLF}"
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
        )
        if self.images:
            related = f"=_fgr_{secrets.token_hex(12)}"
            self._part_html = (
                f"{CRLF}--{boundary}{CRLF}Content-Type: multipart/related;{CRLF}"
                f' boundary="{related}"; type="text/html"{CRLF}{CRLF}'
                f"--{related}{CRLF}{html_head}"
            )
            # Each part ends with CRLF, the line break that belongs to the next delimiter.
            self._closing = "".join(
                [CRLF] + [f"--{related}{CRLF}{image.part}" for image in self.images]
                + [f"--{related}--{CRLF}--{boundary}--{CRLF}"]
            )
        else:
            self._part_html = f"{CRLF}--{boundary}{CRLF}{html_head}"
            self._closing = f"{CRLF}--{boundary}--{CRLF}"
        self._date_second = -1
        self._date_header = ""

    def message(
        self,
        *,
        email_address: str,
        name: str | None,
        first_name: str | None,
        message_id: str,
        unsubscribe_url: str,
        when: datetime | None = None,
        track: str = NO_TRACK,
        applause: str = NO_APPLAUSE,
    ) -> WireMessage:
        """One recipient's message; values are escaped and encoded here, never trusted.

        `track` and `applause` are URL-safe tokens (app/engagement/recipients.py): the same
        bytes in HTML, text and quoted-printable, so they are checked, not encoded."""
        if not (_URL_SAFE_RE.fullmatch(track) and _URL_SAFE_RE.fullmatch(applause)):
            raise HeaderInjectionError("a link token with characters a URL cannot carry")
        if any(ch in email_address for ch in "\r\n<>,\"") or "@" not in email_address:
            raise HeaderInjectionError(f"unusable address {email_address!r}")
        if any(ch in message_id for ch in "\r\n") or any(ch in unsubscribe_url for ch in "\r\n"):
            raise HeaderInjectionError("line break in a per-recipient header")
        clean_name = _CONTROL_RE.sub(" ", name or "").strip()
        to = formataddr((clean_name, email_address), charset="utf-8")
        local, _, domain = email_address.rpartition("@")
        to_header = _AddressHeader(to, Address(display_name=clean_name, username=local,
                                               domain=domain))
        head = "".join((
            self._head_start,
            "To: ", to, CRLF,
            "Date: ", self._date(when), CRLF,
            "Message-ID: ", message_id, CRLF,
            "List-Unsubscribe: <", unsubscribe_url, ">,", CRLF, " <", self._mailto, ">", CRLF,
            self._head_end,
        ))  # fmt: skip
        greeting = greeting_name(first_name)
        greeting_html = html_lib.escape(greeting, quote=True)
        text = self._text.fill(
            {FIRST_NAME: _qp(greeting), UNSUBSCRIBE_URL: _qp(unsubscribe_url),
             WEB_URL: self._web_url_qp, TRACK: track, APPLAUSE: applause}
        )
        html = self._html.fill(
            {FIRST_NAME: _qp(greeting_html),
             UNSUBSCRIBE_URL: _qp(html_lib.escape(unsubscribe_url, quote=True)),
             WEB_URL: self._web_url_html_qp, TRACK: track, APPLAUSE: applause}
        )
        body = "".join((self._part_text, text, self._part_html, html, self._closing))
        return WireMessage(head, body, self._from_header, to_header, self._content_type)

    def _date(self, when: datetime | None) -> str:
        when = when or datetime.now(UTC)
        second = int(when.timestamp())
        if second != self._date_second:  # formatting costs more than the rest of the headers
            self._date_second = second
            self._date_header = format_datetime(when.astimezone(UTC).replace(microsecond=0))
        return self._date_header


class _AddressHeader(str):
    """Stands in for a parsed To header: `name` makes the policy return it as is, and
    `addresses` is what the backends read for RCPT TO (parsing it costs ~60 µs a message)."""

    name = "To"
    addresses: tuple[Address, ...]

    def __new__(cls, value: str, address: Address) -> _AddressHeader:
        obj = super().__new__(cls, value)
        obj.addresses = (address,)
        return obj


GMAIL_CLIP_BYTES = 102 * 1024  # Gmail shows "[Message clipped]" past this much HTML


@dataclass(frozen=True, slots=True)
class MessageSize:
    """One message as it travels: its bytes on the wire, and its HTML's (what Gmail clips)."""

    wire: int
    html: int
    images: int  # pictures attached (cid:)

    @property
    def clipped(self) -> bool:
        return self.html > GMAIL_CLIP_BYTES


def measure(message: WireMessage) -> MessageSize:
    """Sizes read back from the real bytes (parsed as a client would)."""
    raw = message.wire_bytes()
    parsed = email.message_from_bytes(raw, policy=POLICY)
    html = parsed.get_body(("html",))
    html_bytes = len(html.get_content().encode("utf-8")) if html is not None else 0
    images = sum(1 for part in parsed.walk() if part.get("Content-ID"))
    return MessageSize(len(raw), html_bytes, images)


def send_with(backend: MailBackend, message: WireMessage) -> SendResult:
    """SMTP takes the prepared bytes as they are; other backends get an ordinary message."""
    if isinstance(backend, SMTPBackend):
        return backend.send(message)
    return backend.send(message.to_email_message())
