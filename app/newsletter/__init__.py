"""The weekly newsletter: compilation, reliable sending, scheduler, unsubscribe, web archive."""

from flask import Blueprint

bp = Blueprint("newsletter", __name__)

from app.newsletter import views  # noqa: E402,F401
