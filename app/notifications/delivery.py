"""Handing a notification to the channels, once the person's preferences allow it."""

from __future__ import annotations

import logging

from app.notifications import preferences
from app.notifications.channels import active_channels
from app.notifications.notification import Notification

log = logging.getLogger(__name__)


def deliver(notification: Notification) -> bool:
    """Give `notification` to every configured channel; False when nobody is to be told.

    Deactivated people get nothing; a kind the person turned off is dropped here, for every
    channel at once (essential kinds are always on). Call it inside the transaction of the
    subscriber (or service) that caused it: channels record, delivery follows the commit.
    """
    user = notification.user
    if user is None or not user.is_active_user:
        return False
    if not preferences.is_enabled(user, notification.kind):
        log.debug("%s notification for user %s not sent: turned off", notification.kind.key,
                  user.id)
        return False
    for channel in active_channels():
        channel.send(notification)
    return True
