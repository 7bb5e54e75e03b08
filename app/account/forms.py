"""Profile and password forms (CSRF from FlaskForm)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import SelectField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional

from app.account.services import DISPLAY_NAME_MAX
from app.auth.forms import ChangePasswordForm
from app.auth.forms import DisplayNameField
from app.notifications.kinds import KINDS
from app.notifications.kinds import WEEKLY
from app.numbers import optional_int
from app.web.fields import TimezoneField


def _coerce_int(value: object) -> int:
    """"" means "no team" (0); a value that is not a usable id is a field error."""
    return optional_int(value) or 0


class ProfileForm(FlaskForm):
    display_name = DisplayNameField(
        "Your name", validators=[DataRequired(), Length(max=DISPLAY_NAME_MAX)]
    )
    team = SelectField("Team", coerce=_coerce_int, validators=[Optional()])
    timezone = TimezoneField("Your time zone", validators=[Optional(), Length(max=64)])
    weekly_email = BooleanField("Send me the Feel Good Fridays email every week")


class PasswordForm(ChangePasswordForm):
    """The auth change-password form; prefixed in the view so it shares a page with the profile."""


class NotificationsForm(FlaskForm):
    """One checkbox per switchable kind (fields added below, named by the kind's key). The
    weekly edition keeps its checkbox in the profile form, where people have always found it."""


SWITCHABLE = [kind for kind in KINDS.values() if not kind.essential and kind is not WEEKLY]
for _kind in SWITCHABLE:
    setattr(NotificationsForm, _kind.key, BooleanField(_kind.label, description=_kind.description))
