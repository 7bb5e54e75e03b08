"""Readership forms: the one-click applause confirmation and the admin's readership settings."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from app.engagement.services import READERSHIP_KEYS
from app.web.fields import BoundedIntegerField
from app.web.fields import setting_rule

# Short labels: what each mode means is the privacy sentence (app/engagement/privacy.py), shown
# under the choice on the settings page exactly as staff read it on their profile.
MODES = [
    SelectChoice("aggregate", "Aggregate only"),
    SelectChoice("person", "Per person (by team)"),
]


class ApplaudForm(FlaskForm):
    """Just the CSRF token (the anonymous session's): the button is the whole form."""


class ReadershipSettingsForm(FlaskForm):
    """Field names are the setting keys."""

    KEYS = READERSHIP_KEYS

    track_clicks = BooleanField("Count clicks on the links in edition emails")
    track_opens = BooleanField("Count opens with a 1×1 image")
    analytics_mode = RadioField(
        "What editors can see",
        choices=MODES,
        validators=[InputRequired(message="Choose what editors can see.")],
    )
    engagement_person_days = BoundedIntegerField(
        "Days per-person reading data is kept",
        validators=[InputRequired(message="Enter a number of days."),
                    setting_rule("engagement_person_days")],
    )
    # Set by the confirmation step when leaving per-person mode anonymizes existing data.
    confirmed = HiddenField()

    def values(self) -> dict:
        return {key: self[key].data for key in self.KEYS}
