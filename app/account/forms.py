"""Profile and password forms (CSRF from FlaskForm)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.account.services import DISPLAY_NAME_MAX
from app.auth.forms import ChangePasswordForm, DisplayNameField
from app.numbers import optional_int


def _coerce_int(value: object) -> int:
    """"" means "no team" (0); a value that is not a usable id is a field error."""
    return optional_int(value) or 0


class ProfileForm(FlaskForm):
    display_name = DisplayNameField(
        "Your name", validators=[DataRequired(), Length(max=DISPLAY_NAME_MAX)]
    )
    team = SelectField("Team", coerce=_coerce_int, validators=[Optional()])
    timezone = StringField("Your time zone", validators=[Optional(), Length(max=64)])
    weekly_email = BooleanField("Send me the Feel Good Fridays email every week")


class PasswordForm(ChangePasswordForm):
    """The auth change-password form; prefixed in the view so it shares a page with the profile."""
