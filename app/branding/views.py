"""Admin → Settings → Branding, and the logo file itself."""

from flask import Blueprint

bp = Blueprint("branding", __name__)
