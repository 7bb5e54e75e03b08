"""Avatar initials and colour for a name, computed in Python.

The hash used to run as a Jinja loop per character, two thirds of a cold story card's render
time; the result is the same (tests/test_avatars.py pins it), so colours never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
COLOURS = 8


@dataclass(frozen=True, slots=True)
class Avatar:
    label: str
    initials: str
    colour: int


@lru_cache(maxsize=4096)
def avatar_for(name: str | None) -> Avatar:
    """Initials (first and last word) and a stable colour class 0..7 for `name`."""
    label = (name or "").strip()
    parts = label.split()
    initials = (parts[0][:1] + (parts[-1][:1] if len(parts) > 1 else "")).upper() if parts else "?"
    h = 7
    for ch in label.lower():
        h = (h * 31 + _LETTERS.find(ch) + 2) % 10007
    return Avatar(label, initials, h % COLOURS)


# A photo in place of the initials: the avatar's CSS box in px (app.css: .avatar, .avatar--sm,
# .avatar--lg) and the stored photo sizes (app.photos.storage.SIZES) sharp on 1x and 2x screens.
PHOTO_BOXES: dict[str | None, tuple[int, int, int]] = {
    None: (40, 48, 96),
    "sm": (32, 48, 96),
    "lg": (56, 96, 256),
}


def photo_box(size: str | None) -> tuple[int, int, int]:
    """(box, 1x size, 2x size) for an avatar `size`; unknown sizes get the default's."""
    return PHOTO_BOXES.get(size, PHOTO_BOXES[None])
