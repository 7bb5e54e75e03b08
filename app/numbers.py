"""Whole numbers from the outside world (URLs, query strings, forms, cursors), bounded.

Every id and counter column is an SQL INTEGER, which PostgreSQL stores in 32 bits (SQLite in
64). A number beyond the column's range is not merely "not found": the database driver refuses
to send it (OverflowError, NumericValueOutOfRange) and the request would end in a 500. So every
number the app accepts is parsed here, and anything outside the signed 32-bit range is treated
like any other unreadable value.
"""

from __future__ import annotations

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
# int() accepts "1_000" and surrounding spaces; a URL or form value is plain ASCII digits.
_MAX_DIGITS = len(str(INT_MAX)) + 1


def bounded_int(value: object, *, low: int = INT_MIN, high: int = INT_MAX) -> int:
    """`value` as an int within [low, high]; ValueError otherwise.

    Raising ValueError (not returning None) lets it serve unchanged as `request.args.get(...,
    type=bounded_int)` (which falls back to the default) and as a WTForms `coerce` (which turns
    it into a field error).
    """
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip() if value is not None else ""
        digits = text.removeprefix("-").removeprefix("+")
        if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_DIGITS:
            raise ValueError(f"not a whole number: {text[:20]!r}")
        number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{number} is out of range")
    return number


def positive_int(value: object) -> int:
    """An id or page number: 1 up to the column's maximum."""
    return bounded_int(value, low=1)


def optional_int(value: object) -> int | None:
    """Select-box coerce: "" / None / "None" mean "no choice"; other values must be in range."""
    if value in (None, "", "None"):
        return None
    return bounded_int(value)
