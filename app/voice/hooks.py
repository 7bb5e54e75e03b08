"""The signed customer-voice webhook, POST /hooks/voice/<source> (being written)."""

from flask import Blueprint

hooks_bp = Blueprint("voice_hooks", __name__, url_prefix="/hooks/voice")
