"""Forwarded customer emails: a real SMTP client (smtplib) talks to the real receiver (aiosmtpd
in a thread of this process, app/voice/receiver.py), which stores what it accepts through the
same intake as the other ways in. tests/data/voice_mailin/ holds what Gmail, Outlook (English,
French, German, on the web), Apple Mail and Thunderbird send, a forward as attachment, HTML-only
mails, nested multiparts and charset accidents, plus messages that must be refused.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.errors import PermissionDenied
from app.errors import ValidationError
from app.extensions import db as database
from app.models import Origin
from app.models import QuoteSource
from app.models import Verbatim
from app.models import VerbatimStatus
from app.voice import mailin
from app.voice import receiver as receiver_module
from app.voice import services
from app.voice.inbox_cli import inbox_cli
from app.voice.receiver import Receiver
from app.voice.receiver import receive_email

CORPUS = Path(__file__).parent / "data" / "voice_mailin"
INBOX = "voice@company.example"
DANA = "dana.smith@company.example"
MARIA = "maria.silva@company.example"
TODAY = date(2026, 12, 6)

# The customer's words as the editors must see them: no forwarding header, no note from the
# colleague, no signature, no older thread; and the date the customer wrote.
EXPECTED = {
    "gmail.eml": (
        "Thank you, Maria Silva, for helping me choose the right bike. Call me on [phone] or "
        "write to [email] if you need a testimonial.\n\n"
        "It was the best service I have had in years.",
        date(2026, 11, 30),
    ),
    "outlook.eml": (
        "Hello,\n\nI just wanted to say that João Costa was incredibly patient with my "
        "“impossible” return. The whole team made it feel easy.",
        date(2026, 11, 27),
    ),
    "outlook_fr.eml": (
        "Bonjour,\n\nUn grand merci à Zoé Martin pour son accueil chaleureux. Je reviendrai !",
        date(2026, 11, 30),
    ),
    "outlook_de.eml": (
        "Hallo,\n\nvielen Dank an Maria Silva für die schnelle Hilfe mit meiner Bestellung!",
        date(2026, 11, 30),
    ),
    "apple.eml": (
        "Dear team,\n\nThe staff in Braga fixed my phone in twenty minutes. Maria Silva even "
        "walked me through the backup settings.",
        date(2026, 11, 28),
    ),
    "thunderbird.eml": (
        "Hi,\n\nQuick note to say the repair was done a day early. Great work from Maria Silva "
        "and the workshop!",
        date(2026, 11, 26),
    ),
    "attached.eml": (
        "Dear Lisbon team,\n\nMaria Silva went above and beyond today: she stayed after closing "
        "so I could pick up my order.",
        date(2026, 11, 25),
    ),
    "outlook_web.eml": (
        "Hello again,\n\nThe bike works perfectly. João Costa explained everything twice and "
        "never made me feel silly.",
        date(2026, 12, 3),
    ),
    "html_only.eml": ("Your colleague Maria Silva was wonderful & kind.", date(2026, 11, 24)),
    "wrong_charset.eml": ("Obrigada à equipa! O João foi impecável.", date(2026, 12, 2)),
    "unknown_charset.eml": ("Danke schön, Zoé Martin! \U0001f44d", date(2026, 12, 2)),
    # "Cheers," is not a sign-off mail-parser-reply knows; the customer's name under it goes.
    "nested.eml": (
        "Brilliant advice on the tent, thank you. We stayed dry all weekend.\n\nCheers,\n[name]",
        date(2026, 12, 2),
    ),
}

REFUSED = {
    "refused_empty.eml": "has no text",
    "refused_attachment_only.eml": "has no text (attachments are not read)",
    "refused_not_forwarded.eml": "No forwarded customer message was found",
    "refused_signature_only.eml": "No customer text was left",
    "refused_auto_reply.eml": "Automatic messages",
    "refused_malformed.eml": "has no text",
}


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def crlf(raw: bytes) -> bytes:
    """SMTP lines end in CRLF (smtplib leaves bytes as they are)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deliver(inbox: Receiver | int, raw: bytes, *, mail_from: str = DANA, to: str = INBOX,
            size: bool = False) -> tuple[int, str]:
    """One SMTP transaction with the receiver (or a port); the last reply (code, text)."""
    port = inbox if isinstance(inbox, int) else inbox.port
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("gateway.company.example")
        options = [f"SIZE={len(raw)}"] if size else []
        code, reply = client.mail(mail_from, options)
        if code == 250:
            code, reply = client.rcpt(to)
        if code == 250:
            code, reply = client.data(crlf(raw))
        return code, reply.decode()


