"""People's data: erasure, "download my data", retention (issue 17). Filled in by app/privacy/*."""

from flask import Blueprint

bp = Blueprint("privacy", __name__)

from app.privacy import views  # noqa: E402,F401
