"""Reading and recognition: story permalinks, people, teams, tags, reactions and search."""

from flask import Blueprint

bp = Blueprint("reading", __name__)

from app.reading import views  # noqa: E402,F401
