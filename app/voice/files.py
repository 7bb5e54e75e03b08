"""Reading a survey export, CSV or XLSX, one row at a time (the file is never held whole).

CSV: the encoding is found from the bytes (a UTF-8 or UTF-16 byte order mark, as Excel writes
them; else UTF-8 when every byte decodes, else Windows-1252) and the delimiter from the first
lines (comma, semicolon, tab or pipe: the one that splits the first row into the most columns
and keeps the next rows the same width). XLSX: openpyxl's read-only mode, which streams the
first worksheet's XML instead of building it. Both yield `(row number, cells)`, numbered as a
spreadsheet shows them (1 is the first row, records not physical lines); XLSX cells keep their
types (numbers, datetimes), CSV cells are strings. Pure: no database, no Flask.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from openpyxl.utils import get_column_letter

from app.errors import ValidationError
from app.imports.parse import reads_as_utf8

MAX_COLUMNS = 1_000
HEAD_KEPT = 30  # rows kept by Table.head: the header rows (at most 5) and the samples after them
MAX_UNZIPPED = 1_000 * 1000 * 1000  # an XLSX's parts, uncompressed (a zip bomb is refused)
SNIFF_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
CSV_FIELD_LIMIT = csv.field_size_limit()
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary Excel format (and other OLE files)
CONTROL = {chr(c) for c in range(32)} - {"\t", "\n", "\r"}

Cells = list[Any]


def column_letter(index: int) -> str:
    """The spreadsheet's name of the 0-based column `index`: A, B, ..., Z, AA, ..."""
    return get_column_letter(index + 1)