def stored() -> list[Verbatim]:
    """The verbatims as the receiver's thread committed them (a fresh transaction: on SQLite
    an open one would keep reading its snapshot)."""
    database.session.commit()
    return list(database.session.scalars(sa.select(Verbatim).order_by(Verbatim.id)))


@pytest.fixture
def people(db, make_team, make_user):
    team = make_team("Lisbon store")
    dana = make_user(email=DANA, display_name="Dana Smith", team=team)
    maria = make_user(email=MARIA, display_name="Maria Silva", team=team)
    db.session.commit()  # the receiver's thread reads them on its own connection
    return dana, maria


@pytest.fixture
def start_inbox(app, people):
    """Start the receiver (settings first: `start_inbox(VOICE_INBOX_MAX_BYTES=...)`)."""
    started: list[Receiver] = []

    def start(**config) -> Receiver:
        app.config.update(VOICE_INBOX_ADDRESS=INBOX, **config)
        started.append(Receiver(app, "127.0.0.1", free_port()).start())
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def inbox(start_inbox) -> Receiver:
    return start_inbox()


# -- through SMTP ----------------------------------------------------------------------------


def test_a_forwarded_email_becomes_a_clean_verbatim_credited_to_the_employee(db, inbox, people):
    dana, maria = people
    with smtplib.SMTP(inbox.host, inbox.port, timeout=60) as client:
        refused = client.sendmail(DANA, [INBOX], crlf(corpus("gmail.eml")))
    assert refused == {}

    [verbatim] = stored()
    text, written_on = EXPECTED["gmail.eml"]
    assert verbatim.text == text
    for absent in ("Forwarded message", "This one made my day", "Best regards", "Procurement",
                   "wrote:", "bike is ready", "Ana", "ana.customer", "912 345"):
        assert absent not in verbatim.text
    assert verbatim.redactions == 2  # the phone number and the address
    assert verbatim.original_text is None
    assert verbatim.sharer_id == dana.id
    assert verbatim.team_id == dana.team_id
    assert verbatim.mentioned_user_ids == [maria.id]
    assert verbatim.mentions_colleague is True
    assert verbatim.channel == QuoteSource.EMAIL
    assert verbatim.origin == Origin.EMAIL
    assert verbatim.source.slug == "email"
    assert verbatim.source.last_received_at is not None
    assert verbatim.status == VerbatimStatus.NEW
    assert verbatim.received_on == written_on
    assert verbatim.response_id.startswith("email-") and len(verbatim.response_id) == 70
    assert verbatim.scale is None and verbatim.score is None


def test_the_same_message_delivered_twice_is_stored_once(db, inbox):
    raw = corpus("outlook.eml")
    assert deliver(inbox, raw)[0] == 250
    code, reply = deliver(inbox, raw)
    assert (code, reply) == (250, "2.0.0 Already received.")
    assert len(stored()) == 1


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_mail_client_forward_yields_the_customer_words(db, inbox, people, name):
    code, reply = deliver(inbox, corpus(name))
    assert code == 250, reply
    [verbatim] = stored()
    text, written_on = EXPECTED[name]
    assert verbatim.text == text
    assert verbatim.received_on == written_on
    assert verbatim.sharer_id == people[0].id
    assert "<" not in verbatim.text and ">" not in verbatim.text  # never HTML, never quoted


