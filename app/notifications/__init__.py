"""Notifications: kinds people can switch off, channels that reach them, and the subscribers
that turn domain events into notifications.

    event (app/events.py) → subscribers.py → messages.notify_*() → Notification
        → delivery.deliver(): preferences → every channel in NOTIFICATION_CHANNELS
        → channels/email.py: mail_outbox row, sent after the commit

Services that change content never call it to notify anyone: subscribers react to their events
after the commit. (The profile and the footer links use `preferences` to change the switches.)
"""

from app.notifications.delivery import deliver
from app.notifications.messages import notify_applause
from app.notifications.messages import notify_approved
from app.notifications.messages import notify_changes_requested
from app.notifications.messages import notify_edition_due_soon
from app.notifications.messages import notify_edition_missed
from app.notifications.messages import notify_featured
from app.notifications.messages import notify_published
from app.notifications.messages import notify_rejected
from app.notifications.notification import Notification

__all__ = [
    "Notification",
    "deliver",
    "notify_applause",
    "notify_approved",
    "notify_changes_requested",
    "notify_edition_due_soon",
    "notify_edition_missed",
    "notify_featured",
    "notify_published",
    "notify_rejected",
]
