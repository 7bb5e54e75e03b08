"""The API's guard: a bearer token, never the session cookie (so CSRF cannot reach the API).

`authenticate(scope)` runs first in every API view (app.api.routing): no token or an unknown,
revoked or expired one is 401; a token without the scope (or whose person may no longer use it,
app.tokens.scopes.grants) is 403. The token and its person are then `g.api_token` / `current()`.
"""

from __future__ import annotations

from flask import g
from flask import request

from app import audit
from app.api.problems import ApiProblem
from app.database import SAFE_METHODS
from app.models import AccessToken
from app.models import User
from app.tokens import queries
from app.tokens import scopes
from app.tokens.services import hash_token
from app.tokens.usage import bearer
from app.tokens.usage import note_use

ACCESS = "api-token"  # the routes' access marker (tests/test_routes_access.py)
REALM = 'Bearer realm="Feel Good Fridays API"'
_PRESENTED = "feelgood.api.presented"


def _unauthorized(detail: str, error: str | None = None) -> ApiProblem:
    challenge = REALM + (f', error="{error}"' if error else "")
    return ApiProblem(401, detail, kind="unauthorized", headers={"WWW-Authenticate": challenge})


def presented() -> AccessToken | None:
    """The usable token the request presents (not revoked, not expired), or None; looked up
    once per request, so the rate limiter's key (app.api.routing) and `authenticate` share one
    query. Kept with the request itself, not on `g`: an app context (and its `g`) can outlive a
    request (tests push one around many), a request's environ cannot."""
    if _PRESENTED not in request.environ:
        secret = bearer()
        request.environ[_PRESENTED] = (
            queries.api_token_for_secret(hash_token(secret)) if secret is not None else None)
    return request.environ[_PRESENTED]


def authenticate(scope: str) -> AccessToken:
    if bearer() is None:
        raise _unauthorized("Send an API token: Authorization: Bearer <token>.")
    token = presented()
    if token is None or token.user is None or not token.user.is_active:
        raise _unauthorized("The token is unknown, revoked or expired.", "invalid_token")
    if not scopes.grants(token, scope):
        raise ApiProblem(
            403, f"This token may not do this: it needs the {scope!r} scope.",
            kind="insufficient-scope",
            headers={"WWW-Authenticate": REALM + f', error="insufficient_scope", scope="{scope}"'},
        )
    reads = request.method in SAFE_METHODS
    token = note_use(token, reads=reads)
    if token is None:
        raise _unauthorized("The token is unknown, revoked or expired.", "invalid_token")
    g.api_token = token
    audit.through_api(token.id)
    return token


def current_token() -> AccessToken:
    return g.api_token


def current() -> User:
    """The person the request's token acts as."""
    user = g.api_token.user
    assert user is not None  # authenticate refused a token without one
    return user
