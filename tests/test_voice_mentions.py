"""Colleague and team suggestions (app/voice/mentions.py) against people in the database."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.voice.mentions import Matcher
from app.voice.mentions import Mentions


@pytest.fixture
def people(make_user, make_team):
    """A small company: names with accents, apostrophes, hyphens, common words and a shared
    first name; one person left."""
    care, stores = make_team("Customer Care"), make_team("Lyon Store")
    made = {
        key: make_user(display_name=name, team=team, active=key != "gone")
        for key, name, team in [
            ("jose", "José García", care),
            ("obrien", "Siobhán O'Brien", care),
            ("jeanluc", "Jean-Luc Picard", stores),
            ("ann", "Ann Lee", stores),
            ("will", "Will Turner", care),
            ("grace", "Grace Hopper", stores),
            ("mark", "Mark Twain", care),
            ("priya_care", "Priya Shah", care),
            ("priya_store", "Priya Nair", stores),
            ("zoe", "Zoë Kowalski", stores),
            ("mononym", "Oyelaran", care),
            ("beto", "Dr Roberto (Beto) Silva Jr", stores),
            ("title_only", "Mr", stores),
            ("les", "Les Dawson", care),
            ("mia", "Mia Hamm", care),
            ("gone", "Bartholomew Gone", care),
        ]
    }
    made["care"], made["stores"] = care, stores
    db.session.commit()
    return made


def _find(text: str, team=None) -> Mentions:
    return Matcher.load().find(text, team.id if team is not None else None)


def _ids(people, *keys) -> list[int]:
    return sorted(people[k].id for k in keys)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("José García sorted it all out.", ["jose"]),
        ("jose garcia sorted it all out", ["jose"]),  # accents and case, one way
        ("Thanks to JOSE GARCÍA!", ["jose"]),
        ("Siobhan OBrien was brilliant", ["obrien"]),  # and the other way, apostrophe left out
        ("Siobhán O’Brien was brilliant", ["obrien"]),  # typographic apostrophe
        ("siobhan o brien was brilliant", ["obrien"]),
        ("Jean Luc Picard fixed my order", ["jeanluc"]),
        ("jeanluc picard fixed my order", ["jeanluc"]),
        ("Grace Hopper's help was great", ["grace"]),  # possessive
        ("Zoe Kowalski and Ann Lee", ["ann", "zoe"]),
    ],
)
def test_full_names_ignore_case_accents_and_punctuation(people, text, expected):
    assert _find(text).user_ids == _ids(people, *expected)


@pytest.mark.parametrize(
    "text",
    [
        "I will call back tomorrow.",
        "Will you call me back?",  # sentence start: capitalized anyway
        "Thanks to Will for the help.",  # a common word alone needs the full name
        "Mark my words, this shop is the best.",
        "The grace period saved me.",
        "Grace was amazing.",
        "We came in May and again in June.",
        "An annual plan, Annie and Joann were there.",  # "Ann" is a whole word only
        "Jean was kind.",  # "Jean-Luc" is one first name, not "Jean"
        "Priya helped me.",  # two Priyas and no team: nobody
        "Bartholomew Gone helped me once.",  # inactive
        "Bartholomew helped me once.",
        "Garcia is a common surname.",  # a surname alone is not a name
        "",
    ],
)
def test_no_suggestion(people, text):
    assert _find(text).user_ids == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The manager, Will Turner, called me.", ["will"]),
        ("Thanks so much to Jean-Luc at the counter.", ["jeanluc"]),
        ("Big thanks to Zoë.", ["zoe"]),
        ("Big thanks to Zoe.", ["zoe"]),
        ("A shout-out to Siobhan!", ["obrien"]),
        ("It was all thanks to Siobhan’s patience.", ["obrien"]),  # possessive
        ("Thanks Oyelaran!", ["mononym"]),  # a one-word display name is a first name
        ("Mr. Turner and Dr Grace were lovely.", ["grace", "will"]),  # titles
        ("Mrs Garcia was lovely.", ["jose"]),
        ("Mark Twain and Mark my words", ["mark"]),
    ],
)
def test_first_names_and_titles(people, text, expected):
    assert _find(text).user_ids == _ids(people, *expected)


def test_a_shared_first_name_needs_the_full_name_or_the_team(people):
    assert _find("Priya helped me.").user_ids == []
    assert _find("Priya Nair and Priya Shah").user_ids == _ids(people, "priya_care", "priya_store")
    assert _find("Then Priya helped me.", people["care"]).user_ids == _ids(people, "priya_care")
    assert _find("Then Priya helped me.", people["stores"]).user_ids == _ids(
        people, "priya_store")


def test_a_first_name_at_the_start_of_a_sentence_counts_unless_a_common_word(people):
    for text in ["Siobhan was great.", "Great service. Siobhan helped.",
                 "Great service:\n- Siobhan helped.", '"Siobhan helped", he said.']:
        assert _find(text).user_ids == _ids(people, "obrien"), text
    for text in ["Les vendeurs étaient super.", "Mia moglie è contenta.", "May I say thanks.",
                 "Grace was amazing.", "Mark my words."]:
        assert _find(text).user_ids == [], text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Roberto Silva was great", ["beto"]),
        ("Beto Silva was great", ["beto"]),
        ("Thanks to Beto!", ["beto"]),
        ("Thanks to Mr Silva!", ["beto"]),
        ("Dr Roberto Silva Jr was great", ["beto"]),
        ("Thanks Mr and Dr, and Jr too", []),  # titles and suffixes are not names
    ],
)
def test_titles_suffixes_and_nicknames_in_display_names(people, text, expected):
    assert _find(text).user_ids == _ids(people, *expected)


def test_lower_case_first_name_is_not_a_name(people):
    assert _find("thanks siobhan").user_ids == []


def test_teams(people):
    found = _find("The customer care team and the LYON STORE were great.")
    assert found.team_ids == sorted([people["care"].id, people["stores"].id])
    assert _find("Customer service was careful").team_ids == []


def test_deactivated_people_are_never_suggested(people):
    people["jose"].is_active_user = False
    db.session.commit()
    assert _find("José García was great").user_ids == []


def test_long_text_finds_every_name_once(people):
    filler = "The staff were kind and the shop was tidy. " * 230
    text = filler + "José García was there. " + filler + "So was Zoë Kowalski. " + filler
    assert len(text) > 10_000
    found = _find(text)
    assert found.user_ids == _ids(people, "jose", "zoe")
    assert found.team_ids == []


def test_no_people_no_suggestions(app):
    assert Matcher.load().find("José García was great", None) == Mentions([], [])
