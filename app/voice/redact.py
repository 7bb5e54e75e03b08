"""Customer personal data out of a verbatim's text, before anyone sees it.

What is found is replaced by a visible token, in this order (each step sees only the text the
earlier ones left, never a token, so nothing is redacted twice or half-eaten):

1. `[email]`: email addresses, Unicode local parts and sub-domains included.
2. `[iban]`: IBANs, with or without spaces, when their mod-97 check digits are right.
3. `[card]`: payment card numbers: 13 to 19 digits, grouped with single spaces or dashes,
   starting with 2-6 (the card networks' ranges), when the Luhn check passes. Other digit runs
   are left alone. Before phones, so a card is not half-eaten as a phone number.
4. `[label]`: the admin's own patterns (setting `voice_redact_patterns`: order numbers, account
   ids). Before phones: an admin's pattern describes the company's identifiers exactly, while
   the phone finder is a guess over digit runs, so "ORD-0612345678" is an `[order]`.
5. `[phone]`: phone numbers, found by the `phonenumbers` package (Google's libphonenumber) with
   the VALID leniency (a number valid in its country, national prefix written where one is
   used), in international form from anywhere and in national form from the countries of
   `VOICE_PHONE_REGIONS` (default `DEFAULT_REGIONS`). Only runs of digits that could be a phone
   number (7 digits or more) reach it, and dates never do: imports handle 100,000 rows. A
   quantity written next to a number ("06 12 34 56 78 2 times") is not taken as part of it.

Dates, times, prices, quantities, years and postcodes have too few digits or a date's shape and
are kept. Tokens already in the text (a re-sent comment) are kept as they are.

An admin's pattern could backtrack for hours on an ordinary comment (with `re`, `(a|aa)+$` or
`(\\w+\\s?)+$` on a comment that ends in "!"), and the standard `re` module can neither be
interrupted nor bounded by capping the text (2^30 steps at 30 characters). So admin patterns
run on the `regex` module (same syntax) with a time budget per comment (`PATTERN_TIMEOUT`). A
comment a pattern cannot be applied to in time is withheld whole (`[withheld]`; the pattern's
label is logged, never the text): unchecked, it could carry what the pattern protects. After
`BROKEN_AFTER` timeouts in one batch the pattern is taken as broken and the rest of the batch
is withheld without trying it again, so a bad pattern costs a 100,000-row import seconds, not
hours.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

import regex
from flask import current_app
from flask import has_app_context
from phonenumbers import SUPPORTED_REGIONS
from phonenumbers import Leniency
from phonenumbers import PhoneMetadata
from phonenumbers import PhoneNumberMatcher

from app.settings import get_setting

log = logging.getLogger(__name__)

DEFAULT_REGIONS = ("GB", "US", "FR", "DE", "ES", "IT", "NL", "IN", "AU", "JP", "BR")
PATTERN_TIMEOUT = 0.05  # seconds an admin pattern may take on one comment
BROKEN_AFTER = 3  # timeouts in one batch after which a pattern is not tried again
WITHHELD = "[withheld]"
PHONE_MIN_DIGITS = 7

# A token this module writes (or an admin's label): kept as it is by every later step.
TOKEN = re.compile(r"(\[[a-z][a-z ]{0,23}\])")
# A local part (at most 64 characters) starts after anything but one of its own characters and
# not with a dot or an apostrophe ("'ana@example.com'", but o'connor@example.ie).
_LOCAL_START = r"[\w!#$%&*+/=?^{|}~-]"
EMAIL = re.compile(
    rf"(?<!{_LOCAL_START}){_LOCAL_START}[\w.'!#$%&*+/=?^{{|}}~-]{{0,63}}"
    r"@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}"
)
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}")
IBAN_LENGTHS = range(15, 35)
# 13 digits with single spaces or dashes somewhere in the text: the cheap test before cards.
CARD_HINT = re.compile(r"\d(?:[ -]?\d){12}")
DIGIT_RUN = re.compile(r"(?<![\w+])\d+(?:[ -]\d+)*")
DIGITS = re.compile(r"\d+")
CARD_LENGTHS = range(13, 20)
DIGIT = re.compile(r"\d")
# 7 digits with up to two separators between each: the cheap test before phone numbers.
PHONE_HINT = re.compile(rf"\d(?:[ \t.\-/()]{{0,2}}\d){{{PHONE_MIN_DIGITS - 1}}}")
# Dates and year ranges are skipped whole; a run is digits with up to two separators between.
PHONE_SCAN = re.compile(
    r"(?P<date>(?<![\d.\-/])(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|(?:19|20)\d{2} ?[-–/] ?(?:19|20)?\d{2})(?![\d]|[-/.]\d))"
    r"|(?P<run>[+(]?\d(?:[ \t.\-/()]{0,2}\d)+)"
)

Span = tuple[int, int, str]  # start, end, the token's label
Finder = Callable[[str], list[Span]]


class _Withheld(Exception):
    """An admin pattern could not be applied in time: the comment is withheld whole."""


def luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """ISO 13616 check digits: the country and check digits moved to the end, letters as
    10-35, the number modulo 97 is 1."""
    if len(compact) not in IBAN_LENGTHS or not compact[:2].isalpha():
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def find_emails(text: str) -> list[Span]:
    if "@" not in text:
        return []
    return [(m.start(), m.end(), "email") for m in EMAIL.finditer(text)]


def find_ibans(text: str) -> list[Span]:
    spans = []
    match = IBAN.search(text)
    while match is not None:
        candidate, resume = match.group(), match.start() + 1
        # The pattern runs on into following words ("… 32 THANKS"): the longest prefix that
        # ends a word and checks out is the IBAN; the search goes on after it.
        for end in sorted({len(candidate), *(i for i, c in enumerate(candidate) if c == " ")},
                          reverse=True):
            if iban_valid(candidate[:end].replace(" ", "").upper()):
                spans.append((match.start(), match.start() + end, "iban"))
                resume = match.start() + end
                break
        match = IBAN.search(text, resume)
    return spans


def find_cards(text: str) -> list[Span]:
    if not CARD_HINT.search(text):
        return []
    spans = []
    for run in DIGIT_RUN.finditer(text):
        groups = [(m.start() + run.start(), m.end() + run.start(), m.group())
                  for m in DIGITS.finditer(run.group())]
        spans.extend(_cards_in(groups))
    return spans


def _cards_in(groups: list[tuple[int, int, str]]) -> Iterable[Span]:
    """Luhn-valid card numbers made of whole consecutive groups of one digit run, the longest
    first from each group ("4111 1111 1111 1111 2026" is a card followed by a year)."""
    i = 0
    while i < len(groups):
        digits, ends = "", []
        for j in range(i, len(groups)):
            digits += groups[j][2]
            if len(digits) > CARD_LENGTHS.stop - 1:
                break
            if len(digits) in CARD_LENGTHS and digits[0] in "23456":
                ends.append((j, digits))
        card = next((j for j, number in reversed(ends) if luhn(number)), None)
        if card is None:
            i += 1
            continue
        yield groups[i][0], groups[card][1], "card"
        i = card + 1


@dataclass(frozen=True)
class _Region:
    """What a national number of one country looks like (libphonenumber's metadata)."""

    code: str
    national_prefix: str
    numbers: re.Pattern  # every national significant number of the country

    @classmethod
    def of(cls, code: str) -> _Region:
        metadata = PhoneMetadata.metadata_for_region(code)
        return cls(code, metadata.national_prefix or "",
                   re.compile(metadata.general_desc.national_number_pattern))

    def could_be(self, digits: str) -> bool:
        """Whether the digits, alone, could be one number of this country: the cheap test
        before the matcher (a few µs, where the matcher takes 50-100)."""
        prefix = self.national_prefix
        if prefix and digits.startswith(prefix) and self.numbers.fullmatch(digits[len(prefix):]):
            return True
        return self.numbers.fullmatch(digits) is not None


def phone_finder(regions: tuple[str, ...]) -> Finder:
    known = [_Region.of(code) for code in regions]

    def find_phones(text: str) -> list[Span]:
        if not PHONE_HINT.search(text):
            return []
        spans: list[Span] = []
        for scanned in PHONE_SCAN.finditer(text):
            run = scanned.group("run")
            if run is not None and len(DIGIT.findall(run)) >= PHONE_MIN_DIGITS:
                spans.extend(_phones_in(run, scanned.start(), known))
        return spans

    return find_phones


def _phones_in(run: str, offset: int, regions: list[_Region]) -> list[Span]:
    """Phone numbers in one digit run. When none is found and the run starts or ends with a
    group of one or two digits, it is tried again without it: a quantity written next to a
    number ("call 06 12 34 56 78 2 times") joins the run but is not part of the number."""
    found = _readings(run, regions)
    if not found:
        groups = list(DIGITS.finditer(run))
        if len(groups) > 1 and len(groups[-1].group()) <= 2:
            found = _readings(run[: groups[-2].end()], regions)
        if not found and len(groups) > 1 and len(groups[0].group()) <= 2:
            rest = run[groups[0].end():].lstrip(" \t.-/)")  # keeps a "(" or "+" it starts with
            skip = len(run) - len(rest)
            found = [(skip + start, skip + end) for start, end in _readings(rest, regions)]
    return [(offset + start, offset + end, "phone") for start, end in found]


def _readings(run: str, regions: list[_Region]) -> list[tuple[int, int]]:
    """The phone numbers the matcher reads in `run`, as (start, end). The regions are tried in
    order until one reads the whole run as phone numbers (a number written with its country
    code: the first); otherwise the longest readings win ("(11) 91234-5678" is one Brazilian
    number, not a shorter Spanish one and a stray area code). A run of one number's length
    skips the countries it cannot belong to; a longer one may hold several numbers, and every
    country is tried."""
    digits = "".join(DIGIT.findall(run))
    if len(digits) < PHONE_MIN_DIGITS:
        return []
    if run.startswith("+"):
        regions = regions[:1]  # the country code says where it is from
    elif len(digits) < 2 * PHONE_MIN_DIGITS:
        regions = [r for r in regions if r.could_be(digits)]
    readings: list[tuple[int, int, int]] = []  # digits, start, end
    for region in regions:
        matches = [
            (len(DIGIT.findall(m.raw_string)), m.start, m.end)
            for m in PhoneNumberMatcher(run, region.code, leniency=Leniency.VALID)
        ]
        if sum(m[0] for m in matches) == len(digits):
            readings = matches
            break
        readings += matches
    chosen: list[tuple[int, int]] = []
    for _, start, end in sorted(readings, key=lambda r: -r[0]):
        if not any(start < e and s < end for s, e in chosen):
            chosen.append((start, end))
    return sorted(chosen)


@dataclass
class _Pattern:
    """An admin's pattern, compiled once per batch, with its time budget per comment."""

    label: str
    compiled: regex.Pattern
    timeouts: int = 0

    @classmethod
    def of(cls, pattern: dict[str, str]) -> _Pattern:
        return cls(pattern["label"], regex.compile(pattern["pattern"]))

    def find(self, text: str) -> list[Span]:
        if self.timeouts >= BROKEN_AFTER:
            raise _Withheld(self.label)
        try:
            return [
                (m.start(), m.end(), self.label)
                for m in self.compiled.finditer(text, timeout=PATTERN_TIMEOUT)
                if m.end() > m.start()
            ]
        except TimeoutError:
            self.timeouts += 1
            log.warning("redaction pattern %r took over %s s on a comment (%d in this batch); "
                        "the comment is withheld", self.label, PATTERN_TIMEOUT, self.timeouts)
            raise _Withheld(self.label) from None


def _configured_regions() -> tuple[str, ...]:
    regions = (
        current_app.config.get("VOICE_PHONE_REGIONS", DEFAULT_REGIONS)
        if has_app_context()
        else DEFAULT_REGIONS
    )
    unknown = [r for r in regions if r not in SUPPORTED_REGIONS]
    if unknown:
        log.warning("VOICE_PHONE_REGIONS: unknown region codes ignored: %s", ", ".join(unknown))
    return tuple(r for r in regions if r in SUPPORTED_REGIONS)


@dataclass
class Redactor:
    """One per batch (an import, a webhook call): patterns compiled once, reused per row."""

    patterns: list[dict[str, str]]
    regions: tuple[str, ...] = field(default_factory=_configured_regions)

    def __post_init__(self) -> None:
        self._patterns = [_Pattern.of(p) for p in self.patterns]
        # (finder, whether it can only find something in a text with digits)
        self._finders: list[tuple[Finder, bool]] = [
            (find_emails, False),
            (find_ibans, True),
            (find_cards, True),
            *((p.find, False) for p in self._patterns),
            (phone_finder(self.regions), True),
        ]

    def redact(self, text: str) -> tuple[str, int]:
        """`text` with personal data replaced by tokens, and how many were replaced."""
        # Even items: plain text; odd items: tokens, left alone.
        parts = TOKEN.split(text) if "[" in text else [text]
        digits = DIGIT.search(text) is not None  # most comments have none: three steps fewer
        count = 0
        try:
            for find, needs_digits in self._finders:
                if needs_digits and not digits:
                    continue
                parts, found = _replace(parts, find)
                count += found
        except _Withheld:
            return WITHHELD, 1
        return ("".join(parts) if count else text), count


def _replace(parts: list[str], find: Finder) -> tuple[list[str], int]:
    """`parts` with what `find` finds in the plain items made tokens (the list keeps plain
    items at even positions)."""
    out: list[str] = []
    count = 0
    for i, part in enumerate(parts):
        spans = find(part) if i % 2 == 0 and part else ()
        position = 0
        for start, end, label in spans:
            out += [part[position:start], f"[{label}]"]
            position = end
            count += 1
        out.append(part[position:])
    return out, count


def current_redactor() -> Redactor:
    """A redactor with the admin's patterns as saved now."""
    return Redactor(get_setting("voice_redact_patterns"))
