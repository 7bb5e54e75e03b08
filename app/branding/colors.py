"""Colour arithmetic for the brand accent: the WCAG 2.x contrast ratio, and shades derived from
the accent that stay readable where the site uses them (app.branding.theme).

Why a check at all: the accent is the primary buttons' background (white text on it) and the
colour of links and headings in the email (text on white). A pale brand colour would make both
unreadable, so an accent is accepted only when it reaches AA (4.5:1) against white. The ratio is
symmetric, so one number covers both uses; it is never rounded up (4.497 is refused).
"""

from __future__ import annotations

import math
import re

from app.errors import ValidationError

AA = 4.5
WHITE = "#ffffff"
BLACK = "#000000"
_HEX_RE = re.compile(r"#?([0-9a-f]{3}|[0-9a-f]{6})")

RGB = tuple[int, int, int]


def normalize(value: object) -> str | None:
    """`value` as "#rrggbb" (lower case; "#rgb" and a missing "#" accepted), or None."""
    text = str(value or "").strip().lower()
    match = _HEX_RE.fullmatch(text)
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return "#" + digits


def rgb(color: str) -> RGB:
    digits = color.lstrip("#")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(value: RGB) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in value)


def luminance(color: str) -> float:
    """Relative luminance (WCAG 2.x): sRGB channels linearised, weighted 0.2126/0.7152/0.0722."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """(lighter + 0.05) / (darker + 0.05), from 1 (same) to 21 (black on white)."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def shown(ratio: float) -> str:
    """A ratio for people, cut (never rounded up) to two decimals: "4.49:1"."""
    return f"{math.floor(ratio * 100) / 100:.2f}:1"


def mix(color: str, other: str, amount: float) -> str:
    """`color` moved `amount` (0..1) of the way towards `other`, channel by channel."""
    a, b = rgb(color), rgb(other)
    return to_hex(tuple(x + (y - x) * amount for x, y in zip(a, b, strict=True)))  # type: ignore[arg-type]


def readable_on(color: str, backgrounds: tuple[str, ...], ratio: float, *, toward: str) -> str:
    """`color`, or the first shade of it towards `toward` (black: darker, white: lighter) that
    reaches `ratio` against every one of `backgrounds`. Mixing keeps the hue, so a blue brand
    stays blue; `toward` itself is the last resort."""
    for step in range(101):
        candidate = mix(color, toward, step / 100)
        if min(contrast(candidate, bg) for bg in backgrounds) >= ratio:
            return candidate
    return toward


def check_accent(value: object) -> str:
    """The accent as "#rrggbb" when white text on it (and it as text on white) reaches AA;
    otherwise a ValidationError that gives the measured ratio and a darker shade that passes."""
    color = normalize(value)
    if color is None:
        raise ValidationError(
            "Enter the colour as a hex code such as #b43c0a (or the short form #c30)."
        )
    ratio = contrast(color, WHITE)
    if ratio < AA:
        suggestion = readable_on(color, (WHITE,), AA, toward=BLACK)
        raise ValidationError(
            f"{color} is too light to read: white text on it (and it as text on white) has a "
            f"contrast of {shown(ratio)}; at least 4.5:1 is needed. A darker shade of it such "
            f"as {suggestion} ({shown(contrast(suggestion, WHITE))}) passes."
        )
    return color
