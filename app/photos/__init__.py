"""Profile photos: uploaded on the profile page or taken from the identity provider's
`picture` claim (`services.save_photo`), stored as small square JPEGs, shown where initials
were (the avatar macro), on pages for signed-in staff and in emails through signed links."""

from flask import Blueprint

bp = Blueprint("photos", __name__)

from app.photos import views  # noqa: E402,F401
