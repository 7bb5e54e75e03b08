"""Readable differences between two revisions of a story or quote.

Revisions store snapshots (plain dicts, see `app.submissions.services.snapshot`); this module
compares two of them field by field. Long text (the story body, the quote) is compared word by
word with difflib so a one-word fix shows as one word, not as a rewritten paragraph. The HTML
marks changes with <del>/<ins> plus visually hidden "removed"/"added" words, because most screen
readers do not announce those elements. `summarize` gives the same changes as one plain sentence
per field, for the author's "what the editors changed" email.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from markupsafe import escape

LABELS: dict[str, str] = {
    "title": "Title",
    "body_md": "Story",
    "text": "Quote",
    "team": "Team",
    "touchpoint": "Touchpoint",
    "tags": "Tags",
    "colleagues": "Colleagues recognized",
    "customer_name": "Customer name",
    "customer_organization": "Customer organization",
    "customer_segment": "Customer segment",
    "customer_role": "Customer role",
    "customer_consent": "Customer agreed to be named",
    "anonymous": "Anonymous",
    "cover_image": "Cover picture",
    "cover_image_alt": "Cover picture description",
    "source": "Source",
    "nps_score": "NPS score",
    "received_on": "Received on",
    "story_id": "Linked story",
}
# Compared word by word; everything else is shown as "old → new".
LONG_TEXT = frozenset({"body_md", "text"})
# Unchanged stretches longer than this (in tokens) are shortened to their ends in the HTML.
CONTEXT_TOKENS = 24

_TOKEN_RE = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class FieldChange:
    """One changed field: `html` for the review page, `summary` for emails."""

    field: str
    label: str
    old: Any
    new: Any
    html: Markup
    summary: str


def diff_snapshots(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[FieldChange]:
    """Changed fields from `old` to `new`, in the order of `LABELS` then any unknown keys."""
    old = old or {}
    keys = [k for k in LABELS if k in old or k in new]
    keys += sorted(k for k in {*old, *new} if k not in LABELS)
    changes = []
    for key in keys:
        before, after = old.get(key), new.get(key)
        if _normalized(before) == _normalized(after):
            continue
        label = LABELS.get(key, key.replace("_", " ").capitalize())
        changes.append(
            FieldChange(key, label, before, after, _field_html(key, before, after),
                        _field_summary(key, label, before, after))
        )
    return changes


def summarize(changes: list[FieldChange]) -> str:
    """All changes as short sentences, one per line, e.g. 'Title: “A” became “B”.'"""
    return "\n".join(change.summary for change in changes)


# -- word diff -------------------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text or "")


def word_ops(old: str, new: str) -> list[tuple[str, str]]:
    """[(op, text)] with op in equal / delete / insert; a replacement is a delete then an insert."""
    a, b = tokenize(old), tokenize(new)
    ops: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.append(("equal", "".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            ops.append(("delete", "".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            ops.append(("insert", "".join(b[j1:j2])))
    return ops


def render_word_diff(old: str, new: str) -> Markup:
    """Inline diff as HTML: <del>/<ins> with hidden words for screen readers; long unchanged
    runs are shortened to their ends so the change is easy to find."""
    parts: list[str] = []
    for op, text in word_ops(old, new):
        if op == "equal":
            parts.append(str(escape(_shorten(text))))
        elif op == "delete":
            parts.append(_marked("del", "removed", text))
        else:
            parts.append(_marked("ins", "added", text))
    return Markup('<span class="diff diff--words">' + "".join(parts) + "</span>")  # noqa: S704


def word_counts(old: str, new: str) -> tuple[int, int]:
    """(words added, words removed): whitespace and punctuation do not count."""
    added = removed = 0
    for op, text in word_ops(old, new):
        words = sum(1 for tok in tokenize(text) if tok[0].isalnum() or tok[0] == "_")
        if op == "insert":
            added += words
        elif op == "delete":
            removed += words
    return added, removed


def _marked(tag: str, word: str, text: str) -> str:
    return (
        f'<{tag} class="diff__{word}"><span class="visually-hidden">[{word}: </span>'
        f'{escape(text)}<span class="visually-hidden">]</span></{tag}>'
    )


def _shorten(text: str) -> str:
    tokens = tokenize(text)
    if len(tokens) <= 2 * CONTEXT_TOKENS + 1:
        return text
    return "".join(tokens[:CONTEXT_TOKENS]) + " … " + "".join(tokens[-CONTEXT_TOKENS:])


# -- fields ----------------------------------------------------------------------------------------


def _normalized(value: Any) -> Any:
    if value in ("", None, []):
        return None
    if isinstance(value, list):
        return list(value)
    return value


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value in (None, "", []):
        return "(none)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _list_changes(before: Any, after: Any) -> tuple[list[str], list[str]]:
    old = [str(v) for v in (before or [])]
    new = [str(v) for v in (after or [])]
    return [v for v in new if v not in old], [v for v in old if v not in new]


def _field_html(key: str, before: Any, after: Any) -> Markup:
    if key in LONG_TEXT:
        return render_word_diff(str(before or ""), str(after or ""))
    if isinstance(before, list) or isinstance(after, list):
        added, removed = _list_changes(before, after)
        parts = [_marked("del", "removed", v) for v in removed]
        parts += [_marked("ins", "added", v) for v in added]
        if not parts:  # same members, new order
            parts = [escape(f"reordered: {_display(after)}")]
        return Markup('<span class="diff diff--list">' + " ".join(map(str, parts)) + "</span>")  # noqa: S704
    return Markup(  # noqa: S704 - every piece is escaped
        '<span class="diff diff--value">'
        + _marked("del", "removed", _display(before))
        + ' <span aria-hidden="true">→</span> '
        + _marked("ins", "added", _display(after))
        + "</span>"
    )


def _field_summary(key: str, label: str, before: Any, after: Any) -> str:
    if key in LONG_TEXT:
        added, removed = word_counts(str(before or ""), str(after or ""))
        counts = [f"{n} word{'s' if n != 1 else ''} {what}"
                  for n, what in ((added, "added"), (removed, "removed")) if n]
        detail = f" ({', '.join(counts)})" if counts else " (spacing and punctuation)"
        return f"{label}: edited{detail}."
    if isinstance(before, list) or isinstance(after, list):
        added, removed = _list_changes(before, after)
        bits = []
        if added:
            bits.append("added " + ", ".join(f"“{v}”" for v in added))
        if removed:
            bits.append("removed " + ", ".join(f"“{v}”" for v in removed))
        return f"{label}: {'; '.join(bits) or 'new order'}."
    if isinstance(before, bool) or isinstance(after, bool):
        return f"{label}: {_display(bool(after))}."
    if before in (None, ""):
        return f"{label}: set to “{_display(after)}”."
    if after in (None, ""):
        return f"{label}: removed (was “{_display(before)}”)."
    return f"{label}: “{_display(before)}” became “{_display(after)}”."
