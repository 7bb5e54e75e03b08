"""Branding: the logo, accent colour and footer text an admin sets (Admin → Settings →
Branding), used by the site and every email.

Import-light on purpose: the newsletter composer and the template context read `brand()`, so
this package's `__init__` imports no views; the blueprint lives in `views.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g
from flask import has_request_context

from app.branding.colors import normalize
from app.settings import DEFAULT_ACCENT
from app.settings import page_settings
from app.web.urls import absolute_url

__all__ = ["DEFAULT_ACCENT", "Brand", "brand"]


@dataclass(frozen=True, slots=True)
class Brand:
    """What the site and the emails show of the company's branding."""

    logo_url: str | None  # absolute, session-free (emails); None: the built-in sun mark
    accent: str  # "#rrggbb", readable (AA) as text on white and with white text on it
    footer: str  # plain text, may be ""
    logo_key: str | None = None  # the stored file's key (pages build a relative link from it)


def brand() -> Brand:
    """The current branding. Every page shows it (header, theme, footer), so it is read with
    the organization's time zone in the one per-request query of `page_settings`; outside a
    request (the scheduler, the CLI) it is read afresh each time."""
    if not has_request_context():
        return _from(page_settings())
    cached = g.get("_brand")
    if cached is None:
        cached = g._brand = _from(page_settings())
    return cached


def _from(values: dict) -> Brand:
    key = values["brand_logo"] or None
    return Brand(
        logo_url=absolute_url("branding.logo", key=key) if key else None,
        # Stored only through the setting's check; normalised again so a hand-edited row can
        # never put anything but #rrggbb into a stylesheet or an email.
        accent=normalize(values["brand_accent"]) or DEFAULT_ACCENT,
        footer=values["brand_footer"] or "",
        logo_key=key,
    )
