"""Admin → Chat: connect Slack and Teams destinations."""

from app.chat import bp  # noqa: F401