def test_html_is_converted_to_plain_text_without_scripts(db, inbox):
    assert deliver(inbox, corpus("html_only.eml"))[0] == 250
    [verbatim] = stored()
    for markup in ("<", ">", "script", "alert", "onerror", "javascript", "color: red"):
        assert markup not in verbatim.text


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_message_without_customer_words_is_refused_with_the_reason(db, inbox, name, caplog):
    caplog.set_level(logging.INFO, logger="app.voice.receiver")
    code, reply = deliver(inbox, corpus(name))
    assert code == 550
    assert reply.startswith("5.6.0 ") and REFUSED[name] in reply
    assert stored() == []
    assert "Refused a forwarded email from [email]: " in caplog.text  # no address in logs
    assert DANA not in caplog.text


def test_an_unknown_sender_is_refused_and_nothing_is_stored(db, inbox, caplog):
    caplog.set_level(logging.INFO, logger="app.voice.receiver")
    raw = corpus("gmail.eml").replace(DANA.encode(), b"stranger@example.net")
    code, reply = deliver(inbox, raw, mail_from="stranger@example.net")
    assert code == 550
    assert reply == ("5.7.1 Not a known colleague: only active accounts can share customer "
                     "emails.")
    assert stored() == []
    assert "Refused a forwarded email from [email]: Not a known colleague" in (
        caplog.text)
    assert "bike" not in caplog.text and "Thank you" not in caplog.text  # reasons, not content


def test_a_deactivated_account_is_not_a_colleague(db, inbox, people):
    people[0].is_active_user = False
    db.session.commit()
    code, reply = deliver(inbox, corpus("gmail.eml"))
    assert (code, reply.split(":")[0]) == (550, "5.7.1 Not a known colleague")
    assert stored() == []


def test_the_from_header_must_be_the_envelope_sender(db, inbox):
    # Maria's account sends a message whose From says Dana: a forged or relayed From.
    code, reply = deliver(inbox, corpus("gmail.eml"), mail_from=MARIA)
    assert code == 550
    assert "The From header is not the envelope sender." in reply
    assert stored() == []


def test_only_the_inbox_address_is_accepted_in_any_case(db, inbox):
    code, reply = deliver(inbox, corpus("gmail.eml"), to="someone@company.example")
    assert code == 550
    assert reply.startswith("5.1.1 <someone@company.example>: this server only receives")
    assert stored() == []
    assert deliver(inbox, corpus("gmail.eml"), to="Voice@Company.EXAMPLE")[0] == 250
    assert len(stored()) == 1


def test_a_message_for_the_inbox_and_others_is_stored_once(db, inbox):
    with smtplib.SMTP(inbox.host, inbox.port, timeout=60) as client:
        refused = client.sendmail(DANA, [INBOX, "other@company.example"],
                                  crlf(corpus("gmail.eml")))
    assert list(refused) == ["other@company.example"]
    assert refused["other@company.example"][0] == 550
    assert len(stored()) == 1


def test_oversize_messages_are_refused_with_552(db, start_inbox):
    inbox = start_inbox(VOICE_INBOX_MAX_BYTES=4000)
    raw = corpus("gmail.eml")
    assert len(raw) < 4000
    padding = b"X-Padding: " + b"x" * 900 + b"\n"
    big = padding * 5 + raw
    # A client that declares the size is refused at MAIL FROM, before sending anything...
    code, reply = deliver(inbox, big, size=True)
    assert code == 552 and "exceeds fixed maximum message size" in reply
    # ...one that does not, at the end of DATA.
    code, reply = deliver(inbox, big)
    assert (code, reply) == (552, "Error: Too much mail data")
    assert stored() == []
    assert deliver(inbox, raw)[0] == 250  # and the server carries on


