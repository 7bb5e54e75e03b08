"""Editors review submissions: approve, request changes, reject, edit with revisions."""

from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review")

from app.review import views  # noqa: E402,F401
