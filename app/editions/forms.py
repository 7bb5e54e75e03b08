"""Upcoming-edition forms. Each carries the edition `version` the editor saw, so a change made on
a stale page is refused with a clear message instead of overwriting someone else's work."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms import TimeField

from app.editions.services import INTRO_MAX
from app.editions.services import SUBJECT_MAX
from app.review.forms import Blank
from app.review.forms import VersionField


class ActionForm(FlaskForm):
    """Move, pin, remove, move later, add, skip, send now: CSRF and the version."""

    version = VersionField()


class ContentForm(FlaskForm):
    version = VersionField()
    subject = StringField("Subject line", render_kw={"maxlength": SUBJECT_MAX},
                          validators=[Blank()])
    intro_md = TextAreaField("Editor's intro (Markdown)",
                             render_kw={"maxlength": INTRO_MAX, "rows": 6},
                             validators=[Blank()])


class ScheduleForm(FlaskForm):
    version = VersionField()
    day = DateField("Date", validators=[Blank()])
    clock = TimeField("Time", validators=[Blank()])
    zone = SelectField("Time zone", choices=[SelectChoice("org", "Organization")],
                       validators=[Blank()])

    def set_zones(self, org_zone: str, user_zone: str) -> None:
        choices = [SelectChoice("org", f"Organization time ({org_zone})")]
        if user_zone != org_zone:
            choices.append(SelectChoice("mine", f"My time ({user_zone})"))
        self.zone.choices = choices
