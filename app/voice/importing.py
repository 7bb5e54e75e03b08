"""Importing a survey export: the stored upload, its columns and mapping, the dry run, the apply.

The upload is kept as UPLOAD_DIR/voice_imports/<token>.data with <token>.json beside it (name,
size, checksum, kind, the chosen source and, once mapped, the mapping) for a day. The dry run
(`build_plan`) and the apply (`run_import`, which `flask voice import` calls too) read the file
the same way, one row at a time: each row becomes an `Incoming` through the mapping, goes
through `services.check` (team and touchpoint names through `Lookups`), then the import's
filter decides whether it is kept whole, kept for its score only (status filtered, no text:
the insights' NPS counts every response) or skipped (filtered out and without a score).

De-duplication is by response id per source (a row without one gets a fingerprint of its mapped
cells as its id): in the dry run a TEMPORARY staging table of the rows' ids and kinds finds the
ids already stored and those repeated in the file; the apply relies on `services.insert_rows`
(INSERT ... ON CONFLICT DO NOTHING), in batches, so importing the same file again adds nothing.
Memory does not grow with the file (bench/voice_import.py measures it).

The apply writes everything in the caller's transaction and refuses (rolled back) when the file
changed since the preview (checksum) or the outcome would differ from what the editor saw (the
plan's fingerprint: counts and every row error); rows with errors are skipped only when the
editor said so, otherwise nothing is imported.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from app import audit
from app.errors import Conflict
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db
from app.imports.plan import Sample
from app.imports.services import copy_limited
from app.imports.services import file_checksum
from app.models import Band
from app.models import Origin
from app.models import QuoteSource
from app.models import Scale
from app.models import User
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import VoiceImport
from app.models import VoiceMapping
from app.models import VoiceSource
from app.models import utcnow
from app.text import clean_text
from app.voice import services
from app.voice.files import Cells
from app.voice.files import Table
from app.voice.files import open_table
from app.voice.presets import DATE_ORDERS
from app.voice.presets import FIELD_LABELS
from app.voice.presets import FIELDS
from app.voice.presets import GENERIC
from app.voice.presets import MAX_HEADER_ROWS
from app.voice.presets import Column
from app.voice.presets import Preset
from app.voice.presets import detect
from app.voice.presets import get_preset
from app.voice.presets import guess_scale
from app.voice.redact import Redactor
from app.voice.redact import current_redactor
from app.voice.scores import band
from app.voice.sources import new_source

KEEP_SECONDS = 24 * 3600
MAX_ROWS = 250_000
BATCH = 1_000  # rows per insert_rows / staging executemany
SAMPLES = 3
QUOTED_MAX = 40  # characters of a cell a row error repeats
MAPPING_NAME_MAX = 80
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")
# A cell a spreadsheet would run: =HYPERLINK(...), =cmd|' /C calc'!A0, =SUM(...)
_FORMULA_RE = re.compile(r"^\s*=\s*[A-Za-z_][A-Za-z0-9_.]*\s*[(|!]")
_WHOLE_RE = re.compile(r"^[+-]?\d+(?:[.,]0*)?$")
_LABELLED_RE = re.compile(r"^(\d{1,2})\s*[-–—:]\s*\D")  # "10 - Extremely likely"
_ISO_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[ T])")
_SLASHED_RE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(?:$|[ T,])")
EXCEL_EPOCH = date(1899, 12, 30)
SCALES = {
    "nps": Scale.NPS, "net promoter": Scale.NPS, "net promoter score": Scale.NPS,
    "csat": Scale.CSAT, "satisfaction": Scale.CSAT, "customer satisfaction": Scale.CSAT,
    "ces": Scale.CES, "effort": Scale.CES, "customer effort": Scale.CES,
}
YES = {"yes", "y", "true", "1", "x", "✓", "✔", "agree", "i agree", "agreed", "opt in", "opt-in",
       "opted in", "granted", "consent", "ok", "oui", "ja", "sí", "si"}

_meta = sa.MetaData()
STAGE = sa.Table(
    "voice_import_stage",
    _meta,
    sa.Column("line", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("response_id", sa.Text),
    sa.Column("kind", sa.Text, nullable=False),  # new / score / skip / error, then dup_*
    sa.Column("error", sa.Text),
    sa.Index("voice_import_stage_response", "response_id"),
    prefixes=["TEMPORARY"],
)
S = STAGE.c
KEPT_KINDS = ("new", "score")


# The stored upload -------------------------------------------------------------------------
@dataclass(frozen=True)
class Upload:
    token: str
    path: Path
    filename: str
    size: int
    sha256: str
    kind: str
    uploaded_at: float
    source_id: int
    start: str = ""  # "preset:<slug>", "mapping:<id>" or "" (guess from the file)
    mapping: dict[str, Any] | None = None  # Mapping.to_json() once the columns are mapped

    def table(self) -> Table:
        return open_table(self.path)


def _folder() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "voice_imports"


def purge_expired(now: float | None = None) -> int:
    """Delete uploads more than a day old (abandoned imports); returns how many."""
    now = time.time() if now is None else now
    folder = _folder()
    removed = 0
    for item in folder.iterdir() if folder.is_dir() else ():
        if now - item.stat().st_mtime > KEEP_SECONDS:
            item.unlink(missing_ok=True)
            removed += item.suffix == ".data"
    return removed


def store_upload(stream: BinaryIO, filename: str, *, source: VoiceSource,
                 start: str = "") -> Upload:
    """Copy the upload to disk (refusing more than VOICE_IMPORT_MAX_BYTES), checksum it, and
    read its first rows, so a file that is not a readable export is refused at once."""
    limit = current_app.config["VOICE_IMPORT_MAX_BYTES"]
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    purge_expired()
    token = secrets.token_urlsafe(18)
    path = folder / f"{token}.data"
    copied = copy_limited(stream, path, limit)
    if copied is None:
        raise ValidationError(
            f"The file is larger than {limit / 1_000_000:g} MB. Export fewer responses at a "
            "time (a date range) and import each file."
        )
    size, sha256 = copied
    try:
        if size == 0:
            raise ValidationError("The file is empty.")
        table = open_table(path)
        if not any(_filled(cells) for cells in table.head(2)[1:]):
            raise ValidationError(
                "The file has a header row but no responses below it."
                if table.head(1) else "The file is empty."
            )
    except ValidationError:
        path.unlink(missing_ok=True)
        raise
    upload = Upload(token, path, clean_text(filename, name=True)[:200] or "responses",
                    size, sha256, table.kind, time.time(), source.id, start)
    _save_meta(upload)
    return upload


def _save_meta(upload: Upload) -> None:
    meta = {**asdict(upload), "path": None}
    upload.path.with_suffix(".json").write_text(json.dumps(meta))


def get_upload(token: str) -> Upload:
    """The stored upload for `token`, or NotFound (unknown, applied, or more than a day old)."""
    gone = "This import is not available any more. Upload the file again."
    if not _TOKEN_RE.fullmatch(token or ""):
        raise NotFound(gone)
    path = _folder() / f"{token}.data"
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        raise NotFound(gone) from None
    if time.time() - meta["uploaded_at"] > KEEP_SECONDS or not path.is_file():
        discard(token)
        raise NotFound("This upload is more than a day old. Upload the file again.")
    return Upload(**{**meta, "path": path})


def discard(token: str) -> None:
    for suffix in (".data", ".json"):
        (_folder() / f"{token}{suffix}").unlink(missing_ok=True)


# Sources -----------------------------------------------------------------------------------
def import_sources() -> list[VoiceSource]:
    """The sources a file can be imported into: active, of origin import, by name."""
    return list(db.session.scalars(
        sa.select(VoiceSource).where(VoiceSource.origin == Origin.IMPORT,
                                     VoiceSource.is_active.is_(True))
        .order_by(VoiceSource.name)))


def import_source(source_id: int | None) -> VoiceSource:
    source = db.session.get(VoiceSource, source_id) if source_id else None
    if source is None or source.origin != Origin.IMPORT or not source.is_active:
        raise NotFound("Choose the source these responses come from.")
    return source


def create_import_source(name: str, channel: QuoteSource, *, actor: User | None) -> VoiceSource:
    """A new source of origin import (named on the upload page, e.g. "Qualtrics NPS Q4")."""
    same = db.session.scalar(sa.select(VoiceSource).where(
        sa.func.lower(VoiceSource.name) == clean_text(name, name=True).lower()))
    if same is not None:
        raise ValidationError(f"A source called “{same.name}” exists already: choose it.")
    return new_source(name, Origin.IMPORT, channel, actor=actor,
                      unnamed="Name the new source, e.g. “Qualtrics NPS Q4”.")


# Columns and mapping -----------------------------------------------------------------------
@dataclass(frozen=True)
class Mapping:
    """Which column holds each field (by name), the scale when it is the same for every row,
    how many header rows the file has, the date order, and the preset whose layout it uses."""

    columns: dict[str, str]
    scale: Scale | None = None
    header_rows: int = 1
    dates: str = "iso"
    preset: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"columns": dict(self.columns), "scale": self.scale.value if self.scale else None,
                "header_rows": self.header_rows, "dates": self.dates, "preset": self.preset}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mapping:
        return cls(
            columns={k: v for k, v in (data.get("columns") or {}).items() if k in FIELDS and v},
            scale=Scale(data["scale"]) if data.get("scale") else None,
            header_rows=int(data.get("header_rows") or 1),
            dates=data.get("dates") if data.get("dates") in DATE_ORDERS else "iso",
            preset=data.get("preset") or "",
        )

    @classmethod
    def from_saved(cls, saved: VoiceMapping) -> Mapping:
        # VoiceMapping.columns: {field: column, ..., "header_rows": n, "dates": ..., "preset": ...}
        stored = dict(saved.columns or {})
        options = {k: stored.pop(k, None) for k in ("header_rows", "dates", "preset")}
        return cls.from_json({"columns": stored, "scale": saved.scale and saved.scale.value,
                              **options})

    def stored_columns(self) -> dict[str, Any]:
        return {**self.columns, "header_rows": self.header_rows, "dates": self.dates,
                "preset": self.preset}

    def layout_preset(self) -> Preset:
        return get_preset(self.preset) or GENERIC

    def describe(self) -> str:
        parts = [f"{FIELD_LABELS[f]} ← {c}" for f, c in self.columns.items()]
        if self.scale:
            parts.append(f"scale {self.scale.label}")
        return "; ".join(parts)


@dataclass
class Layout:
    """A file's columns under a number of header rows, with a few values of each."""

    header_rows: int
    columns: list[Column]
    samples: dict[int, list[str]]
    duplicates: dict[str, list[str]]  # a name several columns share -> their letters
    has_data: bool

    @property
    def usable(self) -> list[Column]:
        return [c for c in self.columns if c.name not in self.duplicates]

    def index(self) -> dict[str, int]:
        return {c.name: c.index for c in self.usable}

    @property
    def duplicates_text(self) -> str:
        return "; ".join(f"“{name}” (columns {', '.join(letters)})"
                         for name, letters in self.duplicates.items())


