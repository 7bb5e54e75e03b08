"""The one sentence that tells staff what the newsletter records about their reading.

Shown, word for word, on the profile page, on the admin's readership settings and on every
edition's readership report, so what staff are told and what editors see can never disagree.
"""

from __future__ import annotations

AGGREGATE = "aggregate"
PERSON = "person"


def privacy_sentence(*, clicks: bool, opens: bool, mode: str, days: int) -> str:
    """What is counted, who can see what, and for how long, for these readership settings."""
    if not clicks and not opens:
        return "Opens and clicks in the weekly email are not counted."
    what = "Opens and clicks" if clicks and opens else ("Clicks" if clicks else "Opens")
    if mode == PERSON:
        period = f"{days} day{'' if days == 1 else 's'}"
        return (f"{what} in the weekly email are counted per person: for {period} they are "
                "linked to the reader, so editors can see how each team read an edition (never "
                "who: teams of fewer than 5 are grouped); after that they count only in the "
                "totals.")
    return (f"{what} in the weekly email are counted in aggregate only: editors see totals per "
            "edition and per story, and nobody’s own reading is recorded.")
