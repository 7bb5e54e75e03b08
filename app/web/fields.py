"""Form fields shared by the feature packages."""

from __future__ import annotations

from wtforms import IntegerField
from wtforms import StringField
from wtforms.validators import StopValidation

from app.numbers import bounded_int


class BoundedIntegerField(IntegerField):
    """IntegerField that refuses what no INTEGER column can hold, as a field error.

    WTForms' own field accepts any size of number, which then fails in the database driver.
    """

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(valuelist)  # "Not a valid integer value." for non-numbers
        if self.data is None:
            return
        try:
            bounded_int(self.data)
        except ValueError as exc:
            self.data = None
            raise ValueError(self.gettext("That number is too large.")) from exc


class TimezoneField(StringField):
    """A time zone: typed, or picked from the IANA names in templates/_timezones.html.

    Without JavaScript the browser's <datalist> suggests names; js/timezone.js turns the input
    into a searchable list. Either way the service checks the value (app.timezones), so only the
    rendering lives here, the same for every zone field.
    """

    def __init__(self, label: str, validators: list | None = None, **kwargs) -> None:
        render_kw = {
            "list": "timezone-names",
            "autocomplete": "off",
            "autocapitalize": "none",
            "spellcheck": "false",
            "data-timezone-picker": True,
            **(kwargs.pop("render_kw", None) or {}),
        }
        super().__init__(label, validators=validators, render_kw=render_kw, **kwargs)


def setting_rule(key: str):
    """A field validator applying the settings' own rule for `key` (app/settings.py), so every
    settings page refuses exactly what saving would refuse, with the same message."""

    def check(form, field) -> None:
        from app.errors import ValidationError
        from app.settings import SETTINGS  # at call time: the settings read the database models

        if field.errors:  # e.g. "Not a valid integer value": one message is enough
            raise StopValidation()
        try:
            SETTINGS[key].validate(field.data)
        except (ValidationError, TypeError, ValueError) as error:
            raise StopValidation(getattr(error, "message", "Enter a valid value.")) from None

    return check
