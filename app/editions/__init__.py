"""The upcoming edition: ordering, intro, preview, test send, schedule, skip, send now."""

from flask import Blueprint

bp = Blueprint("editions", __name__, url_prefix="/editions")

from app.editions import views  # noqa: E402,F401