def test_broken_bytes_are_refused_and_the_server_carries_on(db, inbox):
    junk = bytes(range(256)) * 8 + b"\nFrom: \x00\x01 <<<@@@>>>\n\n--\x00--\n"
    code, reply = deliver(inbox, junk)
    assert code == 550 and reply.startswith("5.6.0 ")
    headers_only = b"From: Dana Smith <" + DANA.encode() + b">\nContent-Type: multipart/mixed;"
    code, reply = deliver(inbox, headers_only + b' boundary="x"\n\n--x\n--x--\n')
    assert code == 550 and reply.startswith("5.6.0 ")
    assert deliver(inbox, corpus("apple.eml"))[0] == 250
    assert len(stored()) == 1


def _html_forward(message_id: str, html_tail: str) -> bytes:
    html = ("<p>---------- Forwarded message ---------<br>From: Ana &lt;ana@example.org&gt;<br>"
            "Date: Tue, Nov 24, 2026 at 3:00 PM<br>Subject: Wow</p><p>Lovely service.</p>"
            + html_tail)
    return (f"From: {DANA}\nTo: {INBOX}\nSubject: Fwd: Wow\nMessage-ID: <{message_id}>\n"
            "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
            ).encode() + base64.encodebytes(html.encode())


@pytest.mark.slow
def test_a_5_mb_html_body_is_read_or_refused_with_a_reason(db, inbox):
    """~4 s in all on 2 busy cores: inscriptis converts 5 MB of markup in ~1.5 s."""
    photo = "<img src='data:image/png;base64," + "A" * 5_000_000 + "'>"
    markup = "<div style='font-family:Arial'><span>word</span> </div>" * 100_000
    assert min(len(photo), len(markup)) > 5_000_000
    code, reply = deliver(inbox, _html_forward("photo@company.example", photo))
    assert code == 250, reply
    code, reply = deliver(inbox, _html_forward("words@company.example", markup))
    assert code == 550 and "characters long; the limit is 100,000." in reply
    assert [v.text for v in stored()] == ["Lovely service."]


def test_a_database_failure_asks_the_gateway_to_try_again(db, inbox, monkeypatch, caplog):
    def fail(*_args, **_kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))

    monkeypatch.setattr(receiver_module.services, "receive", fail)
    code, reply = deliver(inbox, corpus("gmail.eml"))
    assert (code, reply) == (451, "4.3.0 The message could not be stored now; try again later.")
    assert "Could not store a forwarded email" in caplog.text
    monkeypatch.undo()
    assert deliver(inbox, corpus("gmail.eml"))[0] == 250  # the retry


def test_switched_off_email_source_refuses(db, inbox):
    services.email_source().is_active = False
    db.session.commit()
    code, reply = deliver(inbox, corpus("gmail.eml"))
    assert (code, reply) == (550, "5.7.1 Forwarded customer emails are switched off.")
    assert stored() == []


@pytest.mark.slow  # a real process
def test_flask_voice_inbox_run_receives_until_sigterm(app, db, people):
    port = free_port()
    env = {
        **os.environ,
        "FLASK_APP": "app:create_app('testing')",
        "TEST_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "VOICE_INBOX_ADDRESS": INBOX,
        "LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "voice", "inbox", "run", "--port", str(port)],
        cwd=Path(__file__).parent.parent, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # EOF (the loop ends) if the command fails
            if "customer-voice inbox listening" in line:
                break
        assert deliver(port, corpus("outlook_de.eml"))[0] == 250
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-3000:]
    assert f"Receiving mail for {INBOX} on 127.0.0.1:{port}" in out
    assert "Stored a forwarded email from user" in err
    assert "customer-voice inbox stopping" in err
    assert [v.sharer_id for v in stored()] == [people[0].id]


def test_flask_voice_inbox_run_says_when_the_port_is_taken(app):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = app.test_cli_runner().invoke(inbox_cli, ["run", "--port", str(port)])
    assert result.exit_code == 1
    assert f"Error: Cannot listen on 127.0.0.1:{port}: " in result.output
    assert time.monotonic() - started < 5


