"""The search form: a GET form (bookmarkable, shareable), so no CSRF token."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from datetime import tzinfo
from typing import Any
from typing import ClassVar

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import DateField
from wtforms import SearchField
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import ValidationError
from wtforms.widgets import Select

from app.numbers import optional_int
from app.reading.queries import FilterOptions
from app.reading.search import SearchFilters


class _RememberedSelect(Select):
    """A <select> rendered once per distinct (field, options, choice, attributes).

    The filter lists (every team, touchpoint and tag) are re-read on each request but rarely
    change, and rendering a hundred <option>s through WTForms costs more than the search.
    """

    _rendered: ClassVar[OrderedDict[tuple[Any, ...], Markup]] = OrderedDict()
    _lock: ClassVar[threading.Lock] = threading.Lock()
    SIZE: ClassVar[int] = 256

    def __call__(self, field: SelectField, **kwargs: Any) -> Markup:
        choices = tuple((c.value, c.label) for c in field.choices or ())
        key = (field.id, field.name, choices, field.data, tuple(sorted(kwargs.items())))
        with self._lock:
            html = self._rendered.get(key)
        if html is None:
            html = super().__call__(field, **kwargs)
            with self._lock:
                self._rendered[key] = html
                if len(self._rendered) > self.SIZE:
                    self._rendered.popitem(last=False)
        return html


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    # No Optional() on these: every field of a search form is optional, the hint would be noise.
    q = SearchField("Search stories and quotes", validators=[Length(max=200)])
    team = SelectField("Team", coerce=optional_int, widget=_RememberedSelect())
    touchpoint = SelectField("Touchpoint", coerce=optional_int, widget=_RememberedSelect())
    tag = SelectField("Tag", coerce=optional_int, widget=_RememberedSelect())
    date_from = DateField("Published from", validators=[Optional()])
    date_to = DateField("Published until", validators=[Optional()])

    def set_choices(self, options: FilterOptions) -> None:
        self.team.choices = _choices("All teams", options.teams)
        self.touchpoint.choices = _choices("All touchpoints", options.touchpoints)
        self.tag.choices = _choices("All tags", [(i, f"#{name}") for i, name in options.tags])

    def validate_date_to(self, field: DateField) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date must be on or after the start date.")

    def _valid(self, name: str):
        field = self[name]
        return None if field.errors else field.data

    @property
    def is_filtered(self) -> bool:
        return any(self._valid(n) for n in ("team", "touchpoint", "tag", "date_from", "date_to"))

    def filters(self, tz: tzinfo) -> SearchFilters:
        """The valid filters, dates as whole days in the organization's time zone."""
        return SearchFilters(
            team_id=self._valid("team"),
            touchpoint_id=self._valid("touchpoint"),
            tag_id=self._valid("tag"),
            published_from=_start_of(self._valid("date_from"), tz),
            published_before=_start_of(_next_day(self._valid("date_to")), tz),
        )


def _choices(everything: str, pairs: list[tuple[int, str]]) -> list[SelectChoice]:
    return [SelectChoice("", everything), *(SelectChoice(str(i), label) for i, label in pairs)]


def _next_day(day: date | None) -> date | None:
    if day is None or day >= date.max:
        return None
    return day + timedelta(days=1)


def _start_of(day: date | None, tz: tzinfo) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=tz) if day else None
