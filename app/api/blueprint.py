"""The API's blueprint, apart from the modules that add routes to it (no import cycle)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
