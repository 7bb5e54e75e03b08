"""Absolute links: BASE_URL plus the path from the URL map, the one way every email, feed,
notification and preview builds them.

`url_for(..., _external=True)` needs a request (or SERVER_NAME) and would use whatever host the
request came in on; the scheduler and the CLI have no request. Building the path from the URL map
and prefixing BASE_URL works everywhere and gives the same link in every process.
"""

from __future__ import annotations

from flask import current_app


def base_url() -> str:
    """BASE_URL without a trailing slash (config.py)."""
    return str(current_app.config["BASE_URL"]).rstrip("/")


def path_for(endpoint: str, **values: object) -> str:
    """The URL path of `endpoint` (no host), inside or outside a request."""
    adapter = current_app.url_map.bind("localhost")  # host unused: only the path is built
    return adapter.build(endpoint, values)


def absolute_url(endpoint: str | None = None, **values: object) -> str:
    """The absolute link to `endpoint` with `values`; no endpoint: the home page."""
    return base_url() + (path_for(endpoint, **values) if endpoint else "/")
