"""What a notification channel is: one class with a name and `send(notification)`."""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from typing import ClassVar

from flask import Flask

from app.notifications.notification import Notification

_channel_types: dict[str, type[Channel]] = {}


class Channel(ABC):
    """A way to reach people. Subclasses register themselves under `name`.

    `send` runs inside the subscriber's transaction, after the person's preferences were
    checked. It records what to deliver in that transaction (the email channel writes a
    mail_outbox row) and does no network I/O itself: delivery happens after the commit, with
    retries, so a slow or unreachable service never holds the transaction, and nothing is lost
    or sent twice when a process dies. Raising rolls the subscriber back; the event dispatcher
    logs it and retries the subscriber with backoff (the action that caused it stays done).
    """

    name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _channel_types[cls.name] = cls

    def __init__(self, app: Flask) -> None:
        self.app = app

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Record `notification` for delivery to `notification.user` after the commit."""


def channel_types() -> dict[str, type[Channel]]:
    return dict(_channel_types)
