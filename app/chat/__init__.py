"""Slack and Microsoft Teams destinations: what the newsletter posts to the company's chat, and
the admin pages that connect them (Admin → Chat)."""

from flask import Blueprint

bp = Blueprint("chat", __name__, url_prefix="/admin/chat")

from app.chat import views  # noqa: E402,F401
