"""SCIM 2.0 provisioning (RFC 7643/7644): identity providers create, update and deactivate people
and teams at /scim/v2 with a bearer token; admins manage the tokens at /admin/scim.

One blueprint for app/__init__.py to register, with two children: `scim.api` (the protocol,
authorised by token, CSRF-exempt, SCIM JSON errors) and `scim.admin` (the admin pages).
"""

from flask import Blueprint

bp = Blueprint("scim", __name__)
api = Blueprint("api", __name__, url_prefix="/scim/v2")
admin = Blueprint("admin", __name__, url_prefix="/admin/scim")

from app.scim import admin_views  # noqa: E402,F401
from app.scim import errors  # noqa: E402
from app.scim import views  # noqa: E402,F401

errors.init_errors(api)
bp.register_blueprint(api)
bp.register_blueprint(admin)
