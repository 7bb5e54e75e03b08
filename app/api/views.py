"""The API blueprint, complete: its resource modules, its answers' headers, the document.

Importing the resource modules registers their operations on `bp` (app.api.routing); the
factory registers `bp`. Every answer says `Vary: Authorization` and `Cache-Control: private,
no-cache` (a shared cache must never serve one token's answer to another; a client may keep a
copy and revalidate it with its ETag) and carries the token's rate limit in `RateLimit-*`
headers (draft-ietf-httpapi-ratelimit-headers).
"""

from __future__ import annotations

import math
import time

from flask import Response
from flask import jsonify
from flask import request

from app.api import editions  # noqa: F401 - each registers its operations
from app.api import insights  # noqa: F401
from app.api import me  # noqa: F401
from app.api import people  # noqa: F401
from app.api import quotes  # noqa: F401
from app.api import search  # noqa: F401
from app.api import stories  # noqa: F401
from app.api import submissions  # noqa: F401
from app.api import taxonomy  # noqa: F401
from app.api.blueprint import bp
from app.api.openapi import document
from app.api.problems import init_problem_handlers
from app.auth.access import public
from app.extensions import csrf
from app.extensions import limiter
from app.web.sessions import drop_session

csrf.exempt(bp)  # no cookie is ever accepted here, so there is nothing for CSRF to forge
init_problem_handlers(bp)


@bp.before_app_request
def no_session() -> None:
    """Every /api/v1/ request (unknown URLs too) runs without the session cookie. (The web's
    own JSON helpers, /api/preview and /api/colleagues, are session pages: left alone.)"""
    if request.path.startswith(f"{bp.url_prefix}/") or request.path == bp.url_prefix:
        drop_session()


@bp.after_request
def api_headers(response: Response) -> Response:
    response.headers["Vary"] = "Authorization"
    response.headers.setdefault("Cache-Control", "private, no-cache")
    current = limiter.current_limit
    if current is not None:
        window = current.limit.get_expiry()
        reset = min(window, max(0, math.ceil(current.reset_at - time.time())))
        response.headers["RateLimit-Limit"] = str(current.limit.amount)
        response.headers["RateLimit-Remaining"] = str(max(0, current.remaining))
        response.headers["RateLimit-Reset"] = str(reset)
        response.headers["RateLimit-Policy"] = f"{current.limit.amount};w={window}"
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, reset))
        # Ours replace flask-limiter's X-RateLimit-* and its Retry-After on every answer: its
        # after-request hook (which runs after this one) adds nothing without a current limit.
        limiter.context.view_rate_limit = None
    return response


@bp.get("/openapi.json")
@public
def openapi_json():
    """The OpenAPI 3.1 description of this API, built from the code (app.api.openapi)."""
    body = document(server_url=request.script_root + bp.url_prefix)
    return jsonify(body)