def _filled(cells: Cells) -> bool:
    return any(c is not None and str(c).strip() for c in cells)


def _shown(value: str) -> str:
    text = clean_text(value, name=True)
    return text if len(text) <= 60 else text[:59] + "…"


def read_layout(table: Table, header_rows: int, preset: Preset, *,
                redactor: Redactor | None = None) -> Layout:
    """The columns named by the first `header_rows` rows (as `preset` names them), and up to
    SAMPLES values of each from the next 20 rows: redacted by `redactor` when they are shown
    (a comment or an "Email Address" column holds customers' personal data)."""
    head = table.head(header_rows + 20)
    header = head[:header_rows]
    if not header:
        raise ValidationError("The file is empty.")
    columns = preset.columns(header)
    samples: dict[int, list[str]] = {c.index: [] for c in columns}
    body = [cells for cells in head[header_rows:] if _filled(cells)]
    for cells in body:
        for column in columns:
            value = cells[column.index] if column.index < len(cells) else None
            kept = samples[column.index]
            if len(kept) < SAMPLES and value is not None and str(value).strip():
                text = _as_text(value)  # redacted whole: a cut could split an address
                kept.append(_shown(redactor.redact(text)[0] if redactor else text))
    seen: dict[str, list[str]] = {}
    for column in columns:
        seen.setdefault(column.name, []).append(column.letter)
    duplicates = {name: letters for name, letters in seen.items() if len(letters) > 1}
    return Layout(header_rows, columns, samples, duplicates, bool(body))


