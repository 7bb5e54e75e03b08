"""Friendly error pages, and domain errors turned into HTTP responses (never a 500).

The one rule for views (docs/architecture.md): a view makes its service call, commits once with
`db.session.commit()`, and never rolls back or catches around the commit. A `DomainError` that
escapes is handled here, once: the request's transaction is rolled back and the error becomes the
friendly page with its status, or `{"error": message}` for a script. A view that shows the error
somewhere else says so before the call, still without a try/except:

- `with form_errors(form):` a form page shows the message on the form, keeping what was typed;
- `errors_redirect_to(url)`: a one-click action flashes the message and goes back to `url`;
- `with caught(Conflict) as refusal:` the view shows `refusal.error` its own way.

Each rolls back here, so no view calls `db.session.rollback()` (tests/test_view_rules.py).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from wtforms import Field

from app.database import reads_from_now_on
from app.errors import DomainError
from app.extensions import db
from app.web.problems import is_api_path
from app.web.problems import problem

PAGES = {400, 403, 404, 409, 413, 429, 500}
_REDIRECT = "fgf_error_redirect"  # in flask.g: (target, error types) from errors_redirect_to


def wants_json() -> bool:
    """A script asked (fetch with a JSON body or Accept header, or an /api/ endpoint)."""
    return (
        request.is_json
        or request.accept_mimetypes.best == "application/json"
        or request.path.startswith("/api/")
    )


def rollback_request() -> None:
    """Undo the request's writes; the rest of the request only reads (app/database.py)."""
    db.session.rollback()
    reads_from_now_on()


class Refusal:
    """What `caught` / `form_errors` caught: the error, or None when the block went through."""

    error: DomainError | None = None


@contextmanager
def caught(*kinds: type[DomainError]) -> Iterator[Refusal]:
    """Roll back a DomainError (of `kinds`, default any) raised in the block and keep it on the
    yielded Refusal, for a view that shows it its own way (a conflict banner, a bad-link page).
    Other errors reach the error handler."""
    refusal = Refusal()
    handled = kinds or (DomainError,)
    try:
        yield refusal
    except handled as error:
        rollback_request()
        refusal.error = error


@contextmanager
def form_errors(target: FlaskForm | Field, *kinds: type[DomainError]) -> Iterator[Refusal]:
    """Show a DomainError raised in the block on the form (rolled back) instead of an error page.

    `target` is the field the message belongs to, or the form: then an error's `field` name, or
    its `errors` dict of field names ("touchpoint_id" finds the field "touchpoint"), puts the
    messages on those fields, and anything else goes above the form. The block ends with the
    commit and the redirect; after an error the view goes on past the block and renders the form
    again with what was typed.
    """
    with caught(*kinds) as refusal:
        yield refusal
    if refusal.error is not None:
        _attach(target, refusal.error)


def _attach(target: FlaskForm | Field, error: DomainError) -> None:
    if isinstance(target, Field):
        target.errors = [*target.errors, error.message]
        return
    per_field = getattr(error, "errors", None)
    if not isinstance(per_field, dict):
        name = getattr(error, "field", None)
        per_field = {name: error.message} if name else {}
    if not per_field:
        target.form_errors.append(error.message)
    for name, message in per_field.items():
        name = name if name in target else name.removesuffix("_id")
        if name in target:
            target[name].errors = [message]
        else:
            target.form_errors.append(message)


def errors_redirect_to(target: str | Callable[[], str], *kinds: type[DomainError]) -> None:
    """From here on in this request, a DomainError (of `kinds`, default any) is flashed and the
    browser sent to `target` (a URL, or a function giving one, called after the rollback)
    instead of an error page. Scripts still get `{"error": message}` with the status."""
    g.setdefault(_REDIRECT, [])
    getattr(g, _REDIRECT).append((target, kinds or (DomainError,)))


def _redirect_for(error: DomainError) -> str | None:
    for target, kinds in reversed(g.get(_REDIRECT, [])):
        if isinstance(error, kinds):
            return target() if callable(target) else target
    return None


def render_error(status: int, message: str | None = None):
    if is_api_path(request.path):  # the JSON API answers in RFC 9457 problem details
        return problem(status, message)
    if wants_json():
        return jsonify(error=message or str(status)), status
    template = f"errors/{status if status in PAGES else 400}.html"
    return render_template(template, status=status, message=message), status


def init_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        rollback_request()
        if not wants_json():
            back = _redirect_for(error)
            if back is not None:
                flash(error.message, "error")
                return redirect(back)
        return render_error(error.status_code, error.message)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_error(
            400, "Your form expired or was sent from another site. Reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = error.code or 500
        if code == 413:  # the whole body is over MAX_CONTENT_LENGTH (the abuse cap)
            limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
            return render_error(413, f"That was more than we accept in one go ({limit} MB).")
        if code not in PAGES:
            if is_api_path(request.path):
                headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
                return problem(code, error.description, headers=headers)
            return error
        description = error.description if code in (400, 409) else None
        return render_error(code, description)

    @app.errorhandler(OperationalError)
    def database_busy(error: OperationalError):
        # SQLite writers queue for the write lock (app/database.py); "database is locked" means
        # one waited the whole busy timeout: an overload. The action did not happen, and
        # trying again in a moment is the right advice.
        db.session.rollback()
        reads_from_now_on()
        if "locked" in str(error.orig).lower():
            app.logger.warning(
                "database locked on %s %s: a write waited out the busy timeout (or a read "
                "transaction tried to write)", request.method, request.path,
            )  # fmt: skip
            return render_error(
                409, "Lots of people are saving at this moment. Please try again."
            )
        raise error

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        reads_from_now_on()
        if app.config.get("TESTING") and app.config.get("PROPAGATE_TEST_ERRORS", True):
            raise error
        if is_api_path(request.path):
            return problem(500, "Something went wrong on our side; it has been logged.")
        return render_template("errors/500.html", status=500), 500
