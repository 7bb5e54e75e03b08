"""The newsletter's own links (absolute, through app.web.urls, so they are the same from a web
request, the CLI and the scheduler)."""

from __future__ import annotations

from app.web.urls import absolute_url
from app.web.urls import path_for


def upload_path(name: str | None) -> str | None:
    """Path of an uploaded image (None without one); the email makes it absolute."""
    return path_for("submissions.upload", name=name) if name else None


def edition_url(number: int) -> str:
    return absolute_url("newsletter.edition", number=number)


def unsubscribe_url(token: str) -> str:
    return absolute_url("newsletter.unsubscribe", token=token)