# -- the rules without SMTP ------------------------------------------------------------------


def test_receive_email_dates_the_verbatim_when_the_customer_wrote(db, people):
    raw = corpus("thunderbird.eml")
    verbatim = receive_email(DANA, raw, today=TODAY)
    assert verbatim is not None and verbatim.received_on == date(2026, 11, 26)
    # No date in the forwarded header: the forward's own Date; none at all: today.
    undated = raw.replace(b"Date: \tThu, 26 Nov 2026 12:00:00 +0100\n", b"")
    undated = undated.replace(b"8d1e2f3a-TB-0001", b"undated")
    assert receive_email(DANA, undated, today=TODAY).received_on == date(2026, 12, 4)
    dateless = undated.replace(b"Date: Fri, 4 Dec 2026 09:30:00 +0100\n", b"")
    dateless = dateless.replace(b"undated", b"dateless")
    assert receive_email(DANA, dateless, today=TODAY).received_on == TODAY
    # A date in the future (a wrong clock) is not believed.
    future = raw.replace(b"26 Nov 2026", b"26 Nov 2031").replace(b"8d1e2f3a", b"future")
    assert receive_email(DANA, future, today=TODAY).received_on == date(2026, 12, 4)


def test_receive_email_refusals_are_domain_errors(db, people):
    with pytest.raises(PermissionDenied, match="Not a known colleague"):
        receive_email("", corpus("gmail.eml"))
    with pytest.raises(PermissionDenied, match="The From header is not the envelope sender"):
        receive_email("  DANA.smith@company.example\t", corpus("gmail.eml").replace(
            DANA.encode(), MARIA.encode()))
    with pytest.raises(ValidationError, match="has no text"):
        receive_email(" Dana.Smith@Company.Example ", corpus("refused_empty.eml"))


