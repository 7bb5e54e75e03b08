"""Sign in, sign out, invitations and password resets."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import oidc_views  # noqa: E402,F401  (routes register on import)
from app.auth import views  # noqa: E402,F401
