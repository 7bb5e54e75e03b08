"""Admin forms. State-changing forms are FlaskForms (CSRF); GET filter forms opt out of CSRF,
since a token in a shareable search URL protects nothing and leaks the token."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import DateField
from wtforms import EmailField
from wtforms import FloatField
from wtforms import HiddenField
from wtforms import RadioField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import StopValidation

from app.admin import services
from app.admin.queries import UserStatus
from app.auth.forms import DisplayNameField
from app.errors import ValidationError
from app.models import Role
from app.models.voice import MAX_TEXT
from app.numbers import optional_int
from app.settings import MAX_REDACTION_PATTERNS
from app.settings import WEEKDAYS
from app.text import clean_text
from app.web.fields import BoundedIntegerField
from app.web.fields import TimezoneField


def as_choices(pairs: Iterable[tuple[object, str]]) -> list[SelectChoice]:
    """(value, label) pairs as WTForms select choices."""
    return [SelectChoice(value, label) for value, label in pairs]  # type: ignore[arg-type]


ROLE_CHOICES = as_choices((r.value, r.label) for r in Role)
WEEKDAY_CHOICES = as_choices(enumerate(WEEKDAYS))
NO_TEAM = (0, "No team")
# The longest useful list: every pattern line at its longest (a label, ": ", 200 characters).
PATTERNS_MAX_LENGTH = MAX_REDACTION_PATTERNS * 240


def _coerce_int(value: object) -> int:
    """Select values arrive as strings; "" is 0 ("none"); a value that is not a usable number is
    a field error (WTForms reports a coerce ValueError as "Invalid Choice")."""
    return optional_int(value) or 0


class _GetForm(FlaskForm):
    class Meta:
        csrf = False


class _Blank(Optional):
    """Optional without the "(optional)" label hint: in a filter bar every field is optional."""

    def __init__(self) -> None:
        super().__init__()
        self.field_flags = {}


class UserFilterForm(_GetForm):
    q = StringField("Search", validators=[_Blank(), Length(max=120)])
    role = SelectField(
        "Role", choices=[SelectChoice("", "Any role"), *ROLE_CHOICES], validate_choice=False
    )
    team = SelectField("Team", coerce=_coerce_int, validate_choice=False)
    status = SelectField(
        "Status",
        choices=as_choices([("", "Any status"), *((s.value, s.label) for s in UserStatus)]),
        validate_choice=False,
    )


class InviteForm(FlaskForm):
    email = EmailField("Work email", validators=[DataRequired(), Length(max=254)])
    display_name = DisplayNameField("Name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.EMPLOYEE.value)
    team = SelectField("Team", coerce=_coerce_int, validators=[Optional()])


class UserForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    team = SelectField("Team", coerce=_coerce_int, validators=[Optional()])


class ConfirmForm(FlaskForm):
    """An empty form: a confirmation page's POST carries nothing but its CSRF token."""


def catalogue_form(catalogue: services.Catalogue, label: str) -> type[FlaskForm]:
    """The one-field form that adds a row to `catalogue` or renames one (field: its name)."""
    field = StringField(label, validators=[DataRequired(), Length(max=catalogue.max_length)])
    return type(f"{catalogue.noun.title()}Form", (FlaskForm,), {catalogue.name_field: field})


TeamForm = catalogue_form(services.TEAMS, "Team name")
TouchpointForm = catalogue_form(services.TOUCHPOINTS, "Label")


class MoveForm(FlaskForm):
    direction = HiddenField(validators=[DataRequired()])


def _setting(key: str):
    """Validate a field with the same rule the settings service applies before saving."""

    def check(form: FlaskForm, field) -> None:
        if field.errors:  # e.g. "Not a valid integer value": one message is enough
            raise StopValidation()
        try:
            services.check_setting(key, field.data)
        except ValidationError as error:
            raise StopValidation(error.message) from None

    return check


def _clean_lines(value: str | None) -> str | None:
    """Typed multi-line text without control characters (a NUL cannot be stored in PostgreSQL)."""
    return clean_text(value, multiline=True) if value else value


def _weekday(label: str, key: str) -> SelectField:
    return SelectField(label, coerce=_coerce_int, choices=WEEKDAY_CHOICES,
                       validators=[_setting(key)])


def _hours(label: str, key: str) -> BoundedIntegerField:
    return BoundedIntegerField(label, validators=[InputRequired(), _setting(key)])


