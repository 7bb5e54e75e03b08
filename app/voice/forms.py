"""Inbox forms: the GET filters (never an error: a value that cannot be used is ignored, so a
bookmarked or hand-edited link always shows a page) and the CSRF-carrying action forms.

"Make a story draft" uses the story form of app.submissions.forms, with its rules.
"""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import SearchField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField

from app.models import VerbatimStatus
from app.numbers import positive_int
from app.text import clean_text
from app.voice.queries import MAX_QUERY
from app.voice.queries import TABS
from app.voice.queries import UNSCORED
from app.voice.queries import InboxFilters

BAND_CHOICES = [
    SelectChoice("", "Any score"),
    SelectChoice("promoter", "Promoters (and satisfied, easy)"),
    SelectChoice("passive", "Passives (and neutral)"),
    SelectChoice("detractor", "Detractors (and dissatisfied, hard)"),
    SelectChoice(UNSCORED, "No score"),
]
MAX_DATE_LENGTH = 10  # YYYY-MM-DD


def _id(value: object) -> int | None:
    """An id from the query string, or None (any) when it is not one."""
    try:
        return positive_int(value)
    except ValueError:
        return None


def _day(value: object) -> date | None:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) != MAX_DATE_LENGTH:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _choices(rows: list[tuple[int, str]], empty: str) -> list[SelectChoice]:
    return [SelectChoice("", empty), *(SelectChoice(str(value), label) for value, label in rows)]


class InboxFilterForm(FlaskForm):
    """GET filters (no CSRF: they change nothing). Never validated: `filters()` reads what it
    can use and ignores the rest, without a message."""

    class Meta:
        csrf = False

    q = SearchField("Search the comments")
    band = SelectField("Score", choices=BAND_CHOICES)
    source = SelectField("Source")
    team = SelectField("Team")
    touchpoint = SelectField("Touchpoint")
    since = StringField("Received from", name="from", render_kw={"type": "date"})
    until = StringField("Received until", name="to", render_kw={"type": "date"})
    mentions = BooleanField("Names a colleague")
    status = HiddenField()
    import_id = HiddenField()

    def set_choices(self, sources: list[tuple[int, str]], teams: list[tuple[int, str]],
                    touchpoints: list[tuple[int, str]]) -> None:
        self.source.choices = _choices(sources, "All sources")
        self.team.choices = _choices(teams, "All teams")
        self.touchpoint.choices = _choices(touchpoints, "All touchpoints")

    def filters(self) -> InboxFilters:
        statuses = {s.value: s for s in TABS}
        band = self.band.data if self.band.data in {c.value for c in BAND_CHOICES} else None
        q = clean_text(self.q.data or "")[:MAX_QUERY].strip()
        self.q.data = q  # the box shows what was searched for
        return InboxFilters(
            status=statuses.get(self.status.data or "", VerbatimStatus.NEW),
            band=band or None,
            source_id=_id(self.source.data),
            team_id=_id(self.team.data),
            touchpoint_id=_id(self.touchpoint.data),
            since=_day(self.since.data),
            until=_day(self.until.data),
            mentions=bool(self.mentions.data),
            import_id=_id(self.import_id.data),
            q=q,
        )


class ActionForm(FlaskForm):
    """Just the CSRF token: make a quote, dismiss, restore."""


class BulkDismissForm(FlaskForm):
    """The inbox's checkboxes (repeated `ids` values), then the confirmation page's button
    (`confirmed`)."""

    confirmed = HiddenField()
