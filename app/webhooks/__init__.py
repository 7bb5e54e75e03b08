"""Outbound webhooks: admins register endpoints (Admin → Webhooks) that receive signed JSON
deliveries (Standard Webhooks) when editions go out, stories and quotes are published,
colleagues are featured and submissions change status.

catalog.py (event types, payloads), signing.py (secrets, signatures), subscribers.py (domain
events → delivery rows, and the "webhooks" scheduler job), services.py (endpoints, replays),
delivery.py (claiming, sending, retries), queries.py, views.py + forms.py (the admin pages).
"""

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")


from app.webhooks import views  # noqa: E402,F401
