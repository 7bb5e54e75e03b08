"""Privacy forms: the erasure's typed confirmation, the download button, the settings page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from app.web.fields import BoundedIntegerField
from app.web.fields import setting_rule


class EraseForm(FlaskForm):
    confirmation = StringField(
        "Type their email address or full name to confirm",
        validators=[InputRequired(message="Type the person's email address or full name.")],
    )


class DownloadForm(FlaskForm):
    """Just the CSRF token: the button is the whole form (a POST, so no prefetch builds it)."""


class PrivacySettingsForm(FlaskForm):
    """Field names are the setting keys."""

    KEYS = ("erasure_account", "erasure_stories", "retention_audit_days",
            "retention_delivery_days")

    erasure_account = RadioField(
        "An erased person's account",
        choices=[SelectChoice("anonymize", "Keep it as an anonymous shell"),
                 SelectChoice("remove", "Delete it")],
        validators=[InputRequired(message="Choose what happens to the account.")],
    )
    erasure_stories = RadioField(
        "An erased person's stories and quotes",
        choices=[SelectChoice("keep", "Keep them, by “a former colleague”"),
                 SelectChoice("remove", "Delete them")],
        validators=[InputRequired(message="Choose what happens to their stories.")],
    )
    retention_audit_days = BoundedIntegerField(
        "Days the audit log is kept",
        validators=[InputRequired(message="Enter a number of days (0: for ever)."),
                    setting_rule("retention_audit_days")],
    )
    retention_delivery_days = BoundedIntegerField(
        "Days per-recipient delivery rows are kept",
        validators=[InputRequired(message="Enter a number of days (0: for ever)."),
                    setting_rule("retention_delivery_days")],
    )

    def values(self) -> dict:
        return {key: self[key].data for key in self.KEYS}
