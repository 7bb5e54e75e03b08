"""Admin-editable settings stored in the `settings` table, with typed defaults and validation.

Each key is declared once in `SETTINGS` with its default and a validator, so the admin form, the
scheduler and the mailer all agree on what a setting means. Defaults apply until an admin saves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError
from email_validator import validate_email
from flask import current_app
from flask import g
from flask import has_request_context

from app import audit
from app.errors import ValidationError
from app.extensions import db
from app.models import Setting
from app.models import User
from app.text import clean_text
from app.timezones import canonical_zone

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _timezone(value: Any) -> str:
    """Only IANA zone names (ZoneInfo alone also opens "localtime" or "posix/…" files)."""
    name = canonical_zone(str(value))
    if name is None:
        raise ValidationError("Choose a time zone (e.g. Europe/Paris).")
    return name


def _weekday(value: Any) -> int:
    day = int(value)
    if not 0 <= day <= 6:
        raise ValidationError("Pick a day of the week.")
    return day


def _hhmm(value: Any) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
        raise ValidationError("Use a 24-hour time like 09:00.")
    return text


def _between(low: int, high: int, unit: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValidationError(f"Use a number of {unit} between {low} and {high}.")
        return number

    return check


def _rate(value: Any) -> float:
    """Messages per second: 0 (no limit) or 0.01–10,000 (a fraction: one every few seconds)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError("Use a number of messages per second, e.g. 14 or 0.5.") from None
    if number != number or not (number == 0 or 0.01 <= number <= 10_000):  # NaN too
        raise ValidationError("Use 0 (no limit) or between 0.01 and 10,000 messages per second.")
    return round(number, 2)


def _hours(limit: int) -> Callable[[Any], int]:
    return _between(0, limit, "hours")


def _bool(value: Any) -> bool:
    return bool(value)


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValidationError(f"Choose one of: {', '.join(options)}.")
        return str(value)

    return check


def _sender(value: Any) -> str:
    text = str(value or "").strip()
    if "\r" in text or "\n" in text:
        raise ValidationError("The sender cannot contain line breaks.")
    return clean_text(text)


def _emails(value: Any) -> list[str]:
    """A list of addresses; duplicates removed case-insensitively, invalid ones refused."""
    raw = value if isinstance(value, list) else re.split(r"[\s,;]+", str(value or ""))
    seen: dict[str, str] = {}
    bad = []
    for address in (a.strip() for a in raw):
        if not address:
            continue
        try:
            normalized = validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError:
            bad.append(address)
            continue
        seen.setdefault(normalized.lower(), normalized)
    if bad:
        raise ValidationError("These addresses are not valid: " + ", ".join(bad))
    return list(seen.values())


REDACTION_LABEL = re.compile(r"[a-z][a-z ]{0,23}")
MAX_REDACTION_PATTERNS = 20


def _redaction_patterns(value: Any) -> list[dict[str, str]]:
    """Extra personal-data patterns (order numbers, account ids), one per line as
    `label: regular expression`, shown in the text as `[label]` (app/voice/redact.py)."""
    if isinstance(value, list):
        lines = [f"{item['label']}: {item['pattern']}" for item in value]
    else:
        lines = [line for line in str(value or "").splitlines() if line.strip()]
    if len(lines) > MAX_REDACTION_PATTERNS:
        raise ValidationError(f"Use at most {MAX_REDACTION_PATTERNS} patterns.")
    patterns = []
    for number, line in enumerate(lines, start=1):
        label, colon, pattern = line.partition(":")
        label, pattern = label.strip().lower(), pattern.strip()
        if not colon or not REDACTION_LABEL.fullmatch(label) or not pattern:
            raise ValidationError(
                f"Line {number}: write `label: pattern`, e.g. `order: ORD-[0-9]{{6}}` "
                "(a label of lower-case letters)."
            )
        if len(pattern) > 200:
            raise ValidationError(f"Line {number}: the pattern is longer than 200 characters.")
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise ValidationError(f"Line {number}: the pattern is not valid ({error}).") from None
        if compiled.search("") is not None:
            raise ValidationError(f"Line {number}: the pattern matches empty text.")
        patterns.append({"label": label, "pattern": pattern})
    return patterns


