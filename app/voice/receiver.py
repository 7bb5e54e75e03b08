"""The forwarded-email receiver: an SMTP listener (aiosmtpd) for one address.

An employee forwards a customer's email to VOICE_INBOX_ADDRESS; the company's mail gateway routes
that one address to this listener (`flask voice inbox run`). SMTP rather than IMAP polling: no
mailbox exists, so no mailbox credentials are stored here, and each message is judged while the
gateway is still connected, so a refusal reaches the employee at once as a bounce that says why
(550 and the reason) instead of lying unread in a mailbox.

Trust: the envelope sender and the From header must both be an active account; both can be
forged on the open internet, so the listener must only be reachable from the company's mail
gateway, which enforces SPF, DKIM and DMARC on the company's domain. It binds to 127.0.0.1 unless
told otherwise (VOICE_INBOX_HOST).

Replies: 250 stored (or already stored: the same Message-ID again); 550 5.1.1 any recipient but
the inbox; 552 over VOICE_INBOX_MAX_BYTES (at MAIL FROM when the client declares SIZE, else at
the end of DATA); 550 5.7.1 not a known colleague, or forwarded emails switched off; 550 5.6.0
nothing usable in the message (the reason from app/voice/mailin.py or the intake's rules);
451 4.3.0 the database failed (the gateway tries again later). Every refusal is logged with its
reason, never with the message's content.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
import unicodedata
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session
from flask import Flask

from app.directory import user_by_email
from app.errors import DomainError
from app.errors import PermissionDenied
from app.extensions import db
from app.models import Origin
from app.models import QuoteSource
from app.models import User
from app.models import Verbatim
from app.models import utcnow
from app.voice import mailin
from app.voice import services

log = logging.getLogger(__name__)

NOT_A_COLLEAGUE = "Not a known colleague: only active accounts can share customer emails."
STOP_SECONDS = 10.0  # how long a stop waits for sessions in progress


def receive_email(mail_from: str, raw: bytes, *, today: date | None = None) -> Verbatim | None:
    """Store the customer's words from a forward sent by `mail_from` (the envelope sender) in
    the caller's transaction; None when this message (its Message-ID) is already stored.

    Raises PermissionDenied when the sender is not an active account or the From header is
    someone else, ValidationError when nothing usable is in the message."""
    source = services.email_source()
    if not source.is_active:
        raise PermissionDenied("Forwarded customer emails are switched off.")
    sharer = _colleague(mail_from)
    forwarded = mailin.parse(raw)
    if User.normalize_email(forwarded.forwarder) != sharer.email:
        raise PermissionDenied(f"{NOT_A_COLLEAGUE} The From header is not the envelope sender.")
    today = today or utcnow().date()
    received_on = next(
        (d for d in (forwarded.original_date, forwarded.sent_on)
         if d is not None and services.EARLIEST <= d <= today),
        today,
    )
    item = services.Incoming(
        received_on,
        forwarded.text,
        response_id=f"email-{forwarded.fingerprint}",
        team_id=sharer.team_id,  # where the email was received: the sharer's team
        channel=QuoteSource.EMAIL,
        sharer_id=sharer.id,
    )
    return services.receive(item, services.Intake(source, Origin.EMAIL))


def _colleague(address: str) -> User:
    user = user_by_email(address) if address.strip() else None
    if user is None or not user.is_active_user:
        raise PermissionDenied(NOT_A_COLLEAGUE)
    return user


def _reply(code: str, text: str) -> str:
    """One SMTP reply line: ASCII, no line breaks, short enough for any client (RFC 5321)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return f"{code} {' '.join(ascii_text.split())[:400]}"


