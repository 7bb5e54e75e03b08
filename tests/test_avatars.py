"""Avatars: the Python hash gives every name the colour and initials the old Jinja loop gave."""

from __future__ import annotations

import pytest
from markupsafe import escape

from app.web.avatars import avatar_for

# The macro as it was before the hash moved to Python: colours must not change for anyone.
OLD_MACRO = (
    '{%- set label = (name or "")|trim -%}'
    "{%- set parts = label.split() -%}"
    '{%- set initials = ((parts[0][:1] ~ (parts[-1][:1] if parts|length > 1 else ""))'
    ' if parts else "?")|upper -%}'
    "{%- set ns = namespace(h=7) -%}"
    "{%- for ch in label|lower %}"
    '{% set ns.h = (ns.h * 31 + "abcdefghijklmnopqrstuvwxyz".find(ch) + 2) % 10007 %}'
    "{% endfor -%}"
    "{{ ns.h % 8 }}|{{ initials }}|{{ label }}"
)

NAMES = [
    "Priya Raman",
    "Tom Okafor",
    "  Lena   Fischer ",
    "Zoë Ångström-Łukasiewicz",
    "李小龍",
    "",
    None,
    "x" * 500,
    "Émile\tZola",
    "O'Brien",
]


@pytest.mark.parametrize("name", NAMES)
def test_avatar_matches_the_old_template_hash(app, name):
    expected = app.jinja_env.from_string(OLD_MACRO).render(name=name)
    a = avatar_for(name)
    assert str(escape(f"{a.colour}|{a.initials}|{a.label}")) == expected


def test_avatar_macro_renders_initials_colour_and_label(app):
    html = app.jinja_env.from_string(
        '{% import "_macros.html" as ui %}{{ ui.avatar("Priya Raman", "sm", decorative=False) }}'
    ).render()
    a = avatar_for("Priya Raman")
    assert f'class="avatar avatar--{a.colour} avatar--sm"' in html
    assert 'role="img" aria-label="Priya Raman"' in html
    assert ">PR</span>" in html


def test_colours_spread_over_all_eight_classes():
    first = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun"]
    last = ["Khan", "Lund", "Mori", "Ng", "Ortiz", "Park", "Quinn", "Rossi", "Sato", "Tran"]
    colours = {avatar_for(f"{a} {b}").colour for a in first for b in last}
    assert colours == set(range(8))
