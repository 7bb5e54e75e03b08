"""Route guards. Every view is marked: `@public` or `@role_required(...)`.

The marker is stored on the view function so a test can walk `app.url_map` and prove that no
route was left unguarded, and check each role against each route.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import abort
from flask import redirect
from flask import request
from flask import url_for
from flask_login import current_user

from app.errors import PermissionDenied
from app.models import Role
from app.models import User

F = TypeVar("F", bound=Callable)

ALL_ROLES = (Role.EMPLOYEE, Role.EDITOR, Role.ADMIN)
CURATORS = (Role.EDITOR, Role.ADMIN)


def public(view: F) -> F:
    """Reachable without signing in (login page, signed links, unsubscribe)."""
    view._access = "public"  # type: ignore[attr-defined]
    return view


def role_required(*roles: Role) -> Callable[[F], F]:
    """Signed-in users with one of `roles`; anonymous users go to login, others get 403."""
    allowed = frozenset(roles or ALL_ROLES)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapped._access = allowed  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def is_curator(user: User) -> bool:
    """The one rule for who curates (reviews submissions, arranges and sends editions): an
    active editor or admin. `curator_required` guards the pages, `require_curator` the services."""
    return user.role in CURATORS and user.is_active_user


def require_curator(user: User, message: str = "Only editors can do this.") -> None:
    if not is_curator(user):
        raise PermissionDenied(message)


login_required = role_required(*ALL_ROLES)
curator_required = role_required(*CURATORS)
admin_required = role_required(Role.ADMIN)
