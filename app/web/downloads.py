"""Files people download to open in a spreadsheet: the one rule against formula injection, and
one way to write a CSV (UTF-8 with a byte-order mark and CRLF line ends, which Excel reads right).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from werkzeug.wrappers import Response

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> str:
    """`value` as text a spreadsheet shows and never runs (a team named "=HYPERLINK(...)" gets a
    leading quote); numbers, negative ones included, stay numbers."""
    text = str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def to_csv(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([spreadsheet_cell(h) for h in header])
    writer.writerows([spreadsheet_cell(c) for c in row] for row in rows)
    return "\ufeff" + buffer.getvalue()


def file_stem(name: str, fallback: str) -> str:
    """A download's name from a user's file name: ASCII letters, digits, - and _ only."""
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-"
                   for c in name.rsplit(".", 1)[0])
    return stem[:60].strip("-") or fallback


def csv_download(filename: str, header: Iterable[object],
                 rows: Iterable[Iterable[object]]) -> Response:
    """An attachment never stored by a browser or proxy cache (lists can hold personal data)."""
    return Response(to_csv(header, rows), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })
