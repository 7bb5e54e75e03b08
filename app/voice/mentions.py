"""Colleagues and teams a verbatim names, suggested to the editor (who confirms them).

The rule, decided here only:

- **Full names.** An active person's display name of two words or more matches wherever it
  appears, ignoring case and accents ("Jose Garcia" finds José García and the other way round),
  on whole words only ("Ann Lee" is not found in "Joann Leeds"). A hyphen or apostrophe in a
  name may be typed, left out or replaced by a space (Jean-Luc, Jean Luc, Jeanluc; O'Brien,
  OBrien). The longest name wins where two overlap ("Mary Ann Smith" over "Ann Smith").
- **A first name alone** (or a one-word display name) is suggested only when it is written
  capitalized ("thanks siobhan" is not enough), is not a common word in one of the languages
  customers write in (`COMMON_WORDS`: Will, Grace, May, Frank, Les, Mia, Noël...: "Mark my
  words", "I will call back") and points at one person: the only active person with that first
  name, or the only one in the verbatim's team when the verbatim has a team. At the start of a
  sentence it counts too: "Priya was fantastic!" is how customers praise someone, and the
  common-word list, not the position, is what keeps "May I say..." out.
- **A title** (Mr, Mrs, Ms, Dr... `TITLES`) before a first name or a surname makes it a name
  whatever the word and wherever it stands ("Dr Summer", "Mrs García was lovely"), with the same
  one-person condition.
- **Teams**: a team's name found anywhere, ignoring case and accents, on whole words.

A display name is looked for without a title or suffix it carries, and a nickname in brackets
counts as another first name ("Dr Robert (Bob) Smith Jr": Robert Smith, Bob Smith).

Everything is indexed once per batch in `Matcher.load()` (dicts keyed by folded words); `find`
walks the words of one text once, so its cost does not grow with the number of people.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from app.extensions import db
from app.models import Team
from app.models import User

# Letters, with an apostrophe or hyphen inside a word (O'Brien, Jean-Luc); digits end a word,
# and so does a possessive ("Grace's idea": the name is "Grace").
WORD = re.compile(r"[^\W\d_]+(?:['’‘´\u2010\u2011-](?![sS]\b)[^\W\d_]+)*")
_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# Letters NFKD does not decompose, spelled the way people type them without the accent.
_PLAIN = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "æ": "ae",
                        "œ": "oe", "þ": "th", "’": "'", "‘": "'", "´": "'",
                        "\u2010": "-", "\u2011": "-"})
TITLES = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "mme", "mlle", "herr",
     "frau", "sr", "sra", "srta", "dott", "dottssa", "sig", "sigra"}
)
SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"})
_BRACKETED = re.compile(r"\(([^()]*)\)")
# First names that are also everyday words (or months): alone they prove nothing, so they need
# the full name or a title.
COMMON_WORDS = frozenset(
    {
        # English
        "al", "amber", "angel", "april", "art", "ash", "august", "autumn", "bay", "bill",
        "blessing", "blue", "bob", "brook", "buck", "bud", "candy", "carol", "cash", "chance",
        "charity", "chase", "cherry", "clay", "cliff", "constance", "crystal", "daisy", "dale",
        "dawn", "dean", "destiny", "don", "drew", "duke", "dusty", "earl", "echo", "eve", "faith",
        "fern", "forest", "frank", "gene", "gift", "ginger", "glen", "grace", "grant", "gray",
        "grey", "guy", "happy", "harmony", "haven", "hazel", "heath", "heather", "holly", "honey",
        "honor", "hope", "hunter", "iris", "ivy", "jack", "jade", "jasmine", "journey", "joy",
        "june", "justice", "king", "kit", "lane", "liberty", "lily", "lucky", "major", "march",
        "mark", "mason", "max", "may", "mercy", "miles", "misty", "moss", "nick", "noble", "olive",
        "page", "pat", "patience", "pearl", "penny", "poppy", "precious", "prince", "ray", "reed",
        "rich", "river", "robin", "rock", "rose", "royal", "ruby", "rusty", "sage", "sandy", "sky",
        "sonny", "star", "sterling", "stone", "sue", "summer", "sunny", "teddy", "trinity", "true",
        "violet", "wade", "ward", "warren", "will", "willow", "win", "young",
        # Other languages: articles, pronouns, months, holidays, nouns spelled like names
        "abril", "an", "ben", "benvenuto", "cruz", "dan", "del", "el", "ernst", "felice", "jesus",
        "kai", "la", "le", "les", "long", "mai", "mercedes", "mia", "noel", "reyes", "son",
        "toussaint", "van", "victoria", "wolf",
    }
)


def fold(text: str) -> str:
    """`text` for comparison: case-folded, accents and typographic apostrophes removed."""
    if text.isascii():
        return text.casefold()
    text = unicodedata.normalize("NFKD", text.casefold().translate(_PLAIN))
    return unicodedata.normalize("NFC", _MARKS.sub("", text))


def _words(text: str) -> list[str]:
    return [fold(w) for w in WORD.findall(text)]


def _name_forms(display_name: str) -> list[list[str]]:
    """The folded words a person is called by: the display name without a title, a suffix or
    a nickname in brackets, and with the nickname as first name ("Dr Robert (Bob) Smith Jr"
    → robert smith, bob smith)."""
    nicknames = _words(" ".join(_BRACKETED.findall(display_name)))
    words = _words(_BRACKETED.sub(" ", display_name))
    while len(words) > 1 and words[0] in TITLES:
        words = words[1:]
    while len(words) > 1 and words[-1] in SUFFIXES:
        words = words[:-1]
    if len(words) == 1 and words[0] in TITLES:  # nothing but a title is no name to look for
        words = []
    if not words:
        return [[n] for n in nicknames]
    return [words, *([nick, *words[1:]] for nick in nicknames)]


def _spellings(words: list[str]) -> set[tuple[str, ...]]:
    """The ways a name's folded words may be typed: each hyphen or apostrophe kept, left out,
    or made a space ("jean-luc" → jean-luc, jeanluc, jean luc)."""
    options = []
    for word in words:
        if "-" in word or "'" in word:
            parts = re.split(r"['-]", word)
            options.append([(word,), ("".join(parts),), tuple(parts)])
        else:
            options.append([(word,)])
    return {tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*options)}


@dataclass
class Mentions:
    user_ids: list[int] = field(default_factory=list)
    team_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Person:
    id: int
    team_id: int | None


@dataclass
class Matcher:
    # Full names and team names: first folded word -> [(all words, person or team)], longest
    # first, so the first that fits at a position is the longest.
    phrases: dict[str, list[tuple[tuple[str, ...], _Person | int]]]
    # Folded first names (one-word display names too) and surnames -> the people who have them.
    first_names: dict[str, list[_Person]]
    surnames: dict[str, list[_Person]]
    keys: frozenset[str] = field(init=False)  # every word that can start one of the above

    def __post_init__(self) -> None:
        self.keys = frozenset({*self.phrases, *self.first_names, *self.surnames})

    @classmethod
    def load(cls) -> Matcher:
        """Index the active people and the teams (one query each, only the columns needed)."""
        phrases: dict[str, list[tuple[tuple[str, ...], _Person | int]]] = defaultdict(list)
        first_names: dict[str, list[_Person]] = defaultdict(list)
        surnames: dict[str, list[_Person]] = defaultdict(list)

        def add_phrase(words: list[str], target: _Person | int) -> None:
            for spelling in _spellings(words):
                phrases[spelling[0]].append((spelling, target))

        people = db.session.execute(
            sa.select(User.id, User.display_name, User.team_id).where(User.is_active_user)
        )
        for user_id, name, team_id in people:
            person = _Person(user_id, team_id)
            for words in _name_forms(name or ""):
                if len(words) > 1:
                    add_phrase(words, person)
                    surnames[words[-1]].append(person)
                first_names[words[0]].append(person)
        for team_id, name in db.session.execute(sa.select(Team.id, Team.name)):
            words = _words(name or "")
            if words:
                add_phrase(words, team_id)
        for candidates in phrases.values():
            candidates.sort(key=lambda item: -len(item[0]))
        return cls(dict(phrases), dict(first_names), dict(surnames))

    def find(self, text: str, team_id: int | None = None) -> Mentions:
        users: set[int] = set()
        teams: set[int] = set()
        typed = WORD.findall(text)
        words = [w.casefold() if w.isascii() else fold(w) for w in typed]
        spans: list[tuple[int, int]] = []  # the words' positions, found when first needed
        keys = self.keys
        i = 0
        while i < len(words):
            if words[i] not in keys:  # most words: one set lookup
                i += 1
                continue
            length, target = self._phrase_at(words, i)
            if isinstance(target, _Person):
                users.add(target.id)
            elif target is not None:
                teams.add(target)
            else:
                person = self._single_name(text, typed, words, spans, i, team_id)
                if person is not None:
                    users.add(person.id)
            i += length or 1
        return Mentions(sorted(users), sorted(teams))

    def _phrase_at(self, words: list[str], i: int) -> tuple[int, _Person | int | None]:
        """The longest full name or team name starting at word `i`: (its length, whose)."""
        for phrase, target in self.phrases.get(words[i], ()):
            if tuple(words[i : i + len(phrase)]) == phrase:
                return len(phrase), target
        return 0, None

    def _single_name(
        self,
        text: str,
        typed: list[str],
        words: list[str],
        spans: list[tuple[int, int]],
        i: int,
        team_id: int | None,
    ) -> _Person | None:
        """The person a lone first name (or a title + first name or surname) at word `i`
        designates under the module's rule, if any. The cheap tests come first: positions in
        the text (`spans`, filled on first use) are rarely needed."""
        word = words[i]
        if i > 0 and words[i - 1] in TITLES:
            spans = spans or _fill(spans, text)
            if _adjacent(text, spans[i - 1], spans[i]):
                return _one({*self.first_names.get(word, ()), *self.surnames.get(word, ())},
                            team_id)
        candidates = self.first_names.get(word)
        if not candidates or word in COMMON_WORDS or not typed[i][0].isupper():
            return None
        return _one(set(candidates), team_id)


def _fill(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    spans.extend(m.span() for m in WORD.finditer(text))
    return spans


def _one(candidates: set[_Person], team_id: int | None) -> _Person | None:
    """The one candidate, or the one in the verbatim's team; None when still ambiguous."""
    if len(candidates) == 1:
        return next(iter(candidates))
    if team_id is not None:
        mates = [p for p in candidates if p.team_id == team_id]
        if len(mates) == 1:
            return mates[0]
    return None


def _adjacent(text: str, before: tuple[int, int], after: tuple[int, int]) -> bool:
    """A title directly before a name: only spaces or a dot between ("Mr. Smith")."""
    return text[before[1] : after[0]].strip(" .\u00a0") == ""
