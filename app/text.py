"""The one normalisation for text people type: every form, service and CLI entry point uses it.

`clean_text(value)` for one-line fields (titles, subjects, names, labels), `multiline=True` for
Markdown and notes, `name=True` for what identifies someone or something (display names, team
names, touchpoint labels, colleague names).

Always:
- lone surrogates become U+FFFD (they cannot be encoded as UTF-8 and break emails);
- control characters go: C0 other than tab/LF/CR, DEL, C1 (U+0085 counts as a line break), and
  the noncharacters U+FFFE/U+FFFF. They are invisible, break emails and XML (the Atom feed),
  and PostgreSQL refuses NUL in text columns;
- NFC, so the same word typed on two keyboards is the same string (search, duplicate checks).
  CJK compatibility ideographs are kept as typed: NFC would replace them with the unified
  ideograph, and people use those variants in their names.

One-line: each run of spaces, tabs and line breaks becomes one space and the ends are trimmed (a
title also becomes an email subject, where a line break would be a header injection). Other
spaces (no-break, narrow, ideographic) are typography and stay.
Multi-line: any line ending becomes LF, trailing whitespace and leading blank lines go (leading
spaces on the first line stay: they mean something in Markdown).

`name=True` also drops the bidi embedding/override/isolate controls (U+202A-U+202E,
U+2066-U+2069) and the zero-width space, word joiner and BOM, which can make one name look like
another ("Invoice\u202efdp.exe"), and collapses every kind of space. ZWJ/ZWNJ stay: emoji and
several scripts need them.
"""

from __future__ import annotations

import re
import unicodedata

_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
_SPACES_RE = re.compile(r"[ \t\r\n\x85\u2028\u2029]+")
_DISGUISE_RE = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff]")
# CJK compatibility ideographs: canonical singletons that NFC would rewrite.
_CJK_COMPAT_RE = re.compile(r"([\uf900-\ufaff\U0002f800-\U0002fa1f]+)")
# Characters XML 1.0 cannot carry at all, even escaped (a feed with one is not well-formed).
_XML_ILLEGAL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _nfc(text: str) -> str:
    if text.isascii():
        return text
    parts = _CJK_COMPAT_RE.split(text)  # odd items are the ideographs, kept as they are
    return "".join(p if i % 2 else unicodedata.normalize("NFC", p) for i, p in enumerate(parts))


def clean_text(value: str | None, *, multiline: bool = False, name: bool = False) -> str:
    """`value` as it should be stored (see the module docstring); None becomes ""."""
    text = value or ""
    if _SURROGATE_RE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = _nfc(_CONTROL_RE.sub("", text))
    if name:
        return " ".join(_DISGUISE_RE.sub("", text).split())
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n")
        return text.rstrip().lstrip("\n")
    return _SPACES_RE.sub(" ", text).strip()


def xml_safe(value: str | None) -> str:
    """`value` without the characters XML cannot hold: for output built from stored rows that
    predate `clean_text` (or were written by something that bypassed it)."""
    return _XML_ILLEGAL_RE.sub("", value or "")


def join_names(names: list[str]) -> str:
    """"Ana", "Ana and Ben", "Ana, Ben and Cy" — in emails, pages and suggested titles."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
