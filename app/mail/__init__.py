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
from email.message import EmailMessage
from typing import Any

import css_inline
from flask import Flask
from flask import current_app
from flask import render_template

from app.after_commit import AfterCommit
from app.extensions import db
from app.mail.backends import SendResult
from app.mail.backends import SendStatus
from app.mail.backends import get_backend
from app.mail.backends import get_outbox
from app.mail.message import HeaderInjectionError
from app.mail.message import build_message
from app.mail.outbox import deliver_outbox
from app.mail.outbox import insert_now
from app.mail.outbox import new_row

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


def init_app(app: Flask) -> None:
    """Wire the transaction hooks and, in development only, the outbox pages."""
    _after_commit.listen()
    if app.config.get("DEV_OUTBOX"):
        # Lazy on purpose: the dev outbox pages exist only in development and tests, and
        # production never loads their module.
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
    if not to:
        log.info("email %r not queued: no recipient", template)
        return
    msg = _compose(to, subject, template, headers, sender, context)
    row = new_row(template, msg)
    session = db.session()
    if not session.in_transaction():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        _after_commit.handle_committed(app, insert_now([row]))
        return
    session.add(row)
    _after_commit.record(session, row)


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


# Sends the outbox rows a transaction recorded once it commits (outside it: at once), without
# holding the session's connection over SMTP; the scheduler sends whatever is left.
_after_commit = AfterCommit(
    pending_key=PENDING_KEY,
    committed_key=COMMITTED_KEY,
    handle=lambda ids: deliver_outbox(ids=ids),
    log=log,
    doing="sending",
    noun="email(s)",
    log_discards=True,
)
