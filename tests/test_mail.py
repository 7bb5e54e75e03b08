"""Mail service: message building, the three backends against real parts, after-commit delivery
and the dev outbox pages. SMTP tests talk to a real aiosmtpd server (tests/fixtures/smtp.py)."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import socket
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from jinja2 import TemplateNotFound
from sqlalchemy import text

from app.extensions import db
from app.mail import HeaderInjectionError
from app.mail import SendStatus
from app.mail import build_message
from app.mail import get_backend
from app.mail import get_outbox
from app.mail import render_email
from app.mail import send_email
from app.mail import send_email_after_commit
from app.mail.backends import FileBackend
from app.mail.backends import SMTPBackend
from app.mail.views import EMAIL_FRAME_CSP
from tests.fixtures.smtp import SMTPServer
from tests.fixtures.smtp import configure_app_for

SENDER = "Feel Good Fridays <feelgood@example.com>"


def message(to: str, subject: str = "Hello", **kwargs) -> EmailMessage:
    kwargs.setdefault("text", f"Text for {to}")
    kwargs.setdefault("html", f"<p>HTML for {to}</p>")
    return build_message(sender=SENDER, to=to, subject=subject, **kwargs)


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- building messages ----------------------------------------------------------------------------


def test_build_message_is_multipart_alternative_text_first():
    when = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    msg = build_message(
        sender=SENDER,
        to="Ana <ana@example.com>",
        subject="Friday!",
        text="Plain body",
        html="<p>Rich body</p>",
        headers={"List-Unsubscribe": "<https://example.com/u/1>"},
        message_id="<fixed@example.com>",
        date=when,
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)

    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[0].get_content().strip() == "Plain body"
    assert parts[1].get_content().strip() == "<p>Rich body</p>"
    assert parsed["Message-ID"] == "<fixed@example.com>"
    assert parsed["Date"].datetime == when
    assert parsed["List-Unsubscribe"] == "<https://example.com/u/1>"
    assert b"\r\n" in msg.as_bytes()  # SMTP line endings, ready for the wire and .eml files


def test_build_message_without_html_is_plain_text():
    msg = message("ana@example.com", html=None)
    assert msg.get_content_type() == "text/plain"


def test_message_id_domain_comes_from_default_sender(app):
    app.config["MAIL_DEFAULT_SENDER"] = "News <news@fgf.example>"
    assert message("ana@example.com")["Message-ID"].endswith("@fgf.example>")


def test_message_id_domain_falls_back_outside_an_app():
    msg = message("ana@example.com", date=datetime(2026, 1, 2, 3, 4, 5))  # naive means UTC
    assert msg["Message-ID"].endswith("@feelgood.local>")
    assert msg["Date"].datetime == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"subject": "Hi\nthere"},
        {"to": "ana@example.com\r\nBcc: victim@example.com"},
        {"sender": "x@example.com\nBcc: victim@example.com"},
        {"headers": {"Reply-To": "a@example.com\r\nBcc: victim@example.com"}},
        {"headers": {"X-Evil\r\nBcc": "victim@example.com"}},
        {"message_id": "<a@b>\r\nBcc: victim@example.com"},
    ],
)
def test_header_injection_is_refused(kwargs):
    base = {"sender": SENDER, "to": "ana@example.com", "subject": "Hi", "text": "t", "html": None}
    with pytest.raises(HeaderInjectionError):
        build_message(**{**base, **kwargs})
    assert issubclass(HeaderInjectionError, ValueError)


def test_headers_cannot_override_structural_headers():
    with pytest.raises(ValueError, match="Subject"):
        message("ana@example.com", headers={"Subject": "second subject"})


# -- SMTP backend (real server) -------------------------------------------------------------------


def test_many_messages_share_one_connection(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    recipients = [f"user{i}@example.com" for i in range(5)]

    with get_backend(app) as backend:
        results = [backend.send(message(f"User {i} <{rcpt}>")) for i, rcpt in enumerate(recipients)]

    assert [r.status for r in results] == [SendStatus.SENT] * 5
    assert smtp_server.count_connections == 1
    received = smtp_server.messages
    assert [m.rcpt_tos for m in received] == [[rcpt] for rcpt in recipients]
    assert {m.mail_from for m in received} == {"feelgood@example.com"}  # bare envelope address


def test_connection_opens_lazily(smtp_server: SMTPServer):
    with SMTPBackend(host=smtp_server.host, port=smtp_server.port, timeout=5):
        pass
    assert smtp_server.count_connections == 0


def test_permanent_refusal_does_not_poison_the_batch(smtp_server: SMTPServer):
    smtp_server.refuse_rcpt["gone@example.com"] = (550, "5.1.1 No such user")

    with SMTPBackend(host=smtp_server.host, port=smtp_server.port, timeout=5) as backend:
        first = backend.send(message("a@example.com"))
        refused = backend.send(message("gone@example.com"))
        after = [backend.send(message(f"{name}@example.com")) for name in ("b", "c")]

    assert first.status is SendStatus.SENT
    assert refused.status is SendStatus.PERMANENT
    assert refused.code == 550
    assert "No such user" in (refused.error or "")
    assert [r.status for r in after] == [SendStatus.SENT, SendStatus.SENT]
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ["a@example.com"],
        ["b@example.com"],
        ["c@example.com"],
    ]
    assert smtp_server.count_connections == 1


def test_transient_recipient_refusal(smtp_server: SMTPServer):
    smtp_server.refuse_rcpt["full@example.com"] = (452, "4.2.2 Mailbox full")
    with SMTPBackend(host=smtp_server.host, port=smtp_server.port, timeout=5) as backend:
        result = backend.send(message("full@example.com"))
        assert backend.send(message("ok@example.com")).ok
    assert (result.status, result.code) == (SendStatus.TRANSIENT, 452)


def test_4xx_on_data_is_transient_and_next_message_succeeds(smtp_server: SMTPServer):
    smtp_server.fail_next_data(1, code=451)
    with SMTPBackend(host=smtp_server.host, port=smtp_server.port, timeout=5) as backend:
        failed = backend.send(message("a@example.com"))
        retried = backend.send(message("a@example.com"))

    assert (failed.status, failed.code) == (SendStatus.TRANSIENT, 451)
    assert retried.status is SendStatus.SENT
    assert len(smtp_server.messages) == 1
    assert smtp_server.count_connections == 1


def test_5xx_on_data_is_permanent(smtp_server: SMTPServer):
    smtp_server.fail_next_data(1, code=554)
    with SMTPBackend(host=smtp_server.host, port=smtp_server.port, timeout=5) as backend:
        result = backend.send(message("a@example.com"))
        assert backend.send(message("b@example.com")).ok
    assert (result.status, result.code) == (SendStatus.PERMANENT, 554)


def test_dropped_connection_is_transient_and_next_message_reconnects(smtp_server: SMTPServer):
    smtp_server.drop_connection_next(1)
    with SMTPBackend(host=smtp_server.host, port=smtp_server.port, timeout=5) as backend:
        dropped = backend.send(message("a@example.com"))
        after = backend.send(message("b@example.com"))

    assert dropped.status is SendStatus.TRANSIENT
    assert dropped.code is None
    assert after.status is SendStatus.SENT
    assert smtp_server.count_connections == 2
    assert [m.rcpt_tos for m in smtp_server.messages] == [["b@example.com"]]


def test_non_ascii_subject_and_names_round_trip(smtp_server: SMTPServer):
    subject = "Merci Zoë — 5 ★ für das Café 🎉"
    msg = build_message(
        sender="Fête du Vendredi <feelgood@example.com>",
        to="Łukasz Ñúñez <lukasz@example.com>",
        subject=subject,
        text="Danke schön, Zoë! ☀",
        html="<p>Danke schön, Zoë! ☀</p>",
    )
    with SMTPBackend(host=smtp_server.host, port=smtp_server.port, timeout=5) as backend:
        assert backend.send(msg).ok

    [received] = smtp_server.messages
    assert received.raw.isascii()  # RFC 2047 headers, 7-bit bodies: any relay accepts it
    assert received.message["Subject"] == subject
    assert received.message["To"].addresses[0].display_name == "Łukasz Ñúñez"
    assert received.message["From"].addresses[0].display_name == "Fête du Vendredi"
    assert received.message.get_body(("plain",)).get_content().strip() == "Danke schön, Zoë! ☀"
    assert received.rcpt_tos == ["lukasz@example.com"]


def test_implicit_tls_uses_smtp_ssl(app, smtp_server: SMTPServer):
    """MAIL_USE_SSL speaks TLS first; a plain server answers with a banner, the handshake fails."""
    configure_app_for(app, smtp_server)
    app.config["MAIL_USE_SSL"] = True

    with get_backend(app) as backend:
        first = backend.send(message("a@example.com"))
        second = backend.send(message("b@example.com"))

    assert first.status is SendStatus.TRANSIENT
    assert "SSL" in (first.error or "")
    # A failed connection is not retried once per message within a batch.
    assert second == first
    assert smtp_server.count_connections == 1
    assert smtp_server.messages == []


def test_unreachable_server_is_transient(app):
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port())
    with get_backend(app) as backend:
        result = backend.send(message("a@example.com"))
    assert result.status is SendStatus.TRANSIENT
    assert "ConnectionRefusedError" in (result.error or "")


def test_backend_configuration_errors(app):
    app.config.update(MAIL_BACKEND="smtp", MAIL_USE_TLS=True, MAIL_USE_SSL=True)
    with pytest.raises(ValueError, match="MAIL_USE_TLS"):
        get_backend(app)
    app.config["MAIL_BACKEND"] = "pigeon"
    with pytest.raises(ValueError, match="pigeon"):
        get_backend(app)


# -- file and memory backends ---------------------------------------------------------------------


def test_file_backend_writes_parseable_sortable_eml(tmp_path: Path):
    backend = FileBackend(tmp_path / "outbox")
    with backend:
        results = [backend.send(message(f"user{i}@example.com", subject=f"#{i}")) for i in range(3)]

    assert all(r.ok for r in results)
    files = sorted((tmp_path / "outbox").iterdir())
    assert len(files) == 3
    assert all(re.fullmatch(r"\d{8}-\d{6}-\d{6}-[0-9a-f]{8}\.eml", f.name) for f in files)
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert [p["Subject"] for p in parsed] == ["#0", "#1", "#2"]  # name order is send order
    html = parsed[0].get_body(("html",)).get_content()
    assert html.strip() == "<p>HTML for user0@example.com</p>"


def test_file_backend_reports_unwritable_directory(tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = FileBackend(blocker / "outbox").send(message("a@example.com"))
    assert result.status is SendStatus.TRANSIENT


def test_memory_backend_collects(app):
    assert app.config["MAIL_BACKEND"] == "memory"
    result = send_email("ana@example.com", "Test", "test_message", recipient_name="Ana")

    assert result is not None and result.ok
    [msg] = get_outbox()
    assert get_outbox(app) is get_outbox()
    assert msg["To"] == "ana@example.com"
    assert msg["From"] == app.config["MAIL_DEFAULT_SENDER"]
    assert "Hello Ana" in msg.get_body(("plain",)).get_content()


# -- rendering and send_email ---------------------------------------------------------------------


def test_render_email_inlines_css(app):
    text_body, html = render_email("test_message", recipient_name="Ana", requested_by="Ada")

    assert "This is a test message from Feel Good Fridays." in text_body
    assert "(requested by Ada)" in text_body
    assert "&" not in text_body  # text templates are not HTML-escaped
    assert re.search(r'<h1 style="[^"]+">', html)  # rules from <style> moved onto elements
    assert "@media" in html  # kept: inline styles cannot express them


def test_render_email_escapes_html(app):
    _text, html = render_email("test_message", recipient_name="<script>x</script>")
    assert "<script>" not in html


def test_send_email_over_smtp_sends_both_parts(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    result = send_email(
        "Ana <ana@example.com>",
        "Test from Feel Good Fridays",
        "test_message",
        headers={"X-Feelgood-Kind": "test"},
        sender="Admins <admins@example.com>",
    )

    assert result is not None and result.status is SendStatus.SENT
    [received] = smtp_server.messages
    msg = received.message
    assert received.mail_from == "admins@example.com"
    assert msg.get_content_type() == "multipart/alternative"
    assert "This is a test message" in msg.get_body(("plain",)).get_content()
    assert "This is a test message" in msg.get_body(("html",)).get_content()
    assert msg["X-Feelgood-Kind"] == "test"


def test_send_email_logs_failures(app, smtp_server: SMTPServer, caplog):
    configure_app_for(app, smtp_server)
    smtp_server.refuse_rcpt["gone@example.com"] = (550, "5.1.1 No such user")
    with caplog.at_level(logging.WARNING, logger="app.mail"):
        result = send_email("gone@example.com", "Hi", "test_message")

    assert result is not None and result.status is SendStatus.PERMANENT
    assert "email to [email] (Hi) failed: permanent 550" in caplog.text  # the address masked
    assert "gone@example.com" not in caplog.text
    assert "No such user" in caplog.text


def test_send_email_without_recipient_is_skipped(app, caplog):
    with caplog.at_level(logging.INFO, logger="app.mail"):
        assert send_email("", "Hi", "test_message") is None
    assert get_outbox() == []
    assert "no recipient" in caplog.text


def test_send_email_refuses_injected_subject(app):
    with pytest.raises(HeaderInjectionError):
        send_email("ana@example.com", "Hi\r\nBcc: x@example.com", "test_message")
    assert get_outbox() == []


# -- send_email_after_commit ----------------------------------------------------------------------


def begin() -> None:
    """Start a real transaction on db.session (no model needed)."""
    db.session.execute(text("SELECT 1"))
    assert db.session().in_transaction()


def test_after_commit_delivers_only_after_commit(app):
    begin()
    send_email_after_commit("ana@example.com", "Published", "test_message", recipient_name="Ana")
    assert get_outbox() == []

    db.session.commit()

    [msg] = get_outbox()
    assert msg["Subject"] == "Published"
    assert "Hello Ana" in msg.get_body(("plain",)).get_content()

    begin()
    db.session.commit()  # a later transaction does not resend it
    assert len(get_outbox()) == 1


def test_after_commit_discards_on_rollback(app):
    begin()
    send_email_after_commit("ana@example.com", "Never", "test_message")
    db.session.rollback()
    begin()
    db.session.commit()
    assert get_outbox() == []


def test_after_commit_discards_when_session_closes_uncommitted(app):
    begin()
    send_email_after_commit("ana@example.com", "Never", "test_message")
    db.session.close()
    begin()
    db.session.commit()
    assert get_outbox() == []


def test_after_commit_respects_savepoints(app):
    begin()
    send_email_after_commit("outer@example.com", "Outer", "test_message")
    with db.session.begin_nested():
        send_email_after_commit("released@example.com", "Released", "test_message")
    savepoint = db.session.begin_nested()
    send_email_after_commit("rolled-back@example.com", "Rolled back", "test_message")
    savepoint.rollback()
    assert get_outbox() == []

    db.session.commit()

    assert sorted(m["Subject"] for m in get_outbox()) == ["Outer", "Released"]


def test_after_commit_without_transaction_sends_now(app):
    db.session.commit()
    assert not db.session().in_transaction()
    send_email_after_commit("ana@example.com", "Now", "test_message")
    assert [m["Subject"] for m in get_outbox()] == ["Now"]


def test_after_commit_renders_and_validates_inside_the_transaction(app):
    begin()
    with pytest.raises(TemplateNotFound):
        send_email_after_commit("ana@example.com", "Hi", "no_such_template")
    with pytest.raises(HeaderInjectionError):
        send_email_after_commit("ana@example.com", "Hi\nBcc: x@example.com", "test_message")
    db.session.commit()
    assert get_outbox() == []


def test_after_commit_batches_over_one_smtp_connection(app, smtp_server: SMTPServer):
    configure_app_for(app, smtp_server)
    begin()
    for name in ("a", "b", "c"):
        send_email_after_commit(f"{name}@example.com", "Hi", "test_message")
    assert smtp_server.messages == []

    db.session.commit()

    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ["a@example.com"],
        ["b@example.com"],
        ["c@example.com"],
    ]
    assert smtp_server.count_connections == 1


def test_after_commit_failures_are_logged_not_raised(app, smtp_server: SMTPServer, caplog):
    configure_app_for(app, smtp_server)
    smtp_server.refuse_rcpt["gone@example.com"] = (550, "5.1.1 No such user")
    begin()
    send_email_after_commit("gone@example.com", "Hi", "test_message")
    send_email_after_commit("ana@example.com", "Hi", "test_message")

    with caplog.at_level(logging.WARNING, logger="app.mail"):
        db.session.commit()

    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.com"]]
    assert "failed for good after 1 attempt(s): recipient refused: 550" in caplog.text
    assert "gone@example.com" not in caplog.text  # the row is named, not the address

    begin()
    send_email_after_commit("ana@example.com", "Hi", "test_message")
    app.config["MAIL_BACKEND"] = "pigeon"  # a broken setup must not break the committing request
    with caplog.at_level(logging.ERROR, logger="app.mail"):
        db.session.commit()
    assert "after commit failed" in caplog.text


# -- dev outbox -----------------------------------------------------------------------------------


@pytest.fixture
def file_mail(app: Flask) -> Path:
    app.config["MAIL_BACKEND"] = "file"
    return Path(app.config["MAIL_OUTBOX_DIR"])


def test_dev_outbox_views_are_public():
    from app.mail import views

    for view in (views.index, views.message, views.message_html):
        assert view._access == "public"


def test_dev_outbox_empty_state(client, file_mail):
    response = client.get("/dev/outbox")
    assert response.status_code == 200
    assert "No emails yet" in response.get_data(as_text=True)


def test_dev_outbox_lists_newest_first_and_shows_a_message(client, file_mail):
    send_email("first@example.com", "First <one>", "test_message")
    send_email("second@example.com", "Second", "test_message", recipient_name="Bo")
    (file_mail / "notes.txt").write_text("not an email")

    page = client.get("/dev/outbox").get_data(as_text=True)
    assert page.index("second@example.com") < page.index("first@example.com")
    assert "First &lt;one&gt;" in page
    assert "notes.txt" not in page

    newest = max(p.name for p in file_mail.glob("*.eml"))
    response = client.get(f"/dev/outbox/{newest}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r"<pre[^>]*>Hello Bo,", body)
    assert f'<iframe sandbox src="/dev/outbox/{newest}/html"' in body

    frame = client.get(f"/dev/outbox/{newest}/html")
    assert frame.status_code == 200
    assert frame.mimetype == "text/html"
    assert frame.headers["Content-Security-Policy"] == EMAIL_FRAME_CSP
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "This is a test message" in frame.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/dev/outbox/notes.txt",
        "/dev/outbox/..%2F..%2Fconfig.py",
        "/dev/outbox/%2e%2e",
        "/dev/outbox/20261123-093001-123456-0000000g.eml",
        "/dev/outbox/20261123-093001-123456-00000000.eml",  # well-formed, but no such file
        "/dev/outbox/20261123-093001-123456-00000000.eml/html",
        "/dev/outbox/notes.txt/html",
    ],
)
def test_dev_outbox_rejects_unknown_names(client, file_mail, path):
    file_mail.mkdir(parents=True, exist_ok=True)
    (file_mail / "notes.txt").write_text("not an email")
    assert client.get(path).status_code == 404


def test_dev_outbox_html_404_for_text_only_message(client, file_mail):
    FileBackend(file_mail).send(message("a@example.com", html=None))
    [path] = file_mail.glob("*.eml")
    assert client.get(f"/dev/outbox/{path.name}").status_code == 200
    assert client.get(f"/dev/outbox/{path.name}/html").status_code == 404


@pytest.mark.app_config(DEV_OUTBOX=False)
def test_dev_outbox_absent_when_disabled(app, client):
    assert "dev_outbox" not in app.blueprints
    assert client.get("/dev/outbox").status_code == 404
