"""The SCIM endpoints' guard: a bearer token an admin created (app.scim.services.create_token).

`@scim_token_required` marks the view for tests/test_routes_access.py (`_access = "scim-token"`)
the way @public and @role_required mark the others: without a valid, unrevoked token every SCIM
route answers 401 with a SCIM error, whatever the method.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import g
from flask import request
from scim2_models import UnauthorizedException

from app.database import SAFE_METHODS
from app.models import AccessToken
from app.scim import queries
from app.scim import services
from app.tokens.usage import bearer
from app.tokens.usage import note_use

F = TypeVar("F", bound=Callable)
ACCESS = "scim-token"


def current_token() -> AccessToken:
    return g.scim_token


def scim_token_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args, **kwargs):
        secret = bearer()
        token = queries.token_by_hash(services.hash_token(secret)) if secret else None
        if token is None:
            raise UnauthorizedException(detail="A valid SCIM bearer token is required.")
        reads = request.method in SAFE_METHODS or getattr(view, "_reads_only", False)
        # The once-a-minute note of the use, as the API's guard takes it (app.tokens.usage).
        token = note_use(token, reads=reads)
        if token is None:  # revoked while the note waited for the write lock
            raise UnauthorizedException(detail="A valid SCIM bearer token is required.")
        g.scim_token = token
        return view(*args, **kwargs)

    wrapped._access = ACCESS  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]
