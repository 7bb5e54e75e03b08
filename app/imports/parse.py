"""Reading a people CSV: encoding, delimiter, header aliases and one cleaned record per row.

Streaming on purpose: the file is read through a text wrapper, one row at a time, so a 20 MB
upload never sits in memory whole. Everything here is pure (no database): the plan (plan.py)
decides what each row means.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from email_validator import EmailNotValidError
from email_validator import validate_email

from app.directory import EMAIL_MAX
from app.directory import NAME_MAX
from app.errors import ValidationError
from app.models import User
from app.text import clean_text

MAX_ROWS = 100_000
TEAM_MAX = 80  # teams.name
_SNIFF_BYTES = 64 * 1024

# Normalised header (lower case, "_"/"-" as spaces, single spaces) -> field.
ALIASES = {
    "name": "name",
    "display name": "name",
    "displayname": "name",
    "full name": "name",
    "email": "email",
    "e mail": "email",
    "email address": "email",
    "e mail address": "email",
    "work email": "email",
    "mail": "email",
    "team": "team",
    "team name": "team",
    "manager email": "manager",
    "manager e mail": "manager",
    "manager email address": "manager",
    "manager": "manager",
    "role": "role",
}
REQUIRED = ("name", "email")
ARTICLES = {"name": "a name", "email": "an email"}
FIELDS = ("name", "email", "team", "manager", "role")


@dataclass(frozen=True, slots=True)
class Row:
    """One data row as typed in the file, cleaned. `line` is the row number people see in a
    spreadsheet (the header is row 1). Absent columns are None; present but blank cells ""."""

    line: int
    name: str
    email: str
    team: str | None
    manager: str | None
    role: str | None
    error: str | None = None  # why the row cannot be used on its own (bad email, too long...)


@dataclass(frozen=True)
class Columns:
    """Which field each column holds, and the file's headers we did not use (shown as a note)."""

    index: dict[str, int]
    ignored: tuple[str, ...]

    def has(self, field: str) -> bool:
        return field in self.index


def detect_encoding(path: Path) -> str:
    """"utf-8-sig" (a BOM), "utf-8" when every byte decodes, else "latin-1" (which always does:
    spreadsheets on older Windows save CSV in it). One streaming pass, in chunks."""
    with path.open("rb") as raw:
        first = raw.read(_SNIFF_BYTES)
        if first.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        return "utf-8" if reads_as_utf8(raw, first) else "latin-1"


