"""Survey tools' export layouts (presets), and guessing a mapping from a file's column names.

A preset says how many header rows the tool writes, how its columns are named, which of them
hold the fields a verbatim needs, its date format and scale. Each one is written from the tool's
public documentation (cited on the preset); the columns whose names depend on the survey (the
question ids or texts) are found by `guess`, from the question text, like any other file.
Pure: no database. The mapping step shows what a preset chose, and the editor can change it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from app.models import QuoteSource
from app.models import Scale
from app.text import clean_text
from app.voice.files import Cells
from app.voice.files import column_letter

FIELDS = ("text", "score", "scale", "response_id", "date", "team", "touchpoint", "language",
          "consent")
FIELD_LABELS = {
    "text": "Comment",
    "score": "Score",
    "scale": "Scale (per row)",
    "response_id": "Response id",
    "date": "Date",
    "team": "Team",
    "touchpoint": "Touchpoint",
    "language": "Language",
    "consent": "Consent to quote",
}
DATE_ORDERS = {
    "iso": "Year first (2026-11-30), or spreadsheet dates",
    "mdy": "Month first (11/30/2026)",
    "dmy": "Day first (30/11/2026 or 30.11.2026)",
}
MAX_HEADER_ROWS = 5


@dataclass(frozen=True)
class Column:
    """One column of a file: its position, its name (what mappings remember) and its label
    (the question text, when the tool writes it in a header row of its own)."""

    index: int
    name: str
    label: str

    @property
    def letter(self) -> str:
        return column_letter(self.index)


def key(text: object) -> str:
    """A column name as compared: case, spacing, underscores and dashes ignored."""
    return " ".join(re.sub(r"[_\-]+", " ", clean_text(str(text or ""), name=True)).casefold()
                    .split())


def _text(cell: object) -> str:
    return clean_text("" if cell is None else str(cell), name=True)


def plain_columns(header: list[Cells]) -> list[Column]:
    """Names from the first header row (a blank one is called after its letter), labels from
    the second when there is one."""
    width = max((len(row) for row in header), default=0)
    columns = []
    for index in range(width):
        name = _text(header[0][index]) if index < len(header[0]) else ""
        label = ""
        if len(header) > 1 and index < len(header[1]):
            label = _text(header[1][index])
        name = name or f"Column {column_letter(index)}"
        columns.append(Column(index, name, label if label and not label.startswith("{") else name))
    return columns


def bottom_columns(header: list[Cells]) -> list[Column]:
    """Names from the last header row (rows above it are a title or a grouping), or from the
    nearest row above where that cell is blank."""
    width = max((len(row) for row in header), default=0)
    columns = []
    for index in range(width):
        cells = [_text(row[index]) for row in header if index < len(row)]
        name = next((c for c in reversed(cells) if c), "") or f"Column {column_letter(index)}"
        columns.append(Column(index, name, name))
    return columns


@dataclass(frozen=True)
class Preset:
    slug: str
    label: str
    source: str  # the documentation the layout is written from
    header_rows: int
    # field -> the column names the tool uses for it (compared with `key`), first found wins
    fields: dict[str, tuple[str, ...]]
    scale: Scale | None = Scale.NPS
    dates: str = "iso"
    channel: QuoteSource = QuoteSource.SURVEY
    signature: tuple[str, ...] = ()  # column names that, all present, say "this tool"
    columns: Callable[[list[Cells]], list[Column]] = plain_columns
    count_header_rows: Callable[[list[Cells]], int] | None = None
    survey_columns: Callable[[list[Column]], dict[str, str]] | None = None  # per survey
    notes: tuple[str, ...] = field(default=())

    def rows_of_header(self, head: list[Cells]) -> int:
        return self.count_header_rows(head) if self.count_header_rows else self.header_rows

    def matches(self, head: list[Cells]) -> bool:
        if not head or not self.signature:
            return False
        names = {key(c) for c in head[0]}
        return all(key(name) in names for name in self.signature)

    def mapping(self, columns: list[Column]) -> dict[str, str]:
        """Field -> column name: the tool's fixed columns, its survey-specific ones, then
        whatever `guess` finds for the fields still open."""
        by_key = {key(c.name): c.name for c in columns}
        chosen: dict[str, str] = {}
        for name, candidates in self.fields.items():
            for candidate in candidates:
                if key(candidate) in by_key:
                    chosen[name] = by_key[key(candidate)]
                    break
        if self.survey_columns:
            for name, column in self.survey_columns(columns).items():
                chosen.setdefault(name, column)
        for name, column in guess(columns).items():
            if column not in chosen.values():
                chosen.setdefault(name, column)
        return chosen


# Qualtrics --------------------------------------------------------------------------------
# "Understanding your dataset" (Qualtrics support, Data & Analysis → Export data):
# https://www.qualtrics.com/support/survey-platform/data-and-analysis-module/data/download-data/understanding-your-dataset/
# CSV and TSV exports have three header rows: 1. the field's internal id (StartDate, EndDate,
# Status, IPAddress, Progress, "Duration (in seconds)", Finished, RecordedDate, ResponseId,
# RecipientLastName, RecipientFirstName, RecipientEmail, ExternalReference,
# LocationLatitude, LocationLongitude, DistributionChannel, UserLanguage, then Q1, Q2, ... or
# the questions' export tags); 2. the question text ("Response ID", "How likely are you to
# recommend ...?"); 3. the ImportId JSON ({"ImportId":"_recordId"}, {"ImportId":"QID1"}).
# Dates are "YYYY-MM-DD HH:MM:SS". A Net Promoter Score question (support page "Net Promoter
# Score question") exports its 0-10 answer in the question's column (Q1) and the group in a
# second column, Q1_NPS_GROUP (1 detractor, 2 passive, 3 promoter): the score column is the one
# with such a sibling. Excel exports leave out the ImportId row (two header rows).
def _qualtrics_header_rows(head: list[Cells]) -> int:
    third = head[2] if len(head) > 2 else []
    first = next((_text(c) for c in third if _text(c)), "")
    return 3 if first.startswith('{"ImportId"') else 2


def _qualtrics_score(columns: list[Column]) -> dict[str, str]:
    names = {c.name for c in columns}
    for column in columns:
        if column.name.endswith("_NPS_GROUP"):
            score = column.name.removesuffix("_NPS_GROUP")
            if score in names:
                return {"score": score}
    return {}


QUALTRICS = Preset(
    slug="qualtrics",
    label="Qualtrics (CSV/TSV/Excel export)",
    source="https://www.qualtrics.com/support/survey-platform/data-and-analysis-module/data/"
           "download-data/understanding-your-dataset/",
    header_rows=3,
    fields={"response_id": ("ResponseId", "ResponseID"), "date": ("RecordedDate", "EndDate"),
            "language": ("UserLanguage",)},
    signature=("ResponseId", "RecordedDate"),
    count_header_rows=_qualtrics_header_rows,
    survey_columns=_qualtrics_score,
    notes=("Three header rows: internal ids, question text, ImportId (two in Excel exports).",
           "The score is the question with a …_NPS_GROUP column beside it."),
)


# SurveyMonkey -----------------------------------------------------------------------------
# "Exporting all responses data" (SurveyMonkey help center, Analyze Results → Save as →
# Export file → All responses data, CSV or XLS, "Expanded" columns):
# https://help.surveymonkey.com/en/surveymonkey/analyze/export-all-responses/
# Two header rows: 1. the respondent metadata names (Respondent ID, Collector ID, Start Date,
# End Date, IP Address, Email Address, First Name, Last Name, Custom Data 1) then each
# question's text, written once over all of the question's columns (the cells to its right
# are blank); 2. what each column holds: "Response" for a single answer (the 0-10 of an NPS
# question), "Open-Ended Response" for a comment box, else the answer choice or row label.
# Dates are the US "MM/DD/YYYY HH:MM:SS AM". A column is named after its question, plus the
# second-row label when that says more than "Response".
def _surveymonkey_columns(header: list[Cells]) -> list[Column]:
    top = header[0] if header else []
    sub = header[1] if len(header) > 1 else []
    width = max(len(top), len(sub))
    columns, question = [], ""
    for index in range(width):
        above = _text(top[index]) if index < len(top) else ""
        below = _text(sub[index]) if index < len(sub) else ""
        question = above or question
        generic = below.casefold() in ("", "response", "open-ended response")
        name = question if generic else f"{question} — {below}" if question else below
        name = name or f"Column {column_letter(index)}"
        columns.append(Column(index, name, name))
    return columns


SURVEYMONKEY = Preset(
    slug="surveymonkey",
    label="SurveyMonkey (all responses, expanded)",
    source="https://help.surveymonkey.com/en/surveymonkey/analyze/export-all-responses/",
    header_rows=2,
    fields={"response_id": ("Respondent ID",), "date": ("End Date", "Start Date")},
    dates="mdy",
    signature=("Respondent ID", "Collector ID"),
    columns=_surveymonkey_columns,
    notes=("Two header rows: the question, then “Response” / “Open-Ended Response” / the "
           "choice.", "Dates are month first (MM/DD/YYYY)."),
)


# Delighted --------------------------------------------------------------------------------
# Delighted's response export (Dashboard → Export → CSV) has one header row whose columns
# follow its survey response object (API docs, "Listing survey responses":
# https://app.delighted.com/docs/api/listing-survey-responses — id, score, comment,
# created_at, person properties): "Response ID", "Score", "Comment", "Response timestamp",
# then the person's email, name and properties. The scale is the survey type's (NPS by default;
# change it for a CSAT or CES survey).
DELIGHTED = Preset(
    slug="delighted",
    label="Delighted (CSV export)",
    source="https://app.delighted.com/docs/api/listing-survey-responses",
    header_rows=1,
    fields={"response_id": ("Response ID", "ID"), "score": ("Score",),
            "text": ("Comment",), "date": ("Response timestamp", "Created at", "Created"),
            "language": ("Locale",)},
    signature=("Response ID", "Score", "Comment"),
)


# Typeform ---------------------------------------------------------------------------------
# "Download your results as a file" (Typeform help center, Results → Responses → Download):
# https://www.typeform.com/help/a/download-your-results-as-a-file-360052330851/
# One header row: "#" (the response id), one column per question titled with its text, then
# "Start Date (UTC)", "Submit Date (UTC)" ("YYYY-MM-DD HH:MM:SS"), "Network ID" and tags.
TYPEFORM = Preset(
    slug="typeform",
    label="Typeform (CSV/XLSX download)",
    source="https://www.typeform.com/help/a/download-your-results-as-a-file-360052330851/",
    header_rows=1,
    fields={"response_id": ("#", "Response ID"),
            "date": ("Submit Date (UTC)", "Submitted At", "Start Date (UTC)")},
    signature=("#", "Submit Date (UTC)"),
)

PRESETS = {p.slug: p for p in (QUALTRICS, SURVEYMONKEY, DELIGHTED, TYPEFORM)}

# A plain file: one header row, columns found by their names.
GENERIC = Preset(slug="", label="Columns named in the header row", source="", header_rows=1,
                 fields={}, scale=None, columns=bottom_columns)


def get_preset(slug: str | None) -> Preset | None:
    return PRESETS.get(slug or "")


def detect(head: list[Cells]) -> Preset:
    """The preset whose signature the first row carries, else GENERIC."""
    return next((p for p in PRESETS.values() if p.matches(head)), GENERIC)


# Guessing from names ----------------------------------------------------------------------
_EXACT = {
    "response_id": ("response id", "responseid", "respondent id", "id", "#", "submission id",
                    "response token", "token", "record id"),
    "date": ("date", "recorded date", "recordeddate", "submitted at", "submit date",
             "submit date (utc)", "end date", "enddate", "response date", "created",
             "created at", "timestamp", "response timestamp", "date submitted", "completed at"),
    "score": ("score", "nps", "nps score", "rating", "likelihood to recommend", "ltr", "csat",
              "csat score", "ces", "ces score"),
    "text": ("comment", "comments", "feedback", "verbatim", "text", "why", "reason", "remarks",
             "review", "open ended response", "customer comment"),
    "team": ("team", "team name", "store", "branch", "site"),
    "touchpoint": ("touchpoint", "touch point", "touchpoint name"),
    "language": ("language", "lang", "locale", "userlanguage", "user language"),
    "consent": ("consent", "permission", "may we quote you", "ok to quote", "ok to share",
                "permission to share", "consent to share"),
    "scale": ("scale", "survey type"),
}
_CONTAINS = {
    "score": ("recommend", "how likely", "how satisfied", "how easy"),
    "text": ("reason for your score", "why did you", "tell us", "comment", "feedback",
             "anything else", "what could we"),
    "consent": ("consent", "permission to quote", "may we quote"),
}


def guess(columns: list[Column]) -> dict[str, str]:
    """Field -> column name, from the names (exact) then the question texts (a phrase), each
    column used once, the first column winning."""
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for field_name in FIELDS:
        exact = set(_EXACT.get(field_name, ()))
        phrases = _CONTAINS.get(field_name, ())
        found = next((c for c in columns if c.name not in used and (
            key(c.name) in exact or key(c.label) in exact)), None)
        if found is None and phrases:
            found = next((c for c in columns if c.name not in used and any(
                p in key(c.label) or p in key(c.name) for p in phrases)), None)
        if found is not None:
            chosen[field_name] = found.name
            used.add(found.name)
    return chosen


def guess_scale(columns: list[Column], score_column: str | None) -> Scale | None:
    """The scale a score column's name or question suggests (None: the editor chooses)."""
    column = next((c for c in columns if c.name == score_column), None)
    if column is None:
        return None
    words = f"{key(column.name)} {key(column.label)}"
    if "recommend" in words or "nps" in words:
        return Scale.NPS
    if "satisf" in words or "csat" in words:
        return Scale.CSAT
    if "easy" in words or "effort" in words or "ces" in words.split():
        return Scale.CES
    return None
