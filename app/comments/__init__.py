"""Comments on published stories: short plain-text notes from colleagues, shown on the story's
page, removable by their writer, the story's author and the editors."""

from flask import Blueprint

bp = Blueprint("comments", __name__)

from app.comments import views  # noqa: E402,F401