BRAND_FOOTER_MAX = 300
BRAND_FOOTER_LINES = 2
# The branding's one home for these (app.branding imports them; it cannot be imported here).
DEFAULT_ACCENT = "#b43c0a"
LOGO_KEY_RE = re.compile(r"[A-Za-z0-9_-]{22}")  # a stored logo's key (app.branding.storage)


def _brand_logo(value: Any) -> str | None:
    """The stored logo's key (app/branding/storage.py names the file), or None: the sun mark."""
    key = str(value or "").strip()
    if key and not LOGO_KEY_RE.fullmatch(key):
        raise ValidationError("That is not a stored logo.")
    return key or None


def _brand_accent(value: Any) -> str:
    """#rrggbb that white text on it (and it as text on white) reads at AA (4.5:1)."""
    from app.branding.colors import check_accent  # at call time: app.branding reads settings

    return check_accent(value)


def _brand_footer(value: Any) -> str:
    """Plain text under every page and email: one or two lines, at most 300 characters."""
    lines = [" ".join(line.split()) for line in clean_text(str(value or ""), multiline=True)
             .splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > BRAND_FOOTER_LINES:
        raise ValidationError("Keep the footer to one or two lines.")
    text = "\n".join(lines)
    if len(text) > BRAND_FOOTER_MAX:
        raise ValidationError(
            f"Keep the footer to {BRAND_FOOTER_MAX} characters (it has {len(text)})."
        )
    return text


@dataclass(frozen=True)
class SettingSpec:
    default: Callable[[], Any]
    validate: Callable[[Any], Any]
    label: str


SETTINGS: dict[str, SettingSpec] = {
    "timezone": SettingSpec(
        lambda: current_app.config["TIMEZONE"], _timezone, "Organization time zone"
    ),
    "send_weekday": SettingSpec(lambda: 4, _weekday, "Send day"),
    "send_time": SettingSpec(lambda: "09:00", _hhmm, "Send time"),
    "reminder_hours_before": SettingSpec(lambda: 24, _hours(168), "Editor reminder (hours before)"),
    "missed_run_grace_hours": SettingSpec(lambda: 6, _hours(72), "Grace period for a missed send"),
    "empty_edition_policy": SettingSpec(
        lambda: "skip", _choice("skip", "send_placeholder"), "When an edition is empty"
    ),
    "nudge_enabled": SettingSpec(lambda: False, _bool, "Mid-week 'share a story' nudge"),
    "nudge_weekday": SettingSpec(lambda: 2, _weekday, "Nudge day"),
    "nudge_time": SettingSpec(lambda: "10:00", _hhmm, "Nudge time"),
    "sender": SettingSpec(lambda: current_app.config["MAIL_DEFAULT_SENDER"], _sender, "Sender"),
    "extra_recipients": SettingSpec(lambda: [], _emails, "Extra recipients"),
    # The customer's voice (app/voice): originals before redaction are kept only when on, for
    # `voice_original_days`, and only admins see them.
    "voice_keep_original": SettingSpec(lambda: False, _bool, "Keep unredacted originals"),
    "voice_original_days": SettingSpec(
        lambda: 30, _between(1, 365, "days"), "Days originals are kept"
    ),
    "voice_redact_patterns": SettingSpec(
        lambda: [], _redaction_patterns, "Extra redaction patterns"
    ),
    # Readership (app/engagement): links in edition emails go through /r/ (clicks counted), an
    # optional 1×1 image counts opens; "aggregate" keeps no per-person rows, "person" keeps them
    # for `engagement_person_days` (then they are anonymized; counts stay).
    "track_clicks": SettingSpec(lambda: True, _bool, "Count clicks in edition emails"),
    "track_opens": SettingSpec(lambda: True, _bool, "Count opens (1×1 image)"),
    "analytics_mode": SettingSpec(
        lambda: "aggregate", _choice("aggregate", "person"), "Readership analytics"
    ),
    "engagement_person_days": SettingSpec(
        lambda: 90, _between(1, 730, "days"), "Days per-person reading data is kept"
    ),
    # The email's layout (app/newsletter/compose.py): more stories than this → teaser cards.
    "teaser_threshold": SettingSpec(
        lambda: 4, _between(1, 50, "stories"), "Full stories in the email up to"
    ),
    "embed_images": SettingSpec(lambda: False, _bool, "Embed cover pictures in the email"),
    # Branding (app/branding): the logo's stored key (None: the sun mark), the accent colour
    # (#rrggbb, checked for contrast) and a line of footer text; used by the email and the site.
    "brand_logo": SettingSpec(lambda: None, _brand_logo, "Logo"),
    "brand_accent": SettingSpec(lambda: DEFAULT_ACCENT, _brand_accent, "Accent colour"),
    "brand_footer": SettingSpec(lambda: "", _brand_footer, "Footer text"),
    # The mail relay's limits (app/newsletter/pacing.py): messages per second across every
    # sender (0: as fast as the server answers) and at most `send_cap_messages` (0: no cap) in
    # any `send_cap_window_hours`, counted from delivery rows.
    "send_rate_per_second": SettingSpec(lambda: 0.0, _rate, "Messages per second"),
    "send_cap_messages": SettingSpec(
        lambda: 0, _between(0, 100_000_000, "messages"), "Messages per window (0: no cap)"
    ),
    "send_cap_window_hours": SettingSpec(
        lambda: 24, _between(1, 168, "hours"), "Cap window (hours)"
    ),
    # People's data (app/privacy): what erasing a person does, and how long records are kept
    # (0: for ever). Per-person reading data has its own setting above.
    "erasure_account": SettingSpec(
        lambda: "anonymize", _choice("anonymize", "remove"), "An erased person's account"
    ),
    "erasure_stories": SettingSpec(
        lambda: "keep", _choice("keep", "remove"), "An erased person's stories and quotes"
    ),
    "retention_audit_days": SettingSpec(
        lambda: 730, _between(0, 3650, "days"), "Days the audit log is kept"
    ),
    "retention_delivery_days": SettingSpec(
        lambda: 400, _between(0, 3650, "days"), "Days per-recipient delivery rows are kept"
    ),
}


def get_setting(key: str) -> Any:
    spec = SETTINGS[key]
    row = db.session.get(Setting, key)
    return spec.default() if row is None else row.value


# What every page shows: the organization's time zone and the branding (header, theme, footer).
PAGE_KEYS = ("timezone", "brand_logo", "brand_accent", "brand_footer")


def page_settings() -> dict[str, Any]:
    """The settings every page needs, in one query per request (kept in `g`), whichever part
    of the page asks first; outside a request (scheduler, CLI) read afresh each time."""
    if not has_request_context():
        return get_settings(*PAGE_KEYS)
    values = g.get("_page_settings")
    if values is None:
        values = g._page_settings = get_settings(*PAGE_KEYS)
    return values


def get_settings(*keys: str) -> dict[str, Any]:
    """Several settings in one query."""
    keys = keys or tuple(SETTINGS)
    rows = {
        r.key: r.value for r in db.session.scalars(db.select(Setting).where(Setting.key.in_(keys)))
    }
    return {k: rows[k] if k in rows else SETTINGS[k].default() for k in keys}


def set_settings(values: dict[str, Any], *, actor: User | None) -> dict[str, Any]:
    """Validate every value first, then write them all (no partial update) and audit the change."""
    cleaned = {key: SETTINGS[key].validate(value) for key, value in values.items()}
    current = get_settings(*cleaned)
    changed = {k: v for k, v in cleaned.items() if current[k] != v}
    for key, value in changed.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=value))
        else:
            row.value = value
    if changed:
        audit.record(actor, "settings.update", object_type="settings", changes=changed)
    return changed