def head_of(table: Table) -> list[Cells]:
    return table.head(MAX_HEADER_ROWS + 1)


def start_mapping(table: Table, start: str) -> tuple[Mapping, list[str]]:
    """The mapping the mapping step begins with, from the upload's start choice: a preset, a
    saved mapping, or the file itself (a preset's signature, else its column names); and notes
    about what it could not carry over."""
    notes: list[str] = []
    kind, _, value = start.partition(":")
    if kind == "mapping":
        saved = db.session.get(VoiceMapping, int(value)) if value.isdigit() else None
        if saved is not None:
            mapping = Mapping.from_saved(saved)
            layout = read_layout(table, mapping.header_rows, mapping.layout_preset())
            names = {c.name for c in layout.usable}
            missing = [c for c in mapping.columns.values() if c not in names]
            if missing:
                notes.append(f"The mapping “{saved.name}” names columns this file does not "
                             f"have: {', '.join(missing)}. Choose them again.")
            kept = {f: c for f, c in mapping.columns.items() if c in names}
            return replace(mapping, columns=kept), notes
        notes.append("That saved mapping no longer exists; the columns were guessed instead.")
    head = head_of(table)
    preset = get_preset(value) if kind == "preset" else None
    preset = preset or detect(head)
    if kind != "preset" and preset is not GENERIC:
        notes.append(f"This looks like a {preset.label} file: its layout was applied.")
    rows = max(1, min(preset.rows_of_header(head), MAX_HEADER_ROWS))
    layout = read_layout(table, rows, preset)
    columns = preset.mapping(layout.usable)
    scale = preset.scale or guess_scale(layout.usable, columns.get("score"))
    return Mapping(columns, scale, rows, preset.dates, preset.slug), notes


