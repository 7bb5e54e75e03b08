"""URL converters: `<int:...>` that only matches numbers the database can hold."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter
from werkzeug.routing import Map

from app.numbers import INT_MAX
from app.numbers import INT_MIN


def at_most_regex(limit: int) -> str:
    """A regex for the decimal numbers 0..limit (leading zeros allowed), without groups.

    Matching the range in the pattern (not only in `to_python`) matters: Werkzeug answers 405
    rather than 404 when a GET rule and a POST rule share a path and the converter refuses.
    """
    digits = str(limit)
    options = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - i - 1
            lower = "0" if digit == "1" else f"[0-{int(digit) - 1}]"
            options.append(digits[:i] + lower + (rf"\d{{{rest}}}" if rest else ""))
    options.append(digits)
    return "0*(?:" + "|".join(options) + ")"


class BoundedIntConverter(IntegerConverter):
    """Flask's `int`, limited to the INTEGER column range.

    `/stories/99999999999999999999` must be a 404 like any unknown id, not a driver
    OverflowError (SQLite, beyond 64 bits) or NumericValueOutOfRange (PostgreSQL, beyond 32).
    Registered under the name "int", so every existing `<int:...>` rule is covered.
    """

    regex = at_most_regex(INT_MAX)

    def __init__(
        self,
        map: Map,  # noqa: A002 (Werkzeug's parameter names: rules pass them as keywords)
        fixed_digits: int = 0,
        min: int | None = INT_MIN,  # noqa: A002
        max: int | None = INT_MAX,  # noqa: A002
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_url_converters(app: Flask) -> None:
    """Must run before any blueprint is registered: a rule picks its converter when added."""
    app.url_map.converters["int"] = BoundedIntConverter