def _time_of_day(label: str, key: str) -> StringField:
    """24-hour HH:MM as typed text: <input type=time> shows "09:00 AM" in a 12-hour locale,
    contradicting the hint and the schedule shown everywhere else."""
    return StringField(
        label,
        validators=[InputRequired(), _setting(key)],
        # No maxlength: "5:30 PM" cut to "5:30" would save 05:30; the server refuses it instead.
        render_kw={"pattern": r"([01]?[0-9]|2[0-3]):[0-5][0-9]", "autocomplete": "off",
                   "spellcheck": "false"},
    )


class SettingsForm(FlaskForm):
    """Field names are the setting keys, so errors map back one to one."""

    timezone = TimezoneField(
        "Organization time zone",
        validators=[InputRequired(), Length(max=64), _setting("timezone")],
    )
    send_weekday = _weekday("Send day", "send_weekday")
    send_time = _time_of_day("Send time", "send_time")
    reminder_hours_before = _hours("Editor reminder (hours before the send)",
                                   "reminder_hours_before")
    missed_run_grace_hours = _hours("Grace period for a missed send (hours)",
                                    "missed_run_grace_hours")
    empty_edition_policy = RadioField(
        "When there are no stories that week",
        choices=as_choices(
            [
                ("skip", "Skip the week (no email)"),
                ("send_placeholder", "Send a short “no stories this week — share yours” email"),
            ]
        ),
        validators=[InputRequired(message="Choose what happens when there are no stories.")],
    )
    nudge_enabled = BooleanField("Send a mid-week “share a story” nudge")
    nudge_weekday = _weekday("Nudge day", "nudge_weekday")
    nudge_time = _time_of_day("Nudge time", "nudge_time")
    sender = StringField(
        "Sender", validators=[InputRequired(), Length(max=320), _setting("sender")]
    )
    extra_recipients = TextAreaField(
        "Extra recipients", validators=[Optional(), _setting("extra_recipients")]
    )
    # The mail relay's limits (app.newsletter.pacing). Like the fields below, without
    # InputRequired: a form posted without them keeps the stored values.
    send_rate_per_second = FloatField(
        "Messages per second", validators=[_setting("send_rate_per_second")],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    send_cap_messages = BoundedIntegerField(
        "At most this many messages", validators=[_setting("send_cap_messages")]
    )
    send_cap_window_hours = BoundedIntegerField(
        "In any window of (hours)", validators=[_setting("send_cap_window_hours")]
    )
    voice_keep_original = BooleanField("Keep customers’ original comments")
    # Without InputRequired: a form posted without the field keeps the stored value; an empty
    # or non-numeric one is "Not a valid integer value".
    voice_original_days = BoundedIntegerField(
        "Days originals are kept", validators=[_setting("voice_original_days")]
    )
    voice_redact_patterns = TextAreaField(
        "Extra redaction patterns",
        filters=[_clean_lines],
        validators=[Optional(), Length(max=PATTERNS_MAX_LENGTH), _setting("voice_redact_patterns")],
        render_kw={"spellcheck": "false", "autocomplete": "off", "autocapitalize": "none"},
    )
    # Not a setting: a comment to try the patterns on ("Preview redaction" saves nothing).
    voice_sample = TextAreaField(
        "Try a comment",
        filters=[_clean_lines],
        validators=[Optional(), Length(max=MAX_TEXT)],  # as long as the longest comment
    )

    KEYS = (
        "timezone",
        "send_weekday",
        "send_time",
        "reminder_hours_before",
        "missed_run_grace_hours",
        "empty_edition_policy",
        "nudge_enabled",
        "nudge_weekday",
        "nudge_time",
        "sender",
        "extra_recipients",
        "send_rate_per_second",
        "send_cap_messages",
        "send_cap_window_hours",
        "voice_keep_original",
        "voice_original_days",
        "voice_redact_patterns",
    )

    @classmethod
    def initial(cls, values: dict) -> dict:
        """Stored values as form data (lists become one address or `label: pattern` a line)."""
        patterns = values.get("voice_redact_patterns") or []
        return {
            **values,
            "extra_recipients": "\n".join(values.get("extra_recipients") or []),
            "voice_redact_patterns": "\n".join(f"{p['label']}: {p['pattern']}" for p in patterns),
        }

    def values(self) -> dict:
        return {key: self[key].data for key in self.KEYS}


class AuditFilterForm(_GetForm):
    actor = StringField("Actor (name or email)", validators=[_Blank(), Length(max=120)])
    action = StringField("Action starts with", validators=[_Blank(), Length(max=64)])
    object_type = SelectField("Object type", validate_choice=False)
    object_id = BoundedIntegerField("Object id", validators=[_Blank()])
    date_from = DateField("From", validators=[_Blank()])
    date_to = DateField("To", validators=[_Blank()])