def test_long_texts_are_refused_by_the_intake_rule_or_before_reading(db, people):
    with pytest.raises(ValidationError, match="12,00[0-9] characters long; the limit is 10,000"):
        receive_email(DANA, _forward("Great. " * 1715))
    with pytest.raises(ValidationError, match="characters long; the limit is 100,000"):
        receive_email(DANA, _forward("To: a\nCc: b\n" * 10_000))
    assert stored() == []


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Mon, Nov 30, 2026 at 9:12\u202fAM", date(2026, 11, 30)),
        ("Friday, November 27, 2026 4:05 PM", date(2026, 11, 27)),
        ("28 November 2026 at 18:45:10 GMT", date(2026, 11, 28)),
        ("Thu, 26 Nov 2026 12:00:00 +0100", date(2026, 11, 26)),
        ("lundi 30 novembre 2026 14:20", date(2026, 11, 30)),
        ("mar. 1 déc. 2026 à 10:00", date(2026, 12, 1)),  # "mar." is Tuesday here
        ("Montag, 30. November 2026 11:00", date(2026, 11, 30)),
        ("martes, 3 de noviembre de 2026 10:00", date(2026, 11, 3)),
        ("maandag 30 november 2026", date(2026, 11, 30)),
        ("30.11.2026 10:00", date(2026, 11, 30)),
        ("2026-11-30 10:00", date(2026, 11, 30)),
        ("2026年11月30日 10:00", date(2026, 11, 30)),
        ("11/30/2026", date(2026, 11, 30)),
        ("30/11/2026", date(2026, 11, 30)),
        ("11/10/2026", None),  # either way round
        ("30.11.26", None),  # a two-digit year
        ("31 Feb 2026", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_dates_as_mail_clients_write_them(written, expected):
    assert mailin.parse_date(written) == expected


def _forward(customer_words: str, sender: str = "Ana Customer <ana@example.org>") -> bytes:
    return (
        f"From: {DANA}\nSubject: Fwd: hi\nMessage-ID: <x@company.example>\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Note from Dana.\n\n---------- Forwarded message ---------\n"
        f"From: {sender}\nDate: Mon, Nov 30, 2026 at 9:12 AM\nSubject: hi\n"
        "To: <a@company.example>\n\n"
        f"{customer_words}\n"
    ).encode()


def test_a_sentence_that_opens_like_a_sign_off_is_kept():
    words = ("We loved the visit.\nThank you, Maria Silva, you made our day!\n"
             "- fast\n- friendly\n\nThanks,\nAna\n+44 20 7946 0958")
    assert mailin.parse(_forward(words)).text == (
        "We loved the visit.\nThank you, Maria Silva, you made our day!\n- fast\n- friendly")


def test_the_customer_name_is_taken_out_of_the_text():
    words = "My name is Ana Customer and Ana from the shop helped.\n\nWarmly,\nAna"
    assert mailin.parse(_forward(words)).text == (
        "My name is [name] and Ana from the shop helped.\n\nWarmly,\n[name]")
    outlook = '"Customer, Ana" [mailto:ana@example.org]'
    assert mailin.parse(_forward("Great.\nAna", outlook)).text == "Great.\n[name]"
    # An address without a name: nothing to take out.
    assert mailin.parse(_forward("Great.\nAna", "ana@example.org")).text == "Great.\nAna"


def test_a_forwarded_block_may_mix_languages():
    raw = _forward("Merci beaucoup !").replace(
        b"From: Ana Customer <ana@example.org>\nDate: Mon, Nov 30, 2026 at 9:12 AM",
        "De : Ana Client <ana@example.fr>\nDate: lun. 30 nov. 2026 à 09:12".encode())
    result = mailin.parse(raw)
    assert (result.text, result.original_date) == ("Merci beaucoup !", date(2026, 11, 30))


@pytest.mark.parametrize(
    ("declared", "body", "expected"),
    [
        ("iso-8859-1", "“Obrigada”, João".encode("cp1252"), "“Obrigada”, João"),  # as browsers
        ("us-ascii", "Zoé".encode(), "Zoé"),  # UTF-8 labelled ASCII
        ("utf-8", "Zoé".encode("latin-1"), "Zoé"),  # wrong label
        ("x-martian", "Zoé".encode(), "Zoé"),  # unknown label
        ("x-martian", b"Zo\x81\xe9", "Zo\ufffdé"),  # nothing fits: replaced, not refused
        ("shift_jis", "ありがとう".encode("shift_jis"), "ありがとう"),
    ],
)
def test_charsets_are_read_or_fall_back_safely(declared, body, expected):
    head = _forward("PLACEHOLDER").replace(b"charset=utf-8", f"charset={declared}".encode())
    result = mailin.parse(head.replace(b"PLACEHOLDER", body))
    assert result.text == expected


def test_the_parsed_result_holds_no_customer_address():
    result = mailin.parse(corpus("gmail.eml"))
    assert result.forwarder == DANA
    assert "Ana Customer" not in repr(result) and "ana.customer@" not in repr(result)
    assert result.fingerprint == mailin.parse(corpus("gmail.eml")).fingerprint
    without_id = corpus("gmail.eml").replace(b"Message-ID:", b"X-Old-Message-ID:")
    assert mailin.parse(without_id).fingerprint != result.fingerprint


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00" * 100,
        b"From: <>\n\nhello",
        b"From: a@x.example, b@x.example\n\nhello",
        b"From: " + DANA.encode() + b"\nContent-Type: text/plain; charset=\"\xff\xfe\"\n\n\xff\xfe",
        b"From: " + DANA.encode() + b"\nContent-Type: message/rfc822\n\nnot a message",
        b"From: " + DANA.encode() + b"\nContent-Transfer-Encoding: base64\n\n!!!!",
        b"From: " + DANA.encode() + b"\nContent-Type: multipart/alternative; boundary=b\n\n"
        + b"--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n" * 50,
    ],
)
def test_odd_messages_are_refused_never_crash(raw):
    with pytest.raises(ValidationError):
        mailin.parse(raw)
