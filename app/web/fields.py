"""Form fields shared by the feature packages."""

from __future__ import annotations

from wtforms import IntegerField

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
