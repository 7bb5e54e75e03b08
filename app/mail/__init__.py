"""The app's mail service: render a template pair, build a safe message, hand it to a backend.

Features call `send_email` (now, nothing stored: test sends) or `send_email_after_commit` (inside
a write transaction): the latter records the rendered message in the `mail_outbox` table in that
same transaction, so the email exists if and only if the change it announces was committed, and
survives a process killed right after the commit. The committing process sends its rows at once;
the scheduler's outbox job (app.mail.outbox) sends whatever is left. Delivery failures are logged
and recorded; they never propagate into the request that caused them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import css_inline
import sqlalchemy as sa
from flask import Flask, current_app, has_app_context, render_template
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app.mail.backends import (
    SendResult,
    SendStatus,
    get_backend,
    get_outbox,
)
from app.mail.message import HeaderInjectionError, build_message
from app.mail.outbox import deliver_outbox, insert_now, new_row
from app.models import OutboxMessage

__all__ = [
    "HeaderInjectionError",
    "SendResult",
    "SendStatus",
    "build_message",
    "get_backend",
    "get_outbox",
    "init_app",
    "render_email",
    "send_email",
    "send_email_after_commit",
]

log = logging.getLogger(__name__)

PENDING_KEY = "feelgood.mail.pending"
COMMITTED_KEY = "feelgood.mail.committed"
_listen_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Wire the transaction hooks and, in development only, the outbox pages."""
    _listen_for_transactions()
    if app.config.get("DEV_OUTBOX"):
        from app.mail.views import bp

        app.register_blueprint(bp)


def render_email(template: str, **context: Any) -> tuple[str, str]:
    """Render `email/<template>.txt` and `.html`; the HTML gets its CSS inlined for mail clients.

    Remote stylesheets are never fetched: rendering must not depend on the network, so email
    templates carry their CSS in a <style> block. @media rules are kept for clients that honour
    them.
    """
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    html = css_inline.inline(html, keep_at_rules=True, load_remote_stylesheets=False)
    return text, html


def _compose(
    to: str,
    subject: str,
    template: str,
    headers: dict[str, str] | None,
    sender: str | None,
    context: dict[str, Any],
) -> EmailMessage:
    text, html = render_email(template, **context)
    return build_message(
        sender=sender or current_app.config["MAIL_DEFAULT_SENDER"],
        to=to,
        subject=subject,
        text=text,
        html=html,
        headers=headers,
    )


def send_email(
    to: str,
    subject: str,
    template: str,
    *,
    headers: dict[str, str] | None = None,
    sender: str | None = None,
    **context: Any,
) -> SendResult | None:
    """Render and deliver one email now; returns None (and logs) when there is no recipient.

    Bad input (header injection, unknown template) raises: that is a bug, not a delivery problem.
    """
    if not to:
        log.info("email %r not sent: no recipient", template)
        return None
    msg = _compose(to, subject, template, headers, sender, context)
    return _deliver(current_app._get_current_object(), [msg])[0]  # type: ignore[attr-defined]


def send_email_after_commit(
    to: str,
    subject: str,
    template: str,
    *,
    headers: dict[str, str] | None = None,
    sender: str | None = None,
    **context: Any,
) -> None:
    """Render now and record the email in the current `db.session` transaction; send after commit.

    Rendering inside the transaction makes the email describe the state being committed. The
    `mail_outbox` row commits or rolls back with the change (a rolled-back savepoint drops only
    the rows added inside it); after the commit this process sends its rows at once, and the
    scheduler sends anything this process could not (crash, mail server down). Without an active
    transaction the row is committed on its own, then sent.
    """
    from app.extensions import db

    if not to:
        log.info("email %r not queued: no recipient", template)
        return
    msg = _compose(to, subject, template, headers, sender, context)
    row = new_row(template, msg)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session = db.session()
    if not session.in_transaction():
        _deliver_committed(app, insert_now([row]))
        return
    _listen_for_transactions()
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None
    session.add(row)
    session.info.setdefault(PENDING_KEY, []).append(_Pending(transaction, app, row))