class InboxHandler:
    """aiosmtpd's hooks. RCPT is answered on the event loop; each message goes to one worker
    thread with an app context of its own (a database session per message), one at a time: a
    large HTML body takes a second to convert, and SQLite wants a single writer anyway."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.address = User.normalize_email(app.config["VOICE_INBOX_ADDRESS"])
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voice-inbox")

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if User.normalize_email(address) != self.address:
            log.warning("Refused recipient %s: not the customer-voice inbox", address)
            return _reply("550 5.1.1", f"<{address}>: this server only receives mail for "
                                       "the customer-voice inbox.")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        content = bytes(raw) if isinstance(raw, bytes | bytearray) else b""
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, self.deliver, envelope.mail_from or "", content
        )

    def deliver(self, mail_from: str, raw: bytes) -> str:
        """The SMTP reply to one message, stored in its own transaction when acceptable."""
        with self.app.app_context():
            try:
                verbatim = receive_email(mail_from, raw)
                stored = (verbatim.id, verbatim.sharer_id) if verbatim is not None else None
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                cause = error.__cause__
                log.warning("Refused a forwarded email from %s: %s%s", mail_from or "<>",
                            error.message, f" ({type(cause).__name__})" if cause else "")
                code = "550 5.7.1" if isinstance(error, PermissionDenied) else "550 5.6.0"
                return _reply(code, error.message)
            except Exception:
                db.session.rollback()
                log.exception("Could not store a forwarded email from %s; the gateway will "
                              "try again", mail_from)
                return "451 4.3.0 The message could not be stored now; try again later."
        if stored is None:
            log.info("A forwarded email from %s was already stored; nothing added", mail_from)
            return "250 2.0.0 Already received."
        log.info("Stored a forwarded email from user %s as verbatim %s", stored[1], stored[0])
        return "250 2.0.0 Received: the editors will see it in the customer-voice inbox."


class _Listener(Controller):
    """aiosmtpd's threaded controller that stops gracefully: no new connections, sessions in
    progress get a moment to finish, what is left is closed before the loop ends
    (Controller.stop alone leaves open transports behind)."""

    def __init__(self, handler: InboxHandler, **kwargs: object) -> None:
        super().__init__(handler, **kwargs)
        self.protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def factory(self) -> SMTP:
        protocol = super().factory()
        self.protocols.add(protocol)
        return protocol

    async def _drain(self, seconds: float) -> None:
        if self.server is not None:
            self.server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        me = asyncio.current_task()
        while loop.time() < deadline and any(t is not me for t in asyncio.all_tasks()):
            await asyncio.sleep(0.01)
        for protocol in list(self.protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        while any(t is not me for t in asyncio.all_tasks()) and loop.time() < deadline + 1:
            await asyncio.sleep(0.01)

    def stop_gracefully(self, seconds: float) -> None:
        asyncio.run_coroutine_threadsafe(self._drain(seconds), self.loop).result(seconds + 2)
        self.stop()


class Receiver:
    """A running listener: its own thread and event loop (so the app's threads, or a test,
    carry on), plus the worker thread that stores messages."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self.handler = InboxHandler(app)
        self.host = host
        self.port = port
        self.listener = _Listener(
            self.handler,
            hostname=host,
            port=port,
            server_hostname=self.handler.address.rpartition("@")[2] or "localhost",
            ident="Feel Good Fridays customer-voice inbox",
            data_size_limit=int(app.config["VOICE_INBOX_MAX_BYTES"]),
            ready_timeout=10,
        )

    def start(self) -> Receiver:
        """Listen; raises OSError when the address cannot be bound (the port is taken)."""
        try:
            _check_free(self.host, self.port)
            self.listener.start()
        except BaseException:
            if not self.listener.loop.is_running():  # the listener's thread has ended
                self.listener.loop.close()
            self.handler.executor.shutdown()
            raise
        return self

    def stop(self, seconds: float = STOP_SECONDS) -> None:
        """Stop listening; a message being stored is finished first."""
        try:
            self.listener.stop_gracefully(seconds)
        finally:
            self.handler.executor.shutdown(wait=True)


def _check_free(host: str, port: int) -> None:
    """OSError at once when the address is taken or not ours: aiosmtpd only reports it after
    its ready timeout. Bound as asyncio will bind it (SO_REUSEADDR), then let go."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


def serve(app: Flask, host: str, port: int) -> None:
    """Receive until SIGINT/SIGTERM (`flask voice inbox run`, its own process).

    The signal handler only raises a flag, as the scheduler's does: stopping the listener inside
    it could deadlock on a lock the interrupted main thread holds."""
    requested: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        requested.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        receiver = Receiver(app, host, port).start()
        log.info("customer-voice inbox listening on %s:%s for %s", host, port,
                 receiver.handler.address)
        try:
            while not requested:
                time.sleep(0.2)
            log.info("customer-voice inbox stopping (signal %s)", requested[0])
        finally:
            receiver.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
