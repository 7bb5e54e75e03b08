"""The notification channel registry: which channels are on (NOTIFICATION_CHANNELS).

A channel is one class in one module of this package (see `base.Channel`); NOTIFICATION_CHANNELS
names the channels in use, comma-separated ("email", "email,slack"). A name that is not
registered yet is looked up as the module `app.notifications.channels.<name>`, so adding a
channel is one new file plus the setting (docs/architecture.md has the worked example); a
"package.module:Class" name loads a channel that lives outside this package.
"""

from __future__ import annotations

import importlib

from flask import current_app

from app.notifications.channels.base import Channel
from app.notifications.channels.base import channel_types
from app.notifications.channels.email import EmailChannel

__all__ = ["Channel", "EmailChannel", "active_channels", "channel_names"]


def channel_names() -> list[str]:
    value = current_app.config["NOTIFICATION_CHANNELS"]
    names = value.split(",") if isinstance(value, str) else list(value)
    return list(dict.fromkeys(n.strip() for n in names if n.strip()))


def active_channels() -> list[Channel]:
    """One instance of each configured channel, for the current app."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return [_channel_type(name)(app) for name in channel_names()]


def _channel_type(name: str) -> type[Channel]:
    known = channel_types()
    if name in known:
        return known[name]
    module, _, attribute = name.partition(":")
    module = module if attribute else f"{__name__}.{name}"
    try:
        # Channels are plugins chosen by configuration: loaded by name, on first use.
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:
            raise  # the channel's module exists but lacks something it needs
        raise RuntimeError(f"NOTIFICATION_CHANNELS names {name!r}, but there is no module "
                           f"{module}") from None
    if attribute:
        channel = getattr(loaded, attribute)
        if isinstance(channel, type) and issubclass(channel, Channel):
            return channel
    elif name in channel_types():
        return channel_types()[name]
    raise RuntimeError(f"NOTIFICATION_CHANNELS names {name!r}, which defines no Channel")
