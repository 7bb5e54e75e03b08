"""Friendly error pages, and domain errors turned into HTTP responses (never a 500)."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.database import reads_from_now_on
from app.errors import DomainError
from app.extensions import db

PAGES = {400, 403, 404, 409, 413, 429, 500}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/")


def render_error(status: int, message: str | None = None):
    if _wants_json():
        return jsonify(error=message or str(status)), status
    template = f"errors/{status if status in PAGES else 400}.html"
    return render_template(template, status=status, message=message), status


def init_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        reads_from_now_on()
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
        return render_template("errors/500.html", status=500), 500
