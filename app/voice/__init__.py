"""The customer's voice: verbatims from survey files, a signed webhook and forwarded emails,
redacted on arrival, curated by editors in an inbox at /review/voice."""

from flask import Blueprint

bp = Blueprint("voice", __name__, url_prefix="/review/voice")

from app.voice import views  # noqa: E402,F401