def detect_encoding(path: Path) -> str:
    """The encoding of a CSV file, or ValidationError when it is not text."""
    with path.open("rb") as raw:
        first = raw.read(SNIFF_BYTES)
        if first.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"  # Excel's "Unicode text": the BOM says which byte order
        if b"\x00" in first:
            pairs = first[: len(first) // 2 * 2]
            if pairs and pairs[1::2].count(0) > len(pairs) * 0.4:
                return "utf-16-le"
            if pairs and pairs[0::2].count(0) > len(pairs) * 0.4:
                return "utf-16-be"
            raise ValidationError(
                "This file is not text: it holds binary data. Upload the survey export as "
                "CSV or XLSX."
            )
        if not reads_as_utf8(raw, first, SNIFF_BYTES):
            return "cp1252"  # what Excel on Windows writes for "CSV (Comma delimited)"
    return "utf-8"


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the first row into the most columns (ties: the first of
    DELIMITERS), counting only delimiters whose next rows keep that width."""
    lines = sample.splitlines(keepends=True)[:-1] or sample.splitlines(keepends=True)
    best, width = ",", 1
    for delimiter in DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO("".join(lines[:20])), delimiter=delimiter))
        except csv.Error:
            continue
        if not rows:
            continue
        first = len(rows[0])
        steady = all(len(row) == first for row in rows[1:5] if any(row))
        if first > width and (steady or len(rows) == 1):
            best, width = delimiter, first
    return best


@dataclass
class Table:
    """A stored export: `kind` is "csv" or "xlsx"; iterate `rows()` for its rows."""

    path: Path
    kind: str
    encoding: str = ""
    delimiter: str = ""
    _head: list[Cells] = field(default_factory=list, repr=False)
    _head_whole: bool = field(default=False, repr=False)  # the file has no more rows

    def rows(self) -> Iterator[tuple[int, Cells]]:
        reader = self._xlsx_rows() if self.kind == "xlsx" else self._csv_rows()
        for number, cells in reader:
            if len(cells) > MAX_COLUMNS:
                raise ValidationError(
                    f"Row {number} has {len(cells):,} columns; the limit is {MAX_COLUMNS:,}."
                )
            yield number, cells

    def head(self, count: int) -> list[Cells]:
        """The first `count` rows (blank ones included, so row numbers stay right). Read once
        per Table, at least HEAD_KEPT rows: a page asks several times, and opening an XLSX
        reads its whole shared-strings table each time."""
        if count > len(self._head) and not self._head_whole:
            wanted = max(count, HEAD_KEPT)
            self._head = []
            for _number, cells in self.rows():
                self._head.append(cells)
                if len(self._head) == wanted:
                    break
            self._head_whole = len(self._head) < wanted
        return self._head[:count]

    # CSV ------------------------------------------------------------------------------------
    def _csv_rows(self) -> Iterator[tuple[int, Cells]]:
        number = 0
        with self.path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding=self.encoding, newline="")
            try:
                sample = text.read(SNIFF_BYTES)
                bad = sum(sample.count(c) for c in CONTROL)
                if bad > max(8, len(sample) // 100):
                    raise ValidationError(
                        "This file is not readable text: it is full of control characters "
                        "(binary data?). Upload the survey export as CSV or XLSX."
                    )
                self.delimiter = sniff_delimiter(sample)
                rest = _chain(sample, text)
                for number, cells in enumerate(csv.reader(rest, delimiter=self.delimiter), 1):
                    yield number, cells
            except UnicodeDecodeError:
                raise ValidationError(
                    f"The file is not readable as {self.encoding} text. Save it from the "
                    "spreadsheet as “CSV UTF-8” and upload that."
                ) from None
            except csv.Error as error:
                where = f"row {number + 1}"
                if "field larger" in str(error):
                    raise ValidationError(
                        f"A cell in {where} is longer than {CSV_FIELD_LIMIT:,} characters "
                        "(an unclosed quote?)."
                    ) from None
                raise ValidationError(
                    f"The file is not readable CSV near {where}: {error}."
                ) from None

    # XLSX -----------------------------------------------------------------------------------
    def _xlsx_rows(self) -> Iterator[tuple[int, Cells]]:
        from openpyxl import load_workbook

        # A file object, not the path: openpyxl judges a path by its extension (ours is .data).
        with self.path.open("rb") as raw:
            try:
                workbook = load_workbook(raw, read_only=True, data_only=True)
            except Exception:  # openpyxl raises KeyError, ValueError, zip errors... for a bad file
                raise ValidationError(_NOT_XLSX) from None
            yield from self._sheet_rows(workbook)

    @staticmethod
    def _sheet_rows(workbook: Any) -> Iterator[tuple[int, Cells]]:
        try:
            sheets = workbook.worksheets
            if not sheets:
                raise ValidationError("The workbook has no worksheet.")
            try:
                for number, values in enumerate(sheets[0].iter_rows(values_only=True), 1):
                    cells = list(values)
                    while cells and cells[-1] is None:
                        cells.pop()
                    yield number, cells
            except ValidationError:
                raise
            except Exception:  # malformed sheet XML, a bad shared-string index...
                raise ValidationError(_NOT_XLSX) from None
        finally:
            workbook.close()


_NOT_XLSX = (
    "This is not a readable Excel workbook (.xlsx). Open it in the spreadsheet, save it again "
    "as .xlsx or as CSV UTF-8, and upload that."
)


def _chain(first: str, rest: io.TextIOWrapper) -> Iterator[str]:
    """The text already read for sniffing, then the rest of the file, line by line."""
    buffer = io.StringIO(first, newline="")
    tail = buffer.readlines()
    if tail and not tail[-1].endswith(("\n", "\r")):
        tail[-1] += rest.readline()
    yield from tail
    yield from rest


def open_table(path: Path) -> Table:
    """The export at `path`, its kind found from its first bytes (not its name)."""
    with path.open("rb") as raw:
        magic = raw.read(4)
    if not magic:
        raise ValidationError("The file is empty.")
    if magic == XLSX_MAGIC:
        _check_zip(path)
        return Table(path, "xlsx")
    if magic == XLS_MAGIC:
        raise ValidationError(
            "This is an old Excel file (.xls). Save it as .xlsx or as CSV UTF-8 and upload that."
        )
    return Table(path, "csv", encoding=detect_encoding(path))


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ValidationError(_NOT_XLSX) from None
    if "xl/workbook.xml" not in names:
        raise ValidationError(_NOT_XLSX)
    if unzipped > MAX_UNZIPPED:
        raise ValidationError(
            f"The workbook unpacks to more than {MAX_UNZIPPED / 1e9:g} GB. Export it as CSV."
        )