def with_header_rows(table: Table, mapping: Mapping, header_rows: int) -> Mapping:
    """`mapping` for the same file read with another number of header rows: the columns it
    names that still exist are kept, the other fields guessed again."""
    preset = mapping.layout_preset()
    layout = read_layout(table, header_rows, preset)
    names = {c.name for c in layout.usable}
    columns = {f: c for f, c in mapping.columns.items() if c in names}
    for field_name, column in preset.mapping(layout.usable).items():
        if field_name not in columns and column not in columns.values():
            columns[field_name] = column
    scale = mapping.scale or guess_scale(layout.usable, columns.get("score"))
    return replace(mapping, columns=columns, header_rows=header_rows, scale=scale)


def check_mapping(mapping: Mapping, layout: Layout) -> None:
    """A mapping this file can be read with, or ValidationError with `errors` per field."""
    errors: dict[str, str] = {}
    names = layout.index()
    for field_name, column in mapping.columns.items():
        if column in layout.duplicates:
            letters = ", ".join(layout.duplicates[column])
            errors[field_name] = (f"Several columns are called “{column}” (columns {letters}); "
                                  "rename one in the file.")
        elif column not in names:
            errors[field_name] = f"The file has no column “{column}”."
    if "text" not in mapping.columns and "score" not in mapping.columns:
        errors["text"] = "Choose the column with the comment, the score, or both."
    if "score" in mapping.columns and mapping.scale is None and "scale" not in mapping.columns:
        errors["fixed_scale"] = "Say which scale the scores are on (or which column says it)."
    if not layout.has_data:
        raise ValidationError(f"The file has no responses below its {layout.header_rows} "
                              f"header row{'s' if layout.header_rows > 1 else ''}.")
    if errors:
        error = ValidationError(" ".join(errors.values()))
        error.errors = errors  # type: ignore[attr-defined]
        raise error


