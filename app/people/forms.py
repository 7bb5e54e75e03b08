"""Forms of the people admin (all POST forms carry the CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional

from app.auth.forms import DisplayNameField
from app.numbers import optional_int
from app.people.services import EMAIL_MAX
from app.people.services import NAME_MAX


def _coerce_int(value: object) -> int:
    """"" is 0 ("no team"); a number too big for the column is a field error, never a 500."""
    return optional_int(value) or 0


def _email(label: str, *validators) -> EmailField:
    return EmailField(label, validators=[*validators, Length(max=EMAIL_MAX)],
                      render_kw={"autocomplete": "off", "spellcheck": "false"})


class PersonForm(FlaskForm):
    display_name = DisplayNameField("Name", validators=[DataRequired(), Length(max=NAME_MAX)])
    email = _email("Work email", DataRequired())
    team = SelectField("Team", coerce=_coerce_int, validators=[Optional()])
    manager = _email("Manager", Optional())


class MergeNameForm(FlaskForm):
    """Merge one free-text name into an account (its work email); `next` is where to go back."""

    name = HiddenField(validators=[DataRequired(message="Choose a name from the list.")])
    account = _email("Account", DataRequired(message="Enter the account's work email."))
    next = HiddenField()


class NameSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: a token in a shareable URL protects nothing

    q = StringField("Search names", validators=[Optional(), Length(max=120)])
