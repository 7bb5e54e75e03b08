"""Absolute links for emails, built the same way in web requests, the CLI and the scheduler.

`url_for` needs a request (or SERVER_NAME) and the scheduler has neither; building paths from the
URL map and prefixing BASE_URL works everywhere and never depends on the host a request used.
"""

from __future__ import annotations

from flask import current_app
from werkzeug.routing import BuildError


def path_for(endpoint: str, **values: object) -> str:
    """The URL path of `endpoint` (no host), outside or inside a request."""
    adapter = current_app.url_map.bind("localhost")  # host unused: only the path is built
    return adapter.build(endpoint, values)


def absolute(endpoint: str, **values: object) -> str:
    return base_url() + path_for(endpoint, **values)


def base_url() -> str:
    return str(current_app.config["BASE_URL"]).rstrip("/")


def optional_path(endpoint: str, **values: object) -> str | None:
    """Path of another feature's page, or None if that feature does not offer it."""
    try:
        return path_for(endpoint, **values)
    except BuildError:
        return None


def upload_path(name: str | None) -> str | None:
    """Path of an uploaded image, or None when the uploads endpoint is not available."""
    if not name:
        return None
    path = optional_path("submissions.upload", name=name)
    if path is None:
        current_app.logger.warning("no submissions.upload endpoint: cover image %s left out", name)
    return path


def edition_url(number: int) -> str:
    return absolute("newsletter.edition", number=number)


def unsubscribe_url(token: str) -> str:
    return absolute("newsletter.unsubscribe", token=token)
