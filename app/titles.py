"""How a story or a quote is named in one line: review and edition pages, flash messages, the
audit trail, emails and their subject lines all call `item_title` (templates too, as a global).
"""

from __future__ import annotations

from typing import Protocol

from app.richtext import excerpt


class _Item(Protocol):
    kind: str


def item_title(item: _Item, length: int = 120) -> str:
    """The story's title, or the start of the quote, on one line and at most `length`
    characters (ending in "…" when shortened)."""
    if item.kind == "story":
        title = " ".join((item.title or "").split())  # type: ignore[attr-defined]
        return title if len(title) <= length else title[: length - 1].rstrip() + "…"
    return " ".join(excerpt(item.text or "", length, one_line=True).split())  # type: ignore[attr-defined]
