"""Mail backends: where a built message goes (SMTP relay, .eml files, or an in-memory list).

Every backend reports one `SendResult` per message and never raises for a per-message failure,
so a batch (e.g. a newsletter edition) can record each delivery and retry only the transient
ones. A result with `session=True` says the mail service itself failed (unreachable, refused the
session, closed the connection) and nothing about the message: callers stop and wait for the
server instead of charging the message an attempt. Backends are context managers; only SMTP holds
a resource (one reused connection).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any
from typing import Self

from flask import Flask
from flask import current_app

from app.mail.message import envelope_recipients
from app.mail.message import envelope_sender

OUTBOX_KEY = "mail_outbox"
# 20261123-093001-123456-1a2b3c4d.eml: UTC timestamp first, so names sort by time.
EML_NAME_PATTERN = r"\d{8}-\d{6}-\d{6}-[0-9a-f]{8}\.eml"


class SendStatus(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # worth retrying later (4xx, timeouts, connection trouble)
    PERMANENT = "permanent"  # retrying will not help (5xx: unknown user, policy rejection)


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    code: int | None = None
    error: str | None = None
    # True when the failure is about the connection or session (connect refused, DNS, timeout,
    # 421 anywhere, greeting/HELO/MAIL FROM refused, STARTTLS/AUTH failure, disconnect), not
    # about this message; a 4xx/5xx reply to the message's RCPT or DATA is session=False.
    session: bool = False

    @property
    def ok(self) -> bool:
        return self.status is SendStatus.SENT


SENT = SendResult(SendStatus.SENT)


def status_for_code(code: int) -> SendStatus:
    """5xx replies are final; any other failing code (4xx, smtplib's -1) may succeed later."""
    return SendStatus.PERMANENT if 500 <= code <= 599 else SendStatus.TRANSIENT


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# 421: "service not available, closing transmission channel", whatever command it answers.
CLOSING = 421


def _classify(exc: OSError) -> SendResult:
    """Map a failed transaction to a result: the reply code decides, silence is the session's.

    Only a reply to this message's RCPT or DATA is about the message. A 421 (the server is
    closing the channel), a refused HELO or MAIL FROM (the same for every message we send), a
    disconnect or a timeout say the server cannot take mail right now.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # {rcpt: (code, reply)}; one transient refusal is enough to make a retry worthwhile.
        replies = list(exc.recipients.values())
        code, reply = next(
            ((c, r) for c, r in replies if status_for_code(c) is SendStatus.TRANSIENT), replies[0]
        )
        session = any(c == CLOSING for c, _r in replies)
        return SendResult(status_for_code(code), code, f"recipient refused: {code} {_text(reply)}",
                          session=session)
    if isinstance(exc, smtplib.SMTPResponseException):
        session = exc.smtp_code == CLOSING or isinstance(
            exc, smtplib.SMTPHeloError | smtplib.SMTPSenderRefused
        )
        return SendResult(status_for_code(exc.smtp_code), exc.smtp_code, _describe(exc),
                          session=session)
    if isinstance(exc, smtplib.SMTPNotSupportedError):  # e.g. SMTPUTF8 needed; the server is fine
        return SendResult(SendStatus.TRANSIENT, None, _describe(exc))
    # Disconnects, timeouts, resets: the message may simply not have arrived; try again later.
    return SendResult(SendStatus.TRANSIENT, None, _describe(exc), session=True)


class _PayloadTracking:
    """Remembers whether the current message's body went out after the server's 354.

    A connection that drops or times out after that point failed on this message (the server
    had it in hand), so it is charged an attempt: a message that makes the relay hang up every
    time must end as `failed`, not hold up everyone queued behind it forever. Before that point
    a drop says nothing about the message and is the session's.
    """

    payload_sent = False
    _last_command = ""

    def putcmd(self, cmd: str, args: str = "") -> None:
        self._last_command = ""  # the command line itself is not the body
        self.payload_sent = False
        super().putcmd(cmd, args)  # type: ignore[misc]
        self._last_command = cmd.lower()

    def send(self, s: bytes | str) -> None:
        if self._last_command == "data":
            self.payload_sent = True  # only the body is sent after DATA without a new command
        super().send(s)  # type: ignore[misc]


class _SMTP(_PayloadTracking, smtplib.SMTP):
    pass


class _SMTP_SSL(_PayloadTracking, smtplib.SMTP_SSL):  # noqa: N801 - mirrors smtplib's name
    pass


class MailBackend:
    """Base class: `send` one message; `with backend:` brackets a batch."""

    def open(self) -> None:
        """Acquire resources eagerly; backends that need none do nothing."""

    def close(self) -> None:
        """Release resources; safe to call more than once."""

    def send(self, msg: EmailMessage) -> SendResult:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SMTPBackend(MailBackend):
    """smtplib client reusing one connection across `send` calls until `close`.

    The connection opens lazily on the first send. After a refused transaction it is RSET (which
    also proves it still works); if it is broken it is dropped and the next send reconnects, so
    one bad message never poisons the rest of a batch.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        use_tls: bool = False,
        use_ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if use_tls and use_ssl:
            raise ValueError("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (implicit TLS) conflict")
        self.host = host
        self.port = port
        self.use_tls = use_tls
        self.use_ssl = use_ssl
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None
        self._setup_failure: SendResult | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SMTPBackend:
        return cls(
            host=config.get("MAIL_SERVER") or "localhost",
            port=int(config.get("MAIL_PORT") or (465 if config.get("MAIL_USE_SSL") else 25)),
            use_tls=bool(config.get("MAIL_USE_TLS")),
            use_ssl=bool(config.get("MAIL_USE_SSL")),
            username=config.get("MAIL_USERNAME") or None,
            password=config.get("MAIL_PASSWORD") or None,
            timeout=float(config.get("MAIL_TIMEOUT") or 30),
        )

    def open(self) -> None:
        if self._conn is not None:
            return
        context = self.ssl_context or ssl.create_default_context()
        conn: smtplib.SMTP
        if self.use_ssl:
            conn = _SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            conn = _SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.use_tls:
                conn.starttls(context=context)
            if self.username:
                conn.login(self.username, self.password or "")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        self._setup_failure = None
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except OSError:
            pass  # already gone; quit() failing must not turn a good batch into an error
        finally:
            conn.close()

    def send(self, msg: EmailMessage) -> SendResult:
        """Deliver to the To addresses over the shared connection; close() (or `with`) ends it."""
        from_addr = envelope_sender(msg)
        to_addrs = envelope_recipients(msg)
        if self._setup_failure is not None:
            return self._setup_failure
        try:
            self.open()
        except OSError as exc:  # smtplib.SMTPException is an OSError too
            # Greeting/TLS/AUTH/connect trouble says nothing about this message: transient, a
            # session failure, and remembered until close() so a batch does not wait out the
            # timeout once per message.
            code = exc.smtp_code if isinstance(exc, smtplib.SMTPResponseException) else None
            error = f"cannot connect to {self.host}:{self.port}: {_describe(exc)}"
            self._setup_failure = SendResult(SendStatus.TRANSIENT, code, error, session=True)
            return self._setup_failure
        assert self._conn is not None
        try:
            refused = self._conn.send_message(msg, from_addr=from_addr, to_addrs=to_addrs)
        except OSError as exc:
            result = _classify(exc)
            if result.session and result.code is None and getattr(self._conn, "payload_sent", 0):
                # Dropped or timed out after the body was sent: the message's own outcome.
                result = SendResult(SendStatus.TRANSIENT, None,
                                    f"connection lost after the message was sent: {result.error}")
            self._recover()
            return result
        if refused:
            # Some recipients accepted it, so it was sent; still say who was refused.
            details = ", ".join(f"{rcpt}: {c} {_text(r)}" for rcpt, (c, r) in refused.items())
            return SendResult(SendStatus.SENT, error=f"refused recipients: {details}")
        return SENT

    def _recover(self) -> None:
        """Leave the connection ready for the next message, or drop it if it cannot be."""
        conn = self._conn
        if conn is None:
            return
        if conn.sock is None:  # smtplib closed it (e.g. after a 421 reply)
            self._conn = None
            return
        try:
            code, _reply = conn.rset()
        except OSError:
            code = -1
        if code != 250:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class FileBackend(MailBackend):
    """Writes each message to `<directory>/<timestamp>-<random>.eml` for the dev outbox."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def send(self, msg: EmailMessage) -> SendResult:
        now = datetime.now(UTC)
        name = f"{now:%Y%m%d-%H%M%S-%f}-{secrets.token_hex(4)}.eml"
        target = self.directory / name
        partial = target.with_suffix(".part")  # never matches EML_NAME_PATTERN
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(msg.as_bytes())
            partial.replace(target)  # atomic: the outbox never lists a half-written file
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            # A full or unwritable directory is this backend's outage, not the message's fault.
            return SendResult(SendStatus.TRANSIENT, None, f"cannot write {target}: {exc}",
                              session=True)
        return SENT


class MemoryBackend(MailBackend):
    """Appends messages to `app.extensions["mail_outbox"]`, for tests."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def send(self, msg: EmailMessage) -> SendResult:
        get_outbox(self.app).append(msg)
        return SENT


def outbox_dir(app: Flask) -> Path:
    return Path(app.config.get("MAIL_OUTBOX_DIR") or Path(app.instance_path) / "outbox")


def get_outbox(app: Flask | None = None) -> list[EmailMessage]:
    """Messages sent through the memory backend of `app` (the current app by default)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.setdefault(OUTBOX_KEY, [])


def get_backend(app: Flask | None = None) -> MailBackend:
    """A fresh backend for `app`'s MAIL_BACKEND; use it as a context manager for a batch."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    kind = app.config.get("MAIL_BACKEND", "file")
    if kind == "smtp":
        return SMTPBackend.from_config(app.config)
    if kind == "file":
        return FileBackend(outbox_dir(app))
    if kind == "memory":
        return MemoryBackend(app)
    raise ValueError(f"unknown MAIL_BACKEND {kind!r}; use 'smtp', 'file' or 'memory'")
