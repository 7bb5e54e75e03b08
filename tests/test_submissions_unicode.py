"""Awkward but legitimate text (emoji, right-to-left, combining marks, long words, invisible
characters, quotes, Markdown look-alikes) in every field: never a 500, and what is stored and
shown again is what was typed.

"What was typed" follows the documented hygiene (app.text.clean_text): control characters
other than tab/LF/CR are dropped and text is NFC-normalised; one-line fields turn each run of
spaces, tabs and line breaks into one space and are trimmed; Markdown fields get LF line endings
and lose trailing whitespace; names (colleagues) also lose bidi controls and zero-width spaces
and collapse every kind of space. The expectations below restate those rules independently.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Quote
from app.models import Story
from tests.corpora import awkward_strings
from tests.test_submissions import Page
from tests.test_submissions import quote_form
from tests.test_submissions import story_form

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
SPACES = re.compile(r"[ \t\r\n\x85\u2028\u2029]+")
DISGUISE = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff]")


def _common(value: str) -> str:
    return unicodedata.normalize("NFC", CONTROL.sub("", value))  # no CJK compat ideographs here


def one_line(value: str) -> str:
    return SPACES.sub(" ", _common(value)).strip()


def name_line(value: str) -> str:
    return " ".join(DISGUISE.sub("", _common(value)).split())


def multi_line(value: str) -> str:
    value = _common(value).replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n")
    return value.rstrip().lstrip("\n")


def fits(value: str, low: int, high: int) -> bool:
    return low <= len(one_line(value)) <= high


def tag_parts(value: str) -> list[str] | None:
    """The tags a comma-separated value becomes, or None if any would be refused."""
    tags = []
    for part in value.split(","):
        tag = " ".join(one_line(part).lstrip("#").split()).lower()
        if not tag:
            continue
        if len(tag) > 40 or "/" in tag or "\\" in tag or not any(c.isalnum() for c in tag):
            return None
        tags.append(tag)
    return list(dict.fromkeys(tags)) if len(set(tags)) <= 10 else None


@pytest.fixture
def client(login_as, make_user):
    user = make_user(display_name="Una Code", email="una@example.com")
    db.session.commit()
    return login_as(user)


@pytest.mark.slow  # the whole corpus
@pytest.mark.parametrize("text", awkward_strings())
def test_everything_awkward_at_once_never_fails(client, text):
    fields = (
        "title", "body", "colleagues", "colleague_names", "tags", "customer_name",
        "customer_organization", "customer_segment", "cover_image_alt",
    )  # fmt: skip
    data = dict.fromkeys(fields, text)
    response = client.post("/stories/new", data=story_form(**data))
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        page = Page(response.get_data(as_text=True))
        assert "There’s a problem" in page.text  # an explained refusal
        assert page.value("title") == text  # with the input kept
    response = client.post("/quotes/new", data=quote_form(
        text=text, customer_name=text, customer_role=text, customer_organization=text,
    ))
    assert response.status_code in (200, 302)


@pytest.mark.slow  # the whole corpus
@pytest.mark.parametrize("text", awkward_strings())
def test_story_round_trip(client, text):
    title = text if fits(text, 3, 150) else f"Story: {text}"[:150]
    body = f"{text}\n\nThe customer left smiling, and so did we."
    names = [name_line(line) for line in text.splitlines() if name_line(line)]
    names = [n for n in names if len(n) <= 120][:10]
    tags = tag_parts(text)
    short = text if fits(text, 0, 120) else text[:100]
    data = story_form(
        title=title,
        body=body,
        colleague_names="\n".join(names),
        tags=text if tags is not None else "",
        customer_name=short,
        customer_organization=short,
        customer_segment=short,
        customer_consent="y",
    )
    response = client.post("/stories/new", data=data)
    assert response.status_code == 302, Page(response.get_data(as_text=True)).text[:2000]
    story = db.session.scalars(sa.select(Story).order_by(Story.id.desc())).first()

    assert story.title == one_line(title)
    assert story.body_md == multi_line(body)
    assert [r.name for r in story.recognitions] == list(dict.fromkeys(names))
    assert sorted(t.name for t in story.tags) == sorted(tags or [])
    assert story.customer_name == (one_line(short) or None)
    assert story.customer_segment == (one_line(short) or None)

    edit = Page(client.get(f"/stories/{story.id}/edit").get_data(as_text=True))
    assert edit.value("title") == story.title
    assert edit.value("body") == story.body_md
    assert edit.value("customer_name") == (story.customer_name or "")
    assert edit.value("colleague_names") == "\n".join(r.name for r in story.recognitions)

    view = Page(client.get(f"/my/stories/{story.id}").get_data(as_text=True))
    heading = next(e for e in view.elements if "story-view__title" in (e.attrs.get("class") or ""))
    assert heading.text == story.title
    for name in names:
        assert name in view.text
    if story.customer_name:
        assert story.customer_display in view.text

    mine = Page(client.get("/my/submissions").get_data(as_text=True))
    assert story.title in mine.text

    # Saving the edit form unchanged changes nothing.
    version = edit.value("version")
    resave = {**data, "title": edit.value("title"), "body": edit.value("body"), "version": version}
    assert client.post(f"/stories/{story.id}/edit", data=resave).status_code == 302
    db.session.refresh(story)
    assert (story.title, story.body_md) == (one_line(title), multi_line(body))


@pytest.mark.slow  # the whole corpus
@pytest.mark.parametrize("text", awkward_strings())
def test_quote_round_trip(client, text):
    quote_text = f"{text} (their words)"
    short = text if fits(text, 0, 120) else text[:100]
    response = client.post("/quotes/new", data=quote_form(
        text=quote_text, customer_name=short, customer_role=short,
        customer_organization=short, customer_consent="y",
    ))
    assert response.status_code == 302, Page(response.get_data(as_text=True)).text[:2000]
    quote = db.session.scalars(sa.select(Quote).order_by(Quote.id.desc())).first()
    assert quote.text == multi_line(quote_text)
    assert quote.customer_role == (one_line(short) or None)
    edit = Page(client.get(f"/quotes/{quote.id}/edit").get_data(as_text=True))
    assert edit.value("text") == quote.text
    assert edit.value("customer_role") == (quote.customer_role or "")
    view = Page(client.get(f"/my/quotes/{quote.id}").get_data(as_text=True))
    if quote.customer_name:
        assert quote.attribution in view.text


@pytest.mark.parametrize("field", ["title", "customer_name", "customer_segment", "tags"])
def test_too_long_values_are_refused_with_the_input_kept(client, field):
    from tests.corpora import LONG_WORD

    response = client.post("/stories/new", data=story_form(**{field: LONG_WORD}))
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "at most" in page.text or "Keep the title" in page.text
    assert page.value(field) == LONG_WORD
