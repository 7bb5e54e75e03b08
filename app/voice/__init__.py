"""The customer's voice: verbatims from survey files, a signed webhook and forwarded emails,
redacted on arrival, curated by editors in an inbox at /review/voice."""

from flask import Blueprint

bp = Blueprint("voice", __name__, url_prefix="/review/voice")

from app.voice import import_views  # noqa: E402,F401
from app.voice import source_views  # noqa: E402,F401
from app.voice import views  # noqa: E402,F401
from app.voice.hooks import hooks_bp  # noqa: E402,F401
