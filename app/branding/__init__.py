"""Branding: the logo, accent colour and footer text an admin sets (Admin → Settings →
Branding), used by the site and every email.

Import-light on purpose: the newsletter composer and the template context read `brand()`, so
this package's `__init__` imports no views; the blueprint lives in `views.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import get_settings

DEFAULT_ACCENT = "#b43c0a"


@dataclass(frozen=True, slots=True)
class Brand:
    """What the site and the emails show of the company's branding."""

    logo_url: str | None  # absolute, session-free (emails); None: the built-in sun mark
    accent: str  # "#rrggbb", readable (AA) as text on white and with white text on it
    footer: str  # plain text, may be ""


def brand() -> Brand:
    values = get_settings("brand_logo", "brand_accent", "brand_footer")
    return Brand(
        logo_url=None,
        accent=values["brand_accent"] or DEFAULT_ACCENT,
        footer=values["brand_footer"] or "",
    )
