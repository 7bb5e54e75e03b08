"""Reading survey exports (app/voice/files.py), the presets and the cell rules of the import.

Pure functions on real files written here: encodings Excel and others write, delimiters, the
presets' header layouts (tests/data/voice_import/), scores and dates as tools write them.
"""

from __future__ import annotations

import codecs
import zipfile
from datetime import date
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from app.errors import ValidationError
from app.models import Scale
from app.voice import presets
from app.voice.files import MAX_COLUMNS
from app.voice.files import open_table
from app.voice.importing import parse_date
from app.voice.importing import parse_score
from app.voice.importing import read_layout

DATA = Path(__file__).parent / "data" / "voice_import"


def table_of(tmp_path: Path, data: bytes, name: str = "export.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return open_table(path)


def rows_of(tmp_path: Path, data: bytes) -> list[list]:
    return [cells for _n, cells in table_of(tmp_path, data).rows()]


# Encodings and delimiters ------------------------------------------------------------------
TEXT = "Comment;Score\r\nCafé crème, très bien €;10\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("cp1252"), "cp1252"),
        (TEXT.encode("utf-16"), "utf-16"),  # with its BOM, as Excel's "Unicode text"
        (TEXT.encode("utf-16-le"), "utf-16-le"),  # without one
    ],
    ids=["utf-8", "utf-8-bom", "windows-1252", "utf-16-bom", "utf-16-le-no-bom"],
)
def test_encodings_are_recognised(tmp_path, data, encoding):
    table = table_of(tmp_path, data)
    assert table.encoding == encoding
    assert rows_of(tmp_path, data) == [["Comment", "Score"], ["Café crème, très bien €", "10"]]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ('Comment,Score\n"Fast, friendly",10\n', ","),
        ("Comment;Score\nFast, friendly;10\n", ";"),
        ("Comment\tScore\nFast, friendly\t10\n", "\t"),
        ("Comment|Score\nFast, friendly|10\n", "|"),
        ("Comment\n\"Fast, friendly\"\n", ","),
    ],
    ids=["comma", "semicolon", "tab", "pipe", "one-column"],
)
def test_the_delimiter_is_sniffed(tmp_path, text, delimiter):
    table = table_of(tmp_path, text.encode())
    rows = [cells for _n, cells in table.rows()]
    assert table.delimiter == delimiter
    assert rows[1][0] == "Fast, friendly"


def test_excel_unicode_text_is_tab_separated_utf16(tmp_path):
    data = "Comment\tScore\r\nMerci à Zoë\t9\r\n".encode("utf-16")
    assert rows_of(tmp_path, data)[1] == ["Merci à Zoë", "9"]


def test_old_mac_line_endings_and_quoted_newlines(tmp_path):
    assert rows_of(tmp_path, b"A,B\r1,2\r3,4\r") == [["A", "B"], ["1", "2"], ["3", "4"]]
    rows = rows_of(tmp_path, b'A,B\n"line one\nline two",2\n3,4\n')
    assert rows[1] == ["line one\nline two", "2"] and rows[2] == ["3", "4"]


def test_a_long_first_line_beyond_the_sniffed_sample(tmp_path):
    cell = "x" * 70_000
    rows = rows_of(tmp_path, f"Comment,Score\n{cell},9\nshort,8\n".encode())
    assert rows[1] == [cell, "9"] and rows[2] == ["short", "8"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02\x03binary\x00\xff" * 100, "binary"),
        (b"A,B\n" + b"\x01\x02\x03\x04\x05\x06" * 400, "control characters"),
        (b'A,B\n"never closed,' + b"x" * 140_000 + b"\n", "longer than 131,072"),
        (b"PK\x03\x04garbage", "not a readable Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old Excel file"),
        (",".join(["c"] * (MAX_COLUMNS + 1)).encode(), "the limit is 1,000"),
        (b"A\n\x81\x8d\x8f\x90\x9d\n", "not readable as cp1252"),
    ],
    ids=["empty", "nul-bytes", "control-chars", "unclosed-quote", "fake-zip", "xls",
         "too-wide", "undecodable"],
)
def test_unreadable_files_say_why(tmp_path, data, message):
    with pytest.raises(ValidationError, match=message):
        rows_of(tmp_path, data)


def test_a_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ValidationError, match="not a readable Excel workbook"):
        open_table(path)


