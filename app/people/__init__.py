"""The people admin: a person's details and manager, password-reset links, and merging
free-text colleague names into accounts (the person page itself is app.admin's)."""

from flask import Blueprint

bp = Blueprint("people", __name__, url_prefix="/admin/people")

from app.people import views  # noqa: E402,F401
