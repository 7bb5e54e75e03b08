"""Forms of the webhook admin pages (CSRF on every POST)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import SelectField
from wtforms import SelectMultipleField
from wtforms import StringField
from wtforms import SubmitField
from wtforms.fields.choices import SelectChoice

from app.webhooks.catalog import EVENT_TYPES


class EndpointForm(FlaskForm):
    url = StringField("Endpoint URL")
    description = StringField(
        "Description", description="Shown to admins only, e.g. who runs the receiver.")
    # Checked by app.webhooks.services (an unknown or missing event is a field error there),
    # so the form keeps what was ticked instead of refusing it as "Not a valid choice".
    events = SelectMultipleField("Events", choices=[SelectChoice(e.name, e.label)
                                                    for e in EVENT_TYPES.values()],
                                 validate_choice=False)
    active = BooleanField("Active: send deliveries to this endpoint", default=True)
    submit = SubmitField("Save")


class FilterForm(FlaskForm):
    """The deliveries log's status filter (GET, no CSRF)."""

    class Meta:
        csrf = False

    status = SelectField("Status", choices=[SelectChoice(value, label) for value, label in (
        ("", "All"), ("pending", "Waiting"), ("sending", "Sending"), ("delivered", "Delivered"),
        ("failed", "Failed"))], validate_choice=False)


class ConfirmForm(FlaskForm):
    """A POST that needs only its CSRF token (test, replay, rotate, delete)."""

    submit = SubmitField("Confirm")
