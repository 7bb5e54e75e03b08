"""The weekly newsletter: compilation, reliable sending, scheduler, unsubscribe, web archive.

Its commands (`flask editions send N`, `flask scheduler run`) are registered by app.cli, not
here: importing a submodule of this package (app.newsletter.due from the editions pages) must
not load the scheduler's jobs, which read the review queue.
"""

from flask import Blueprint

bp = Blueprint("newsletter", __name__)

from app.newsletter import views  # noqa: E402,F401
