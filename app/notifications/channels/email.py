"""The email channel: the notification's template pair, through the durable mail outbox."""

from __future__ import annotations

from app.mail import send_email_after_commit
from app.notifications.channels.base import Channel
from app.notifications.notification import Notification
from app.notifications.tokens import make_token
from app.web.urls import absolute_url

ONE_CLICK = "List-Unsubscribe=One-Click"


class EmailChannel(Channel):
    name = "email"

    def send(self, notification: Notification) -> None:
        """One email, recorded in the current transaction (sent after its commit).

        A non-essential kind gets a footer link that turns off just that kind without signing
        in, and the same link as List-Unsubscribe with RFC 8058 one-click POST.
        """
        user, kind = notification.user, notification.kind
        if not user.email:
            return
        headers: dict[str, str] | None = None
        footer: dict[str, object] = {}
        if not kind.essential:
            off_url = absolute_url("account.notification_off", token=make_token(user.id, kind))
            headers = {"List-Unsubscribe": f"<{off_url}>", "List-Unsubscribe-Post": ONE_CLICK}
            footer = {
                "unsubscribe_url": off_url,
                "unsubscribe_kind": kind,
                "preferences_url": absolute_url("account.profile"),
            }
        send_email_after_commit(
            user.email,
            notification.subject,
            notification.template,
            headers=headers,
            **{**notification.context, **footer, "user": user},
        )
