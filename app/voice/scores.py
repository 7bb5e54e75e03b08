"""The one rule for reading a score: its band on its scale.

NPS (0-10): 9-10 promoters, 7-8 passives, 0-6 detractors (Reichheld's definition).
CSAT (1-5): 4-5 satisfied, 3 neutral, 1-2 dissatisfied, shown as the same three bands.
CES (1-7, "the company made it easy", 7 = strongly agree): 5-7 easy, 4 neutral, 1-3 hard.
"""

from __future__ import annotations

from app.models import Band
from app.models import Scale

# The lowest score of the top band and the highest of the bottom band, per scale.
THRESHOLDS = {Scale.NPS: (9, 6), Scale.CSAT: (4, 2), Scale.CES: (5, 3)}


def band(scale: Scale | None, score: int | None) -> Band | None:
    if scale is None or score is None:
        return None
    top, bottom = THRESHOLDS[scale]
    if score >= top:
        return Band.PROMOTER
    if score <= bottom:
        return Band.DETRACTOR
    return Band.PASSIVE


def in_range(scale: Scale, score: int) -> bool:
    low, high = scale.bounds
    return low <= score <= high
