"""IANA time zone names: the list people pick from and the one check every zone field uses.

`ZoneInfo(name)` alone accepts more than the IANA list (any file under the system's zoneinfo
directory, e.g. "localtime" or "posixrules"), so a typed zone is checked against
`zoneinfo.available_timezones()` instead, and stored with its canonical spelling.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from app.errors import ValidationError

NOT_ZONES = frozenset({"localtime", "Factory"})  # in the system's directory, not real places
EXAMPLE = "e.g. Europe/Paris or America/New_York"


@cache
def _by_key() -> dict[str, str]:
    """Every IANA name by its lookup key (scanning the tz database is slow: once per process)."""
    return {_key(name): name for name in available_timezones() - NOT_ZONES}


def _key(value: str) -> str:
    return value.strip().replace(" ", "_").casefold()


@cache
def zone_names() -> tuple[str, ...]:
    """The names offered in pickers: Area/Location zones and UTC, sorted. Older one-word
    aliases (EST, GB, ...) are still accepted when typed, but not offered."""
    return tuple(sorted(n for n in _by_key().values() if "/" in n or n == "UTC"))


def canonical_zone(value: str | None) -> str | None:
    """`value` as an IANA zone name ("europe/paris" and "Europe/Paris " → "Europe/Paris"), None
    when empty; ValidationError when it is not a zone."""
    text = (value or "").strip()
    if not text:
        return None
    name = _by_key().get(_key(text))
    if name is None:
        raise ValidationError(f"{text!r} is not a known time zone; pick one from the list "
                              f"({EXAMPLE}).")
    return name