def reads_as_utf8(raw: BinaryIO, first: bytes, chunk_size: int = _SNIFF_BYTES) -> bool:
    """Whether `first` and the rest of `raw` decode as UTF-8, streamed in chunks (a character
    split across two chunks is fine). Shared with the survey import (app/voice/files.py)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    chunk = first
    try:
        while chunk:
            decoder.decode(chunk)
            chunk = raw.read(chunk_size)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _header_key(text: str) -> str:
    return " ".join(re.sub(r"[_\-.]+", " ", clean_text(text, name=True).lower()).split())


def _delimiter(first_line: str) -> str:
    """";" when the header line has more of them than commas (European spreadsheets), else ","."""
    return ";" if first_line.count(";") > first_line.count(",") else ","


def read_columns(header: list[str]) -> Columns:
    index: dict[str, int] = {}
    ignored = []
    for position, title in enumerate(header):
        field = ALIASES.get(_header_key(title))
        if field is None:
            if title.strip():
                ignored.append(clean_text(title, name=True))
            continue
        if field in index:
            raise ValidationError(
                f"Two columns hold the {field}: {header[index[field]]!r} and {title!r}. "
                "Keep one of them."
            )
        index[field] = position
    missing = [f for f in REQUIRED if f not in index]
    if missing:
        titles = [repr(clean_text(h, name=True)[:40]) for h in header if h.strip()]
        found = ", ".join(titles[:12]) + (", ..." if len(titles) > 12 else "") or "none"
        raise ValidationError(
            f"The file needs {' and '.join(ARTICLES[f] for f in missing)} column (the first "
            "row names the "
            f"columns: name, email, team, manager email, role). Columns found: {found}."
        )
    return Columns(index, tuple(ignored))


def clean_email(value: str) -> tuple[str, str | None]:
    """The address as stored (User.normalize_email) and why it is not usable, if it is not."""
    email = User.normalize_email(clean_text(value))
    if not email:
        return email, "The email is missing."
    if len(email) > EMAIL_MAX:
        return email, f"The email is longer than {EMAIL_MAX} characters."
    local, _, domain = email.rpartition("@")
    if not (_LOCAL_RE.fullmatch(local) and len(local) <= 64 and _domain_ok(domain)):
        try:  # the rare address the fast path cannot vouch for: the full rules decide
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            return email, f"{email!r} is not a valid email address."
    return email, None


# A plain ASCII dot-atom local part (a subset of what email_validator accepts), and each domain
# checked once by email_validator: a file of 50,000 addresses has a handful of domains, and the
# full check costs ~50-500 µs an address.
_LOCAL_RE = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@functools.lru_cache(maxsize=1024)
def _domain_ok(domain: str) -> bool:
    try:
        validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _cell(cells: list[str], columns: Columns, field: str) -> str | None:
    position = columns.index.get(field)
    if position is None:
        return None
    return cells[position] if position < len(cells) else ""


def _row(line: int, cells: list[str], columns: Columns) -> Row:
    name = clean_text(_cell(cells, columns, "name"), name=True)
    email, error = clean_email(_cell(cells, columns, "email") or "")
    # Not interned: rows are staged and dropped, and churning the process-wide intern table
    # makes it rehash (a multi-MB allocation unrelated to the file).
    team = _cell(cells, columns, "team")
    team = None if team is None else clean_text(team, name=True)
    manager = _cell(cells, columns, "manager")
    manager = None if manager is None else User.normalize_email(clean_text(manager))
    manager_error = clean_email(manager)[1] if manager else None
    role = _cell(cells, columns, "role")
    role = None if role is None else clean_text(role).lower()
    if error is None:
        if not name:
            error = "The name is missing."
        elif len(name) > NAME_MAX:
            error = f"The name is longer than {NAME_MAX} characters."
        elif team and len(team) > TEAM_MAX:
            error = f"The team name is longer than {TEAM_MAX} characters."
        elif manager_error:
            error = f"The manager email {manager!r} is not a valid email address."
    return Row(line, name, email, team, manager, role, error)


@dataclass
class Reader:
    """The rows of one file; `columns` is known once iteration has started (the header)."""

    path: Path
    max_rows: int = MAX_ROWS
    columns: Columns | None = None
    encoding: str = ""
    delimiter: str = ","

    def __iter__(self) -> Iterator[Row]:
        self.encoding = detect_encoding(self.path)
        with self.path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding=self.encoding, newline="")
            first = text.readline()
            if not first.strip():
                raise ValidationError("The file is empty: the first row should name the columns.")
            if first.startswith(("PK\x03\x04", "\xd0\xcf\x11\xe0")):  # .xlsx / .xls
                raise ValidationError(
                    "This is a spreadsheet file, not CSV. Save it as CSV (File → Save as → "
                    "CSV UTF-8) and upload that."
                )
            self.delimiter = _delimiter(first)
            header = next(csv.reader([first], delimiter=self.delimiter))
            self.columns = read_columns(header)
            try:
                reader = csv.reader(text, delimiter=self.delimiter)
                count = 0
                # Row numbers as a spreadsheet shows them: the header is row 1.
                for line, cells in enumerate(reader, start=2):
                    if not any(c.strip() for c in cells):
                        continue  # blank lines (a trailing one, spacer rows) are not people
                    count += 1
                    if count > self.max_rows:
                        raise ValidationError(
                            f"The file has more than {self.max_rows:,} people. "
                            "Split it into several files."
                        )
                    yield _row(line, cells, self.columns)
            except csv.Error as error:
                raise ValidationError(
                    f"The file is not a readable CSV near line {reader.line_num + 1}: {error}."
                ) from None
