"""RFC 9457 problem details (`application/problem+json`): how the JSON API answers an error.

Lives with the web layer so the app-wide error handlers (app/web/errors.py) can answer an
unknown /api/ URL, a 405 or a 429 in the API's format without importing the API package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from flask import Response

MEDIA_TYPE = "application/problem+json"
API_PREFIX = "/api/"
TYPE_BASE = "https://feelgoodfridays.invalid/problems/"  # documented, never fetched
# What a problem says when its raiser gave no detail (an unknown URL, the rate limiter): every
# problem tells the client what happened and what to do, not just the status phrase.
DEFAULT_DETAILS = {
    400: "The request could not be understood.",
    401: "Send an API token: Authorization: Bearer <token>.",
    403: "This token may not do this.",
    404: "There is nothing at this URL (see /api/v1/openapi.json for the operations).",
    405: "The method is not allowed for the requested URL.",
    413: "The request body is too large.",
    429: "Too many requests for this token: wait for the time in Retry-After, then go on.",
    500: "Something went wrong on our side; it has been logged.",
}


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    kind: str | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A problem response. `kind` names the problem type (`type` is TYPE_BASE + kind; without
    it, "about:blank" and the status phrase as title, as RFC 9457 §4.2.1 says); `errors` lists
    field errors as {"detail", "pointer"} (a JSON Pointer into the request body) or
    {"detail", "parameter"} (a query parameter or header)."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind if kind else "about:blank",
        "title": title or phrase,
        "status": status,
    }
    detail = detail or DEFAULT_DETAILS.get(status)
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [dict(error) for error in errors]
    body.update(extensions)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
