"""Forms of the token pages: a personal token (profile → API tokens), a service token (Admin →
API tokens), and the revoke confirmation. The services check everything again; these forms
give the person their errors next to the fields, with what they typed kept."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms import RadioField
from wtforms import SelectMultipleField
from wtforms import StringField
from wtforms import SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput
from wtforms.widgets import ListWidget

from app.tokens.scopes import SCOPES
from app.tokens.services import NAME_MAX

EXPIRY_CHOICES = [
    SelectChoice("30", "In 30 days"),
    SelectChoice("90", "In 90 days"),
    SelectChoice("365", "In a year"),
    SelectChoice("never", "Never"),
    SelectChoice("date", "On a date"),
]
EMAIL_MAX = 320


class ScopesField(SelectMultipleField):
    """One checkbox per scope; the template renders each with its description."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class _TokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired("Name the token."),
                    Length(max=NAME_MAX, message=f"Use at most {NAME_MAX} characters.")],
        description="What will use it, e.g. “Weekly report script”.",
    )
    scopes = ScopesField("Scopes", choices=[SelectChoice(s, s) for s in SCOPES])
    expires = RadioField("Expires", choices=EXPIRY_CHOICES, default="90")
    expires_on = DateField("Expiry date", validators=[Optional()],
                           description="With “On a date”: the token works through this day.")

    def limit_scopes(self, allowed: frozenset[str]) -> None:
        """Offer only the scopes `allowed` (a person's own role); others are invalid choices."""
        self.scopes.choices = [SelectChoice(s, s) for s in SCOPES if s in allowed]


class PersonalTokenForm(_TokenForm):
    submit = SubmitField("Create token")


class ServiceTokenForm(_TokenForm):
    acts_as = StringField(
        "Acts as",
        validators=[DataRequired("Give the email address of the person the token acts as."),
                    Length(max=EMAIL_MAX, message="That is too long for an email address.")],
        description="The email address of the person whose rights the integration uses: its "
        "stories are submitted as them, and their role bounds the scopes.",
    )
    submit = SubmitField("Create service token")


class ConfirmRevokeForm(FlaskForm):
    submit = SubmitField("Revoke token")
