"""A forwarded customer email, read: the raw message in, the customer's own words out.

Pure parsing (no database, no app): app/voice/receiver.py calls `parse` for every message the
SMTP listener accepts, and refuses the message with the `ValidationError`'s message when there is
nothing usable in it.

What is taken, in order:
- "Forward as attachment" (a message/rfc822 part): the attached message is the customer's.
- Otherwise the forward's text body (text/plain preferred, an HTML-only body converted with
  inscriptis) holds the forwarded header block every mail client writes under its marker line:
  Gmail ("---------- Forwarded message ---------"), Outlook ("-----Original Message-----" or a
  rule, then "From: … Sent: …", also localised: "De : … Envoyé : …", "Von: … Gesendet: …"),
  Apple Mail ("Begin forwarded message:", unquoted), Thunderbird ("-------- Forwarded Message
  --------"). A block is two or more consecutive "Name: value" lines with a sender among them,
  in any mix of the languages below (Gmail writes "De :" next to "Date:"): that is a table of
  names, not a pattern per client. The customer's words run from the first block whose sender
  is outside the forwarder's own domain (a colleague's forward of a forward is looked through)
  to the next block.
- From those words mail-parser-reply removes the customer's signature, disclaimers and the older
  quoted thread ("On … wrote:", "-----Original Message-----"); trailing "> " lines go too.

The employee's note above the forwarded header is ignored: it is the colleague's words, not the
customer's, and it is neither stored nor logged. Its author is credited as the sharer instead.

Personal data: the customer's address is never returned. Their display name (from the forwarded
"From:" line) is used once, here, to replace the name in the text ("[name]": the full name
anywhere, a part of it when it stands alone on a line, as a sign-off does); it is not returned
either. Attachments are never read. HTML is only ever converted to plain text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr

from inscriptis import get_text
from mailparser_reply.parser import EmailMessage as ReplyText
from mailparser_reply.parser import EmailReply

from app.errors import DomainError
from app.errors import ValidationError

# Longest body text read (after HTML conversion), thread and signatures included: the stored
# comment is at most 10,000 characters (app/voice/services.py), and reading costs grow with it.
MAX_BODY_CHARS = 100_000
SIGN_OFF_TRIES = 10  # lines that open like a sign-off examined before the text is kept whole

# The languages whose reply headers and sign-offs mail-parser-reply looks for. Not all it knows:
# some patterns cut ordinary English lines (Danish "Tak" matches "Take care", Swedish "/word",
# Polish takes a single "Do:" line for a header block).
LANGUAGES = ("en", "de", "fr", "es", "it", "nl")

# Header names of a forwarded block as mail clients localise them (lower case).
FROM_NAMES = frozenset({
    "from", "von", "de", "van", "da", "od", "från", "fra", "发件人", "보낸 사람", "보낸사람",
})
DATE_NAMES = frozenset({
    "date", "sent", "datum", "gesendet", "envoyé", "fecha", "enviado", "data", "inviato",
    "verzonden", "skickat", "sendt", "dato", "odesláno", "wysłano", "发送时间", "日期", "보낸 날짜",
})
SUBJECT_NAMES = frozenset({
    "subject", "betreff", "objet", "asunto", "oggetto", "onderwerp", "ämne", "emne", "temat",
    "předmět", "主题", "제목",
})
OTHER_NAMES = frozenset({
    "to", "cc", "bcc", "reply-to", "organization", "organisation", "organización", "an", "à", "a",
    "para", "aan", "till", "til", "komu", "do", "kopie", "kopia", "kopi", "dw", "收件人", "抄送",
    "组织", "받는 사람", "참조", "vedhæftet",
})
HEADER_NAMES = FROM_NAMES | DATE_NAMES | SUBJECT_NAMES | OTHER_NAMES

# Month names and abbreviations in the languages above (first letters, lower case).
MONTHS = {
    "jan": 1, "gen": 1, "ene": 1,
    "feb": 2, "fev": 2, "fév": 2,
    "mar": 3, "mär": 3, "mrt": 3, "maar": 3,
    "apr": 4, "avr": 4, "abr": 4,
    "may": 5, "mai": 5, "mag": 5, "mei": 5, "maj": 5,
    "jun": 6, "giu": 6, "juin": 6,
    "jul": 7, "lug": 7, "juil": 7,
    "aug": 8, "ago": 8, "aoû": 8, "aou": 8,
    "sep": 9, "set": 9,
    "oct": 10, "okt": 10, "ott": 10, "out": 10,
    "nov": 11,
    "dec": 12, "dez": 12, "dic": 12, "déc": 12,
}
NUMERIC_DATE = re.compile(r"(\d{1,4})\s*[./\-年]\s*(\d{1,2})\s*[./\-月]\s*(\d{1,4})")
LATIN_LABELS = frozenset({
    "us-ascii", "ascii", "iso-8859-1", "iso_8859-1", "latin-1", "latin1", "windows-1252", "cp1252",
})
WORD = re.compile(r"\d+|[^\W\d_]+")
BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class ForwardedEmail:
    """What a forward yields. No field names the customer: their address and name stop here
    (the text's other personal data is redacted on intake, app/voice/redact.py)."""

    forwarder: str  # the forward's From address, as written (the receiver checks it)
    text: str  # the customer's words
    original_date: date | None  # when the customer wrote, if the forwarded header says
    sent_on: date | None  # the forward's own Date
    fingerprint: str  # SHA-256 of the Message-ID (of the raw bytes without one)


@dataclass(frozen=True)
class _Forwarded:
    body: str
    sender: str  # the customer's "From" value; used for the name, then dropped
    original_date: date | None


def parse(raw: bytes) -> ForwardedEmail:
    """The customer's words in a forwarded email, or ValidationError saying why there are none
    (also for a message too malformed to read: this never raises anything else)."""
    try:
        return _parse(raw)
    except DomainError:
        raise
    except Exception as error:  # hostile or broken MIME: refused, never a crash
        raise ValidationError("The message could not be read as an email.") from error


def _parse(raw: bytes) -> ForwardedEmail:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    forwarder = _single_address(message.get("From"))
    if _header(message, "Auto-Submitted").lower() not in ("", "no"):
        raise ValidationError(
            "Automatic messages (auto-replies, rule-based forwards) are not accepted: "
            "forward the customer's email yourself."
        )
    forwarded = _forwarded(message, forwarder)
    text = _without_name(_customer_words(forwarded.body), forwarded.sender)
    if not text.strip():
        raise ValidationError(
            "No customer text was left after removing the forwarding header, signatures "
            "and quoted replies."
        )
    message_id = _header(message, "Message-ID").strip("<> \t")
    fingerprint = hashlib.sha256(
        message_id.encode("utf-8", "surrogateescape") if message_id else raw).hexdigest()
    return ForwardedEmail(
        forwarder=forwarder,
        text=text,
        original_date=forwarded.original_date,
        sent_on=_message_date(message),
        fingerprint=fingerprint,
    )


# -- the message ---------------------------------------------------------------------------


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded value ("" when missing or unreadable)."""
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError):
        return ""
    return " ".join(str(value or "").split())


def _single_address(value: object) -> str:
    addresses = getattr(value, "addresses", ())
    if len(addresses) != 1 or "@" not in addresses[0].addr_spec:
        raise ValidationError("The message does not have exactly one sender address (From).")
    return addresses[0].addr_spec


def _message_date(message: EmailMessage) -> date | None:
    header = message.get("Date")
    moment = getattr(header, "datetime", None)
    return moment.date() if moment is not None else parse_date(str(header or ""))


def _forwarded(message: EmailMessage, forwarder: str) -> _Forwarded:
    attached = _attached_message(message)
    if attached is not None:
        return _Forwarded(
            body=_check_length(_body_text(attached)),
            sender=_header(attached, "From"),
            original_date=_message_date(attached),
        )
    body = _body_text(message)
    if not body.strip():
        raise ValidationError("The message has no text (attachments are not read).")
    _check_length(body)
    found = _inline_forward(body, forwarder.rpartition("@")[2].lower())
    if found is None:
        raise ValidationError(
            "No forwarded customer message was found: forward the customer's email (inline or "
            "as an attachment) to this address."
        )
    return found


def _check_length(body: str) -> str:
    if len(body) > MAX_BODY_CHARS:
        raise ValidationError(
            f"The message's text is {len(body):,} characters long; the limit is "
            f"{MAX_BODY_CHARS:,}."
        )
    return body


def _attached_message(message: EmailMessage) -> EmailMessage | None:
    """The first message/rfc822 part that is an email ("forward as attachment")."""
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, EmailMessage) and _header(inner, "From"):
                return inner
    return None


def _body_text(message: EmailMessage) -> str:
    """The message's body as plain text: text/plain if it has words, else its HTML converted.
    Attachments (parts marked so, or not text) are never looked at."""
    for preference in ("plain", "html"):
        part = message.get_body(preferencelist=(preference,))
        if part is None or not isinstance(part, EmailMessage):
            continue
        text = _decoded(part)
        if preference == "html":
            text = get_text(text)
        if text.strip():
            return text.replace("\r\n", "\n").replace("\r", "\n")
    return ""


def _decoded(part: EmailMessage) -> str:
    """A text part's payload (quoted-printable or base64 undone) as a string.

    Text labelled US-ASCII or ISO-8859-1 is read as UTF-8 when it is valid UTF-8 (a common
    mislabel) and as windows-1252 otherwise, as browsers do (mailers label windows-1252 text
    so). Any other charset is tried as declared; an unknown or wrong one falls back to UTF-8,
    then to windows-1252 with replacement characters: never an exception."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    declared = (part.get_content_charset() or "utf-8").lower()
    tries = ("utf-8",) if declared in LATIN_LABELS else (declared, "utf-8")
    for charset in tries:
        try:
            text = payload.decode(charset)
            break
        except (LookupError, UnicodeDecodeError):
            continue
    else:
        text = payload.decode("windows-1252", errors="replace")
    if part.get_content_subtype() == "plain" and part.get_param("format", "") == "flowed":
        text = _unflowed(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
    return text


def _unflowed(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed: a line ending in a space continues on the next one."""
    lines: list[str] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(" "):  # space-stuffed
            line = line[1:]
        if line.endswith(" ") and line != "-- ":
            current.append(line[:-1] if delsp else line)
            continue
        lines.append("".join(current) + line)
        current = []
    if current:
        lines.append("".join(current))
    return "\n".join(lines)


# -- the forwarded block ------------------------------------------------------------------


def _inline_forward(body: str, own_domain: str) -> _Forwarded | None:
    """The first forwarded header block whose sender is not a colleague (the forwarder's own
    domain: a forward of a colleague's forward), and the text up to the next block."""
    lines = [line.strip() for line in body.split("\n")]
    blocks = list(_header_blocks(lines))
    for number, (_start, end, fields) in enumerate(blocks):
        sender = next((v for k, v in fields if k in FROM_NAMES), None)
        if sender is None or (own_domain and _domain(sender) == own_domain):
            continue
        stop = blocks[number + 1][0] if number + 1 < len(blocks) else len(lines)
        return _Forwarded(
            body="\n".join(lines[end:stop]),
            sender=sender,
            original_date=next(
                (d for k, v in fields if k in DATE_NAMES and (d := parse_date(v))), None
            ),
        )
    return None


def _header_blocks(lines: list[str]) -> Iterator[tuple[int, int, list[tuple[str, str]]]]:
    """(first line, line after, fields) of each block of two or more header lines naming a
    sender ("From:", "De :", "Von:", ... in any mix of languages; "*From:*" from HTML too).
    One unrecognised line inside a block is a wrapped value (a long "To:")."""
    i = 0
    while i < len(lines):
        fields: list[tuple[str, str]] = []
        j = i
        while j < len(lines):
            field = _field(lines[j])
            if field is None and fields and j + 1 < len(lines) and _field(lines[j + 1]):
                j += 1
                continue
            if field is None:
                break
            fields.append(field)
            j += 1
        if len(fields) >= 2 and any(name in FROM_NAMES for name, _ in fields):
            yield i, j, fields
        # No block starts inside this one (its lines have fewer fields): linear, whatever the
        # text (a message of 50,000 "To:" lines must not take minutes).
        i = max(i + 1, j)


def _field(line: str) -> tuple[str, str] | None:
    name, colon, value = line.replace("\uff1a", ":").partition(":")
    name = name.strip(" *>\t").lower()
    return (name, value.strip(" *\t")) if colon and name in HEADER_NAMES else None


def _domain(sender: str) -> str:
    address = parseaddr(re.sub(r"\[mailto:([^\]]*)\]", r"<\1>", sender))[1]
    return address.rpartition("@")[2].lower() if "@" in address else ""


def _customer_words(body: str) -> str:
    """`body` without the customer's signature, disclaimers and the older quoted thread."""
    parsed = ReplyText(text=body, languages=list(LANGUAGES), keep_hyphen_lists=True).read()
    # The part before any reply header is the customer's; when the body starts with a header
    # there is no such part and nothing of theirs.
    reply = next((r for r in parsed.replies if not r.headers), None)
    if reply is None:
        return ""
    words = EmailReply(content=reply.content, disclaimers=reply.disclaimers).body
    # mail-parser-reply ends the text at the first line that opens like a signature, but
    # "Thank you, Maria, you made our day!" is a sentence: the first such line that reads as a
    # sign-off ("Thanks,", "Best regards, Ana", "--", "Sent from my iPhone") is the one.
    # Each search runs to the end of the text: a few tries, not one per line.
    position = 0
    for _try in range(SIGN_OFF_TRIES):
        found = parsed.SIGNATURE_REGEX.search(words, position)
        if found is None:
            break
        start = found.start() + len(found.group(0)) - len(found.group(0).lstrip())
        if _sign_off(words[start:].split("\n", 1)[0]):
            words = words[:start]
            break
        position = words.find("\n", start) + 1
        if position == 0:
            break
    lines = words.rstrip().split("\n")
    while lines and (not lines[-1] or lines[-1].startswith(">") or _lead_in(lines[-1])):
        lines.pop()
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _sign_off(line: str) -> bool:
    """A signature's first line as people write one: "Thanks,", "Best regards, Ana", "--"."""
    return len(line.split()) <= 4 and not line.rstrip().endswith((".", "!", "?"))


def _lead_in(line: str) -> bool:
    """What introduces a quoted or forwarded message: "Begin forwarded message:", a line of
    dashes or underscores ("-------- Forwarded Message --------")."""
    return line.endswith(":") or line.startswith(("-----", "_____"))


def _without_name(text: str, sender: str) -> str:
    """`text` with the customer's name (from the forwarded From line) replaced by "[name]"."""
    name = re.sub(r"\[mailto:[^\]]*\]", "", sender)  # Outlook: Name [mailto:address]
    if "<" in name:
        name = parseaddr(name)[0]
    name = " ".join(name.replace('"', " ").split())
    if "@" in name or len(name) < 2:
        return text
    text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[name]", text)
    parts = {p.casefold() for p in re.split(r"[\s,]+", name) if len(p) > 1} | {name.casefold()}
    return "\n".join(
        "[name]" if line.strip(" ,.-!").casefold() in parts else line
        for line in text.split("\n")
    )


# -- dates ---------------------------------------------------------------------------------


def parse_date(value: str) -> date | None:
    """The calendar date in a mail client's date line, in any of the usual spellings:
    "Mon, Nov 30, 2026 at 9:12 AM", "lundi 30 novembre 2026 09:12", "30.11.2026",
    "2026-11-30", RFC 5322. None when there is none or it is ambiguous (11/10/2026)."""
    words = WORD.findall(value.lower())
    year_at = next((i for i, w in enumerate(words) if w.isdigit() and len(w) == 4), None)
    if year_at is not None:
        # The month word nearest before the year ("mar. 1 déc. 2026": "mar" is mardi).
        months = [_month(w) for w in words[:year_at]][::-1] + [
            _month(w) for w in words[year_at + 1:]]
        month = next((m for m in months if m), None)
        if month is not None:
            before = [int(w) for w in words[:year_at] if w.isdigit() and len(w) <= 2]
            after = [int(w) for w in words[year_at + 1:] if w.isdigit() and len(w) <= 2]
            return _date(int(words[year_at]), month,
                         before[-1] if before else (after[0] if after else None))
    numeric = NUMERIC_DATE.search(value)
    if numeric is None:
        return None
    return _numeric_date(*(int(g) for g in numeric.groups()), numeric.group(0))


def _month(word: str) -> int | None:
    return None if word.isdigit() else MONTHS.get(word[:4]) or MONTHS.get(word[:3])


def _numeric_date(a: int, b: int, c: int, written: str) -> date | None:
    if a > 31:  # 2026-11-30, 2026/11/30, 2026年11月30日
        return _date(a, b, c)
    if c < 1000:
        return None  # a two-digit year
    if "." in written or a > 12:  # 30.11.2026 (day first wherever dots are used), 30/11/2026
        return _date(c, b, a)
    if b > 12:  # 11/30/2026
        return _date(c, a, b)
    return None  # 11/10/2026: either way round


def _date(year: int, month: int, day: int | None) -> date | None:
    if day is None or not 1990 <= year <= 2199:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None
