"""What the editions feature does when something happens (collected by `register_subscribers`)."""

from __future__ import annotations

from app.editions.services import ensure_upcoming
from app.events import EditionSent
from app.events import subscribe


@subscribe(EditionSent)
def open_next_edition(event: EditionSent) -> None:
    """Once an edition is out, the next one exists, so approvals and the pool have a home.

    Approvals create it on demand too (`ensure_upcoming` is idempotent), so a delay here, or a
    retry, loses nothing.
    """
    ensure_upcoming()