def save_mapping(name: str, mapping: Mapping, *, actor: User | None) -> VoiceMapping:
    """Remember `mapping` as `name`; an existing mapping of that name is updated."""
    name = clean_text(name, name=True)
    if len(name) > MAPPING_NAME_MAX:
        raise ValidationError(f"The mapping name is longer than {MAPPING_NAME_MAX} characters.")
    saved = db.session.scalar(sa.select(VoiceMapping).where(
        sa.func.lower(VoiceMapping.name) == name.lower()))
    if saved is None:
        saved = VoiceMapping(name=name, created_by_id=actor.id if actor else None)
        db.session.add(saved)
    saved.columns = mapping.stored_columns()
    saved.scale = mapping.scale
    db.session.flush()
    audit.record(actor, "voice.mapping_save", saved, name=saved.name)
    return saved


def saved_mappings() -> list[VoiceMapping]:
    return list(db.session.scalars(sa.select(VoiceMapping).order_by(VoiceMapping.name)))


def find_mapping(name: str) -> Mapping:
    saved = db.session.scalar(sa.select(VoiceMapping).where(
        sa.func.lower(VoiceMapping.name) == clean_text(name, name=True).lower()))
    if saved is None:
        raise NotFound(f"There is no saved mapping called “{name}”.")
    return Mapping.from_saved(saved)


def set_mapping(upload: Upload, mapping: Mapping) -> Upload:
    """The upload with its mapping remembered (the preview and the apply read it)."""
    updated = replace(upload, mapping=mapping.to_json())
    _save_meta(updated)
    return updated


# Reading rows ------------------------------------------------------------------------------
def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _quoted(text: str) -> str:
    """A cell named in a row error: quoted when short; a long one is likely a comment in the
    wrong column, so only its length is said (what it says is redacted nowhere else)."""
    return f"“{text}”" if len(text) <= QUOTED_MAX else f"(a {len(text):,}-character text)"


