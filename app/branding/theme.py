"""The site's theme stylesheet for the brand accent (`/brand/theme.css?v=<version>`).

The site's colours are CSS custom properties (app/static/css/app.css, light and dark). A
generated stylesheet, linked right after app.css, overrides the accent-coloured ones; a
stylesheet (not a style attribute or a <style> element) because the CSP forbids inline styles.
Every derived shade is computed to stay readable where app.css uses it (the ratios in comments
there): links at AA on every light surface, buttons' text on the accent, and light variants for
dark mode. The version is a hash of the stylesheet itself, so its URL may be cached forever and
a new colour (or a new version of this code) gets a new URL.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from app.branding import DEFAULT_ACCENT
from app.branding.colors import AA
from app.branding.colors import BLACK
from app.branding.colors import WHITE
from app.branding.colors import contrast
from app.branding.colors import mix
from app.branding.colors import readable_on

# app.css's surfaces where accent-coloured text appears (bg, surface, surface-2, sunny).
LIGHT_SURFACES = ("#faf6f0", "#ffffff", "#f3ece2", "#fff4e0")
DARK_SURFACES = ("#16171c", "#1f2128", "#2a2c35", "#2b2418")
DARK_ON_PRIMARY = "#1a1306"  # app.css's dark-mode text on primary buttons


def palette(accent: str) -> dict[str, dict[str, str]]:
    """The custom properties for `accent` ("#rrggbb", AA against white), light and dark."""
    link = readable_on(accent, LIGHT_SURFACES, AA, toward=BLACK)
    soft = mix(accent, WHITE, 0.85)
    light = {
        "--color-primary": accent,
        "--color-primary-hover": mix(accent, BLACK, 0.18),
        "--color-on-primary": WHITE,
        "--color-link": link,
        "--color-link-hover": mix(link, BLACK, 0.25),
        "--color-focus": mix(accent, BLACK, 0.18),
        "--color-accent": mix(accent, WHITE, 0.3),
        "--color-accent-strong": link,
        "--color-accent-soft": soft,
        "--color-on-accent-soft": readable_on(accent, (soft,), AA, toward=BLACK),
        "--header-stripe": f"linear-gradient(90deg, {mix(accent, WHITE, 0.3)}, {accent})",
    }
    primary = readable_on(accent, (DARK_ON_PRIMARY,), 7.0, toward=WHITE)
    dark_link = readable_on(accent, DARK_SURFACES, 7.0, toward=WHITE)
    dark_soft = mix(accent, DARK_SURFACES[0], 0.75)
    dark = {
        "--color-primary": primary,
        "--color-primary-hover": mix(primary, WHITE, 0.3),
        "--color-on-primary": DARK_ON_PRIMARY,
        "--color-link": dark_link,
        "--color-link-hover": mix(dark_link, WHITE, 0.35),
        "--color-focus": dark_link,
        "--color-accent": dark_link,
        "--color-accent-strong": dark_link,
        "--color-accent-soft": dark_soft,
        "--color-on-accent-soft": readable_on(accent, (dark_soft,), 7.0, toward=WHITE),
        "--header-stripe": f"linear-gradient(90deg, {accent}, {dark_link})",
    }
    return {"light": light, "dark": dark}


# The header's logo: app.css sizes the square sun mark; a company logo is wider, so it keeps
# its shape at the header's height (the file is at most 480 × 144 px: 3.33 to 1).
LOGO_RULES = """.brand__logo--custom {
  width: auto;
  height: 2.25rem;
  max-width: min(10rem, 40vw);
  object-fit: contain;
}
"""


def is_default(accent: str, has_logo: bool) -> bool:
    """Nothing to override: the site's own stylesheet is the theme (no extra request)."""
    return accent == DEFAULT_ACCENT and not has_logo


@lru_cache(maxsize=64)
def stylesheet(accent: str, has_logo: bool = False) -> str:
    """The theme: the accent's custom properties (unless it is the built-in accent, whose
    hand-tuned palette app.css already has) and, with a logo, the header's logo rule."""
    parts = [
        "/* Feel Good Fridays theme (Admin → Settings → Branding and layout). Generated. */\n"
    ]
    if accent != DEFAULT_ACCENT:
        colours = palette(accent)

        def block(values: dict[str, str], indent: str) -> str:
            return "\n".join(f"{indent}{name}: {value};" for name, value in values.items())

        parts.append(
            f"/* Accent {accent}: white on it {contrast(accent, WHITE):.2f}:1. */\n"
            f":root {{\n{block(colours['light'], '  ')}\n}}\n"
            f"@media (prefers-color-scheme: dark) {{\n  :root {{\n"
            f"{block(colours['dark'], '    ')}\n  }}\n}}\n"
        )
    if has_logo:
        parts.append(LOGO_RULES)
    return "".join(parts)


def version(accent: str, has_logo: bool = False) -> str:
    """The stylesheet's version for its URL: changes whenever its content does."""
    return hashlib.sha256(stylesheet(accent, has_logo).encode()).hexdigest()[:12]
