"""Reading and recognition: story permalinks, people, teams, tags, reactions and search."""

from flask import Blueprint
from flask import Flask

bp = Blueprint("reading", __name__)

from app.reading import cache  # noqa: E402,F401
from app.reading import search  # noqa: E402,F401
from app.reading import views  # noqa: E402,F401


def init_app(app: Flask) -> None:
    """Attach the session hooks that keep the search index and the page cache in step with
    every write (once per process, whatever the number of apps)."""
    search.install()
    cache.install()