def parse_score(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(f"The score “{value}” is not a number.")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValidationError(f"The score {value:g} is not a whole number.")
    text = clean_text(str(value), name=True)
    if not text:
        return None
    if _WHOLE_RE.match(text):
        return int(re.split(r"[.,]", text)[0])
    labelled = _LABELLED_RE.match(text)
    if labelled:
        return int(labelled.group(1))
    raise ValidationError(f"The score {_quoted(text)} is not a whole number.")


def parse_date(value: Any, order: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and 1 <= value < 2_958_466:  # Excel serial days
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise ValidationError(f"The date {value} is not a date.")
    text = clean_text(str(value or ""), name=True)
    if not text:
        raise ValidationError("The date is missing.")
    try:
        iso = _ISO_RE.match(text)
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        slashed = _SLASHED_RE.match(text)
        if slashed and order in ("mdy", "dmy"):
            first, second, year = int(slashed[1]), int(slashed[2]), int(slashed[3])
            year += 2000 if year < 100 else 0
            month, day = (first, second) if order == "mdy" else (second, first)
            return date(year, month, day)
        if text.isdigit() and len(text) == 10:  # a Unix timestamp
            return datetime.fromtimestamp(int(text), tz=UTC).date()
    except (ValueError, OverflowError):
        pass
    hint = {"iso": "year first, 2026-11-30", "mdy": "month first, 11/30/2026",
            "dmy": "day first, 30/11/2026"}[order]
    raise ValidationError(f"The date {_quoted(text)} is not a date ({hint}).")


def _parse_scale(value: Any, default: Scale | None) -> Scale | None:
    text = clean_text(_as_text(value), name=True).casefold()
    if not text:
        return default
    if text not in SCALES:
        raise ValidationError(f"The scale {_quoted(text)} is not NPS, CSAT or CES.")
    return SCALES[text]


class Rows:
    """The data rows of `table` as `Incoming` items through `mapping`: yields
    (row number, item, None) or (row number, None, the reason the row cannot be imported)."""

    def __init__(self, table: Table, mapping: Mapping, *, max_rows: int = MAX_ROWS) -> None:
        self.table = table
        self.mapping = mapping
        self.max_rows = max_rows
        self.layout = read_layout(table, mapping.header_rows, mapping.layout_preset())
        check_mapping(mapping, self.layout)
        index = self.layout.index()
        self.at = {f: index[c] for f, c in mapping.columns.items()}
        self.lookups = services.Lookups()
        self.redactor = current_redactor()
        self.today = utcnow().date()

    def __iter__(self) -> Iterator[tuple[int, services.Incoming | None, str | None]]:
        count = 0
        for line, cells in self.table.rows():
            if line <= self.mapping.header_rows or not _filled(cells):
                continue
            count += 1
            if count > self.max_rows:
                raise ValidationError(f"The file has more than {self.max_rows:,} responses. "
                                      "Export a shorter date range and import each file.")
            try:
                item = services.check(self._incoming(cells), today=self.today)
            except ValidationError as error:
                # Messages repeat cells (a team's name, a score): customers' data stays out.
                yield line, None, self.redactor.redact(error.message)[0]
                continue
            yield line, item, None

    def _cell(self, cells: Cells, name: str) -> Any:
        position = self.at.get(name)
        if position is None or position >= len(cells):
            return None
        value = cells[position]
        return value.strip() if isinstance(value, str) else value

    def _incoming(self, cells: Cells) -> services.Incoming:
        text = _as_text(self._cell(cells, "text")) or None
        if text and _FORMULA_RE.match(text):
            raise ValidationError(
                "The comment looks like a spreadsheet formula (it starts with “=”); it is not "
                "imported. Check the export, or remove the “=” if it is really the comment."
            )
        score = parse_score(self._cell(cells, "score"))
        scale = _parse_scale(self._cell(cells, "scale"), self.mapping.scale)
        if "date" in self.at:
            received = parse_date(self._cell(cells, "date"), self.mapping.dates)
        else:
            received = self.today
        response_id = _as_text(self._cell(cells, "response_id")) or self._fingerprint(cells)
        consent = clean_text(_as_text(self._cell(cells, "consent")), name=True).casefold()
        return services.Incoming(
            received_on=received,
            text=text,
            scale=scale if score is not None else None,
            score=score,
            response_id=response_id,
            team_id=self.lookups.team(_as_text(self._cell(cells, "team"))),
            touchpoint_id=self.lookups.touchpoint(_as_text(self._cell(cells, "touchpoint"))),
            language=_as_text(self._cell(cells, "language")) or None,
            consent=consent in YES,
        )

    def _fingerprint(self, cells: Cells) -> str:
        """A response id for a file without one: the mapped cells, hashed. The same row in the
        same file gets the same id, so importing it again adds nothing."""
        values = [_as_text(self._cell(cells, f)) for f in FIELDS if f in self.at]
        return "row-" + hashlib.sha256(json.dumps(values).encode()).hexdigest()[:40]


# The import's filter -----------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    only_promoters: bool = False
    only_with_text: bool = False

    def kind(self, item: services.Incoming) -> str:
        """"new" (kept whole), "score" (kept for its score only) or "skip" (not stored)."""
        passes = (not self.only_promoters or band(item.scale, item.score) == Band.PROMOTER) and (
            not self.only_with_text or item.text is not None)
        if passes and item.text is not None:
            return "new"
        # A score without a comment has nothing to curate: it counts in the figures only.
        return "score" if item.score is not None else "skip"

    def describe(self) -> str:
        parts = [name for on, name in ((self.only_promoters, "only promoters"),
                                       (self.only_with_text, "only comments with text")) if on]
        return " and ".join(parts) or "none"


# The dry run -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


@dataclass
class Plan:
    """What importing the file would do: counts, the first row errors, and a fingerprint."""

    rows: int = 0
    new: int = 0
    scored_only: int = 0  # kept for the score only (the filter left out the comment)
    skipped: int = 0  # filtered out and without a score: not stored at all
    duplicates_db: int = 0
    duplicates_file: int = 0
    errors: Sample = field(default_factory=Sample)
    fingerprint: str = ""

    @property
    def duplicates(self) -> int:
        return self.duplicates_db + self.duplicates_file

    @property
    def adds(self) -> int:
        return self.new + self.scored_only

    def summary(self) -> str:
        text = (f"{self.rows:,} rows: {self.new:,} new, {self.duplicates:,} already imported, "
                f"{len(self.errors):,} with errors")
        if self.scored_only or self.skipped:
            text += (f"; {self.scored_only:,} kept for their score only (no comment, or left "
                     f"out by the filter) and {self.skipped:,} left out")
        return text + "."


def _fingerprint(context: dict[str, Any], rows: int, errors: str, skipped: int, new: int,
                 scored_only: int, duplicates: int) -> str:
    body = json.dumps([context, rows, errors, skipped, new, scored_only, duplicates],
                      sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _context(sha256: str, source: VoiceSource, mapping: Mapping, filters: Filters) -> dict:
    return {"file": sha256, "source": source.id, "mapping": mapping.to_json(),
            "filters": asdict(filters)}


def build_plan(table: Table, *, sha256: str, source: VoiceSource, mapping: Mapping,
               filters: Filters) -> Plan:
    """The dry run: reads the database only (and a TEMPORARY table on its connection). A file
    that cannot be read at all is a ValidationError; row problems are `plan.errors`."""
    plan = Plan()
    connection = db.session.connection()
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE.name}")
    STAGE.create(connection)
    errors = hashlib.sha256()
    batch: list[dict[str, Any]] = []
    for line, item, reason in Rows(table, mapping):
        plan.rows += 1
        if item is None:
            plan.errors.keep(RowError(line, reason or ""))
            errors.update(f"{line}\x1f{reason}\n".encode())
            batch.append({"line": line, "response_id": None, "kind": "error", "error": reason})
        else:
            batch.append({"line": line, "response_id": item.response_id,
                          "kind": filters.kind(item), "error": None})
        if len(batch) == BATCH:
            db.session.execute(sa.insert(STAGE), batch)
            batch = []
    if batch:
        db.session.execute(sa.insert(STAGE), batch)

    earlier = STAGE.alias("earlier")
    db.session.execute(sa.update(STAGE).where(S.kind.in_(KEPT_KINDS), sa.exists().where(
        earlier.c.response_id == S.response_id, earlier.c.line < S.line,
        earlier.c.kind.in_((*KEPT_KINDS, "dup_file")))).values(kind="dup_file"))
    stored = Verbatim.__table__.c
    db.session.execute(sa.update(STAGE).where(S.kind.in_(KEPT_KINDS), sa.exists().where(
        stored.source_id == source.id, stored.response_id == S.response_id))
        .values(kind="dup_db"))
    counts = dict(db.session.execute(sa.select(S.kind, sa.func.count()).group_by(S.kind)).all())
    plan.new, plan.scored_only = counts.get("new", 0), counts.get("score", 0)
    plan.skipped = counts.get("skip", 0)
    plan.duplicates_file, plan.duplicates_db = counts.get("dup_file", 0), counts.get("dup_db", 0)
    plan.fingerprint = _fingerprint(_context(sha256, source, mapping, filters), plan.rows,
                                    errors.hexdigest(), plan.skipped, plan.new,
                                    plan.scored_only, plan.duplicates)
    return plan


def iter_errors() -> Iterator[RowError]:
    """Every row error of the plan just built, in file order (streamed from the stage)."""
    stmt = (sa.select(S.line, S.error).where(S.kind == "error").order_by(S.line)
            .execution_options(yield_per=2_000))
    for line, reason in db.session.execute(stmt):
        yield RowError(line, reason)


# The apply ---------------------------------------------------------------------------------
class RowErrors(ValidationError):
    """The apply refused: rows have errors and skipping them was not asked for."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(f"{len(plan.errors):,} rows have errors, so nothing was imported. "
                         "Correct them, or choose to skip the rows with errors.")
        self.plan = plan


@dataclass
class Outcome:
    """What an apply did; `voice_import` is None when nothing was new."""

    plan: Plan
    voice_import: VoiceImport | None


def run_import(table: Table, *, filename: str, sha256: str, source: VoiceSource,
               mapping: Mapping, filters: Filters, actor: User | None,
               skip_errors: bool = False, expected: str | None = None) -> Outcome:
    """Import the file in the caller's transaction (the web apply and `flask voice import`).

    Rows with errors make it refuse (nothing written) unless `skip_errors`; `expected`, the
    fingerprint of the plan the editor saw, makes it refuse when the outcome differs."""
    record = VoiceImport(source_id=source.id, filename=filename[:200], sha256=sha256,
                         actor_id=actor.id if actor else None)
    db.session.add(record)
    db.session.flush()
    intake = services.Intake(source, Origin.IMPORT, import_id=record.id)
    plan = Plan()
    errors = hashlib.sha256()
    batch: list[dict[str, Any]] = []
    inserted = kept = 0
    for line, item, reason in Rows(table, mapping):
        plan.rows += 1
        if item is None:
            plan.errors.keep(RowError(line, reason or ""))
            errors.update(f"{line}\x1f{reason}\n".encode())
            continue
        kind = filters.kind(item)
        if kind == "skip":
            plan.skipped += 1
            continue
        kept += 1
        batch.append(intake.row(item, filtered=kind == "score"))
        if len(batch) == BATCH:
            inserted += services.insert_rows(batch)
            batch = []
    inserted += services.insert_rows(batch)
    plan.scored_only = db.session.scalar(sa.select(sa.func.count(Verbatim.id)).where(
        Verbatim.import_id == record.id, Verbatim.status == VerbatimStatus.FILTERED)) or 0
    plan.new = inserted - plan.scored_only
    plan.duplicates_db = kept - inserted  # in the database or earlier in the file: one count
    plan.fingerprint = _fingerprint(_context(sha256, source, mapping, filters), plan.rows,
                                    errors.hexdigest(), plan.skipped, plan.new,
                                    plan.scored_only, plan.duplicates)
    if expected is not None and not secrets.compare_digest(plan.fingerprint, expected):
        raise Conflict("The import would now do something else than the preview showed "
                       "(responses, teams or touchpoints changed). Check the new preview.")
    if plan.errors and not skip_errors:
        raise RowErrors(plan)
    if not inserted:
        db.session.delete(record)
        db.session.flush()
        return Outcome(plan, None)
    # created: every verbatim written (those kept for their score only too); filtered: the
    # rows the filter touched (kept for the score, or left out).
    record.rows, record.created = plan.rows, plan.adds
    record.duplicates, record.filtered = plan.duplicates, plan.scored_only + plan.skipped
    record.errors = len(plan.errors)
    source.last_received_at = intake.now
    audit.record(actor, "voice.import", record, source=source.slug, file=filename,
                 rows=plan.rows, created=plan.adds, scored_only=plan.scored_only or None,
                 skipped=plan.skipped or None, duplicates=plan.duplicates,
                 errors_skipped=len(plan.errors) or None, filters=filters.describe())
    return Outcome(plan, record)


def apply_upload(upload: Upload, *, sha256: str, fingerprint: str, filters: Filters,
                 skip_errors: bool, actor: User, errors_seen: bool = False) -> Outcome:
    """The editor's apply: the file must be the one previewed (checksum) and the outcome the
    one shown (fingerprint). `errors_seen`: the preview showed row errors, so without
    `skip_errors` it is refused before reading the file. The caller commits, then discards
    the upload."""
    if errors_seen and not skip_errors:
        raise ValidationError("Rows have errors, so nothing was imported. Correct the file, or "
                              "tick “Skip the rows with errors”.")
    if not sha256 or sha256 != upload.sha256 or not secrets.compare_digest(
            file_checksum(upload.path), upload.sha256):
        raise Conflict("The uploaded file changed since the preview. Upload it again.")
    if upload.mapping is None:
        raise ValidationError("Map the file's columns first.")
    return run_import(upload.table(), filename=upload.filename, sha256=upload.sha256,
                      source=import_source(upload.source_id),
                      mapping=Mapping.from_json(upload.mapping), filters=filters, actor=actor,
                      skip_errors=skip_errors, expected=fingerprint)


def plan_upload(upload: Upload, filters: Filters) -> Plan:
    if upload.mapping is None:
        raise ValidationError("Map the file's columns first.")
    return build_plan(upload.table(), sha256=upload.sha256,
                      source=import_source(upload.source_id),
                      mapping=Mapping.from_json(upload.mapping), filters=filters)


def recent_imports(limit: int = 10) -> list[VoiceImport]:
    return list(db.session.scalars(
        sa.select(VoiceImport)
        .options(joinedload(VoiceImport.source), joinedload(VoiceImport.actor))
        .order_by(VoiceImport.created_at.desc(), VoiceImport.id.desc())
        .limit(limit)))