def test_xlsx_rows_keep_their_types_and_drop_trailing_blanks(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Comment", "Score", "When", None, None])
    sheet.append(["Great", 9, datetime(2026, 11, 2, 9, 30)])
    sheet.append(["=1+1", 4.0, 46330])
    path = tmp_path / "book.xlsx"
    book.save(path)
    table = open_table(path)
    assert table.kind == "xlsx"
    rows = [cells for _n, cells in table.rows()]
    assert rows[0] == ["Comment", "Score", "When"]
    assert rows[1] == ["Great", 9, datetime(2026, 11, 2, 9, 30)]
    assert rows[2][1] == 4 and rows[2][2] == 46330


# Presets -----------------------------------------------------------------------------------
def test_qualtrics_layout(tmp_path):
    table = open_table(DATA / "qualtrics.csv")
    head = table.head(6)
    preset = presets.detect(head)
    assert preset is presets.QUALTRICS and preset.rows_of_header(head) == 3
    layout = read_layout(table, 3, preset)
    chosen = preset.mapping(layout.usable)
    assert chosen == {"response_id": "ResponseId", "date": "RecordedDate",
                      "language": "UserLanguage", "score": "Q1", "text": "Q2", "team": "Q3"}
    # An Excel export has no ImportId row: two header rows.
    assert preset.rows_of_header(head[:2] + head[3:]) == 2


def test_surveymonkey_layout_names_columns_after_their_question():
    table = open_table(DATA / "surveymonkey.csv")
    preset = presets.detect(table.head(6))
    assert preset is presets.SURVEYMONKEY
    layout = read_layout(table, 2, preset)
    names = [c.name for c in layout.columns]
    assert names[0] == "Respondent ID"
    assert "Which store did you visit? — Store Lisbon" in names
    assert "Which store did you visit? — Other (please specify)" in names
    chosen = preset.mapping(layout.usable)
    assert chosen["score"].startswith("How likely is it that you would recommend")
    assert chosen["text"] == "What is the main reason for your score?"
    assert chosen["date"] == "End Date" and preset.dates == "mdy"


@pytest.mark.parametrize(("name", "scale"), [("delighted", None), ("typeform", Scale.NPS)])
def test_one_header_row_presets(name, scale):
    table = open_table(DATA / f"{name}.csv")
    preset = presets.detect(table.head(3))
    assert preset.slug == name
    layout = read_layout(table, 1, preset)
    chosen = preset.mapping(layout.usable)
    assert {"response_id", "score", "text", "date"} <= set(chosen)
    # Delighted's "Score" column does not say its scale; Typeform's NPS question does.
    assert presets.guess_scale(layout.usable, chosen["score"]) == scale


def test_a_plain_file_is_guessed_from_its_names():
    columns = [presets.Column(i, n, n) for i, n in enumerate(
        ["ID", "Submitted at", "NPS", "Feedback", "Store", "Touchpoint", "Locale", "Consent"])]
    assert presets.guess(columns) == {
        "response_id": "ID", "date": "Submitted at", "score": "NPS", "text": "Feedback",
        "team": "Store", "touchpoint": "Touchpoint", "language": "Locale", "consent": "Consent"}
    assert presets.guess_scale(columns, "NPS") == Scale.NPS


# Cells -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [("10", 10), ("10.0", 10), (" 9 ", 9), ("+7", 7), ("0", 0), ("10,0", 10), (10, 10),
     (9.0, 9), ("", None), (None, None), ("10 - Extremely likely", 10), ("-1", -1),
     (str(10**30), 10**30), ("٩", 9)],  # the range is services.check's
)
def test_scores_as_tools_write_them(value, expected):
    assert parse_score(value) == expected


@pytest.mark.parametrize("value", ["ten", "9.5", 9.5, float("nan"), float("inf"), True, "1e3",
                                   "½"])
def test_scores_that_are_not_whole_numbers(value):
    with pytest.raises(ValidationError, match="not a"):
        parse_score(value)


@pytest.mark.parametrize(
    ("value", "order", "expected"),
    [
        ("2026-11-02", "iso", date(2026, 11, 2)),
        ("2026-11-02 09:14:02", "mdy", date(2026, 11, 2)),  # ISO whatever the order
        ("2026-11-02T09:14:02Z", "iso", date(2026, 11, 2)),
        ("2026-11-02 09:14:02 -0800", "iso", date(2026, 11, 2)),
        ("11/02/2026 09:14:02 AM", "mdy", date(2026, 11, 2)),
        ("02/11/2026", "dmy", date(2026, 11, 2)),
        ("02.11.2026", "dmy", date(2026, 11, 2)),
        ("2/11/26", "dmy", date(2026, 11, 2)),
        (datetime(2026, 11, 2, 9, 30), "iso", date(2026, 11, 2)),
        (date(2026, 11, 2), "iso", date(2026, 11, 2)),
        (46328, "iso", date(2026, 11, 2)),  # an Excel serial day
        (46328.75, "iso", date(2026, 11, 2)),
        ("1793605442", "iso", date(2026, 11, 2)),  # a Unix timestamp (UTC)
    ],
)
def test_dates_as_tools_write_them(value, order, expected):
    assert parse_date(value, order) == expected


@pytest.mark.parametrize(
    ("value", "order"),
    [("13/04/2026", "mdy"), ("2026-02-30", "iso"), ("yesterday", "iso"), ("", "iso"),
     ("11/02/2026", "iso"), (10**12, "iso"), (-5, "iso"), (True, "iso")],
)
def test_dates_that_are_not_dates(value, order):
    with pytest.raises(ValidationError):
        parse_date(value, order)