def _deliver(app: Flask, messages: list[EmailMessage]) -> list[SendResult]:
    """Send over one backend connection, logging every failure with the recipient."""
    results: list[SendResult] = []
    with get_backend(app) as backend:
        for msg in messages:
            result = backend.send(msg)
            results.append(result)
            if not result.ok:
                log.warning(
                    "email to %s (%s) failed: %s %s %s",
                    msg["To"],
                    msg["Subject"],
                    result.status,
                    result.code or "",
                    result.error or "",
                )
            elif result.error:
                log.warning("email to %s partially refused: %s", msg["To"], result.error)
    return results


def _deliver_committed(app: Flask, ids: list[int]) -> None:
    """Send these committed outbox rows now, if no one else has claimed them yet.

    Never raises: the data is committed and the rows stay pending for the scheduler, so a mail
    problem must not turn the request into an error.
    """
    if not ids:
        return
    current = current_app._get_current_object() if has_app_context() else None  # type: ignore
    try:
        if current is app:
            deliver_outbox(ids=ids)
        else:
            with app.app_context():
                deliver_outbox(ids=ids)
    except Exception:
        log.exception("sending %d email(s) after commit failed; the scheduler retries", len(ids))


@dataclass(frozen=True, slots=True)
class _Pending:
    transaction: SessionTransaction  # innermost transaction when queued: decides on rollback
    app: Flask
    row: OutboxMessage


def _listen_for_transactions() -> None:
    """Register the Session hooks once per process; they ignore sessions without pending mail.

    Listening on the Session class (not db.session, a scoped_session) covers every session the
    app creates; a duplicate registration would send each email twice, hence the lock.
    """
    with _listen_lock:
        if not event.contains(Session, "after_commit", _after_commit):
            event.listen(Session, "after_commit", _after_commit)
            event.listen(Session, "after_soft_rollback", _after_soft_rollback)
            event.listen(Session, "after_transaction_end", _after_transaction_end)


def _after_commit(session: Session) -> None:
    pending: list[_Pending] | None = session.info.get(PENDING_KEY)
    if not pending:
        return
    nested = session.get_nested_transaction()
    if nested is not None:
        # A savepoint was released: its mail now belongs to the enclosing transaction.
        parent = nested.parent
        assert parent is not None
        session.info[PENDING_KEY] = [
            _Pending(parent, p.app, p.row) if p.transaction is nested else p for p in pending
        ]
        return
    # Committed: the rows exist. Deliver in after_transaction_end, once the session's connection
    # is back in the pool, so slow SMTP never holds it.
    committed: list[tuple[Flask, int]] = []
    for p in session.info.pop(PENDING_KEY):
        identity = sa.inspect(p.row).identity  # no query: the key survives expire-on-commit
        if identity is not None:
            committed.append((p.app, identity[0]))
    session.info[COMMITTED_KEY] = committed


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[_Pending] | None = session.info.get(PENDING_KEY)
    if not pending:
        return
    kept = [p for p in pending if not _within(p.transaction, previous_transaction)]
    if len(kept) != len(pending):
        log.info("discarded %d email(s) after rollback", len(pending) - len(kept))
    session.info[PENDING_KEY] = kept


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or not session.info:
        return
    # Mail still pending when the outermost transaction ends was rolled back, or the session
    # was closed without committing.
    discarded = session.info.pop(PENDING_KEY, None)
    if discarded:
        log.info("discarded %d email(s): transaction ended without commit", len(discarded))
    committed: list[tuple[Flask, int]] = session.info.pop(COMMITTED_KEY, None) or []
    for app in dict.fromkeys(a for a, _id in committed):
        _deliver_committed(app, [row_id for a, row_id in committed if a is app])


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False
