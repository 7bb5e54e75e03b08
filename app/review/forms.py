"""Review forms: they parse what the browser sent; the rules live in `app.review.services`.
(The editor's edit page uses the author's forms, app.submissions.forms, and their rules.)

Every form that changes an item carries the item's `version` as the editor saw it, so the
service can refuse a decision or an edit made on a stale page.
"""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import TextAreaField
from wtforms.validators import InputRequired
from wtforms.validators import Optional
from wtforms.widgets import HiddenInput

from app.models import Edition
from app.numbers import optional_int
from app.review.queries import FilterOptions
from app.review.queries import QueueFilters
from app.review.services import NOTE_MAX
from app.web.fields import BoundedIntegerField


def _initial(data: dict) -> dict | None:
    """Stored values on GET; on POST the form shows exactly what was sent."""
    return None if request.method == "POST" else data


def _int_or_none(value: object) -> int | None:
    """Filters ignore what they cannot use: a value that is not a usable id means "any"."""
    try:
        return optional_int(value)
    except ValueError:
        return None


class Blank(Optional):
    """Like Optional (an empty value stops validation) without the "(optional)" hint: for
    fields whose emptiness is meaningful (no subject yet, "use the weekly time")."""

    field_flags: dict = {}


class VersionField(BoundedIntegerField):
    """The version of the item the editor is looking at (hidden)."""

    widget = HiddenInput()

    def __init__(self, **kwargs) -> None:
        super().__init__("Version", validators=[InputRequired("Reload the page and try again.")],
                         **kwargs)


class QueueFilterForm(FlaskForm):
    """GET filters for the queue (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    # Never validated (a GET filter): no "(optional)" hints, unknown values are ignored.
    kind = SelectField(
        "Type",
        choices=[SelectChoice("", "Stories and quotes"), SelectChoice("story", "Stories"),
                 SelectChoice("quote", "Quotes")],
    )
    team = SelectField("Team", coerce=_int_or_none)
    touchpoint = SelectField("Touchpoint", coerce=_int_or_none)
    tag = SelectField("Tag")

    def set_choices(self, options: FilterOptions) -> None:
        self.team.choices = _choices(options.teams, "All teams")
        self.touchpoint.choices = _choices(options.touchpoints, "All touchpoints")
        tags = list(options.tags)
        if self.tag.data and self.tag.data not in tags:
            tags.append(self.tag.data)  # keep a filter from a bookmarked URL visible
        self.tag.choices = _choices([(t, f"#{t}") for t in tags], "All tags")

    def filters(self) -> QueueFilters:
        kind = self.kind.data if self.kind.data in ("story", "quote") else None
        return QueueFilters(
            kind=kind,
            team_id=_int_or_none(self.team.data),
            touchpoint_id=_int_or_none(self.touchpoint.data),
            tag=(self.tag.data or "").strip().lower() or None,
        )


def _choices(rows: list[tuple[object, str]], empty: str) -> list[SelectChoice]:
    """An "empty" first option, then (value, label) rows."""
    return [SelectChoice("", empty), *(SelectChoice(str(value), label) for value, label in rows)]


def edition_choices(editions: list[Edition], draft_exists: bool) -> list[SelectChoice]:
    """"Where should it go?": the upcoming edition by default, or another open one."""
    choices = []
    for edition in editions:
        state = "upcoming" if edition.status == "draft" else "scheduled, going out soon"
        choices.append(SelectChoice(str(edition.id), f"Edition #{edition.number} ({state})"))
    if not draft_exists:
        choices.insert(0, SelectChoice("", "The upcoming edition"))
    return choices


class ApproveForm(FlaskForm):
    version = VersionField()
    # Checked by the view (the edition may have closed since the page was drawn).
    edition = SelectField("Add it to", validators=[Optional()], validate_choice=False)


class RequestChangesForm(FlaskForm):
    version = VersionField()
    note = TextAreaField("Note to the author", render_kw={"maxlength": NOTE_MAX, "rows": 4})


class RejectForm(FlaskForm):
    version = VersionField()
    reason = TextAreaField("Reason (sent to the author)",
                           render_kw={"maxlength": NOTE_MAX, "rows": 4})


class BulkApproveForm(FlaskForm):
    """The queue's bulk form; the selected items arrive as repeated `items` values."""

    edition = HiddenField(validators=[Optional()])
