"""Shared test corpora: XSS filter-evasion payloads and awkward-but-legitimate strings.

Any test of a form field, page or email can loop over these, e.g.
``@pytest.mark.parametrize("payload", xss_payloads())``. The files live in tests/data/ and
document their format in their headers; this module only decodes it:

- blank lines and lines starting with "#" are skipped; a leading ``\\#`` is a literal "#";
- ``\\n`` ``\\r`` ``\\t`` ``\\0`` ``\\\\`` become LF, CR, TAB, NUL and a backslash, and
  ``{U+XXXX}`` becomes that code point. No other backslash is special, so JavaScript/CSS escapes
  in payloads (``\\u0061``, ``\\x3c``) survive as typed;
- a line that is exactly ``@@LONGWORD@@`` becomes `LONG_WORD`, a 500-character word.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
LONG_WORD_MARKER = "@@LONGWORD@@"
# Non-ASCII and realistic (German compounds), so it also exercises wrapping and encoding.
LONG_WORD = ("Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz" * 8)[:500]

_ESCAPE_RE = re.compile(r"\\([\\nrt0])|\{U\+([0-9A-Fa-f]{4,6})\}")
_SIMPLE_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t", "0": "\0"}


def _decode(line: str) -> str:
    if line == LONG_WORD_MARKER:
        return LONG_WORD
    if line.startswith("\\#"):
        line = line[1:]

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return _SIMPLE_ESCAPES[match.group(1)]
        return chr(int(match.group(2), 16))

    return _ESCAPE_RE.sub(replace, line)


@functools.cache
def _load(name: str) -> tuple[str, ...]:
    # split("\n"), not splitlines(): the latter also breaks at U+2028, U+0085, form feeds...
    lines = (DATA_DIR / name).read_text(encoding="utf-8").split("\n")
    lines = [line.removesuffix("\r") for line in lines]
    return tuple(_decode(line) for line in lines if line and not line.startswith("#"))


def xss_payloads() -> list[str]:
    """Filter-evasion payloads (script variants, handlers, URL schemes, Markdown tricks, ...)."""
    return list(_load("xss_payloads.txt"))


def awkward_strings() -> list[str]:
    """Emoji, RTL/bidi, combining, CJK/Thai/Devanagari, invisibles, quotes, long and blank text."""
    return list(_load("awkward_strings.txt"))
