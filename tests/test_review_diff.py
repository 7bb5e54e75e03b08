"""Readable diffs between revisions: word-level for text, escaped, accessible, summarized."""

from __future__ import annotations

from app.review.diff import CONTEXT_TOKENS
from app.review.diff import diff_snapshots
from app.review.diff import render_word_diff
from app.review.diff import summarize
from app.review.diff import word_counts
from app.review.diff import word_ops


def test_one_changed_word_is_one_change():
    ops = word_ops("She left delighted, thanks to Noah.", "She left overjoyed, thanks to Noah.")
    assert ("delete", "delighted") in ops and ("insert", "overjoyed") in ops
    assert [op for op, _ in ops].count("equal") == 2
    assert word_counts("She left delighted.", "She left overjoyed.") == (1, 1)


def test_html_marks_changes_for_sighted_and_screen_reader_users():
    html = str(render_word_diff("a quick fox", "a slow fox"))
    assert '<del class="diff__removed"><span class="visually-hidden">[removed: </span>quick' in html
    assert '<ins class="diff__added"><span class="visually-hidden">[added: </span>slow' in html


def test_everything_is_escaped():
    payload = '<img src=x onerror="alert(1)">'
    html = str(render_word_diff("hello", f"hello {payload}"))
    assert "<img" not in html and "&lt;img" in html
    changes = diff_snapshots({"title": "A"}, {"title": payload})
    assert "<img" not in str(changes[0].html)


def test_long_unchanged_stretches_are_shortened():
    words = " ".join(f"w{i}" for i in range(200))
    html = str(render_word_diff(words + " end", words + " finish"))
    assert " … " in html
    assert "w0" in html and "w199" in html and "w100" not in html
    assert CONTEXT_TOKENS > 0


def test_field_changes_and_summary():
    old = {"title": "Old", "body_md": "One two three.", "tags": ["a", "b"],
           "customer_consent": False, "customer_segment": None, "touchpoint": "Store"}
    new = {"title": "New", "body_md": "One two four.", "tags": ["b", "c"],
           "customer_consent": True, "customer_segment": "retail banking", "touchpoint": None}
    changes = diff_snapshots(old, new)
    assert [c.field for c in changes] == [
        "title", "body_md", "touchpoint", "tags", "customer_segment", "customer_consent"]
    text = summarize(changes)
    assert "Title: “Old” became “New”." in text
    assert "Story: edited (1 word added, 1 word removed)." in text
    assert "Touchpoint: removed (was “Store”)." in text
    assert "Tags: added “c”; removed “a”." in text
    assert "Customer segment: set to “retail banking”." in text
    assert "Customer agreed to be named: yes." in text


def test_no_change_no_entry_and_empty_values_are_equal():
    assert diff_snapshots({"title": "Same", "tags": []}, {"title": "Same", "tags": None}) == []
    assert diff_snapshots({"customer_name": ""}, {"customer_name": None}) == []


def test_unknown_fields_are_labelled_from_their_name():
    changes = diff_snapshots({"new_field": 1}, {"new_field": 2})
    assert changes[0].label == "New field"


def test_whitespace_only_edit_is_described():
    changes = diff_snapshots({"body_md": "Hello world."}, {"body_md": "Hello  world."})
    assert changes[0].summary == "Story: edited (spacing and punctuation)."
