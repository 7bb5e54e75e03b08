"""Slack and Microsoft Teams destinations: what the newsletter posts to the company's chat, and
the admin pages that connect them (Admin → Chat).

providers/ (one module per platform: Block Kit, Adaptive Card), messages.py (what each
happening says), subscribers.py (events → post rows, and the "chat" scheduler job),
services.py (destinations, recording posts), delivery.py (claiming and posting, retries),
queries.py, views.py + forms.py (the admin pages).
"""

from flask import Blueprint

bp = Blueprint("chat", __name__, url_prefix="/admin/chat")


from app.chat import views  # noqa: E402,F401
