"""Applause from the email: the link opens a confirmation (a GET never applauds: mail scanners
open links), the button applauds once as the person the link names, and every link that cannot
applaud is refused with a way to sign in."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa

from app.engagement import tokens
from app.engagement.recipients import RecipientKeys
from app.extensions import db
from app.models import EditionStatus
from app.models import Reaction
from app.models import SubmissionStatus
from tests import factories
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of


@pytest.fixture
def sent(app):
    """A sent edition with its published story, and a reader with an applause link."""
    edition = seed_edition(status=EditionStatus.SENT)
    story = story_of(edition)
    story.status = SubmissionStatus.PUBLISHED
    reader = factories.make_user(display_name="Rita Reader", email="rita@example.com")
    db.session.commit()
    token = RecipientKeys(edition.id).applause(reader.id)
    return edition, story, reader, token


def _applause(story_id: int) -> list[int]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(Reaction.user_id).where(Reaction.story_id == story_id)))


def test_the_link_asks_first_and_a_get_never_applauds(client, sent):
    edition, story, reader, token = sent
    for _ in range(3):  # a mail scanner, a preview pane, the reader
        response = client.get(f"/a/{story.id}/{token}")
        assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Applaud “A late-night call that saved a family holiday”?" in page
    assert "Noah Levi, Amina Diallo" in page and "Rita Reader" in page
    assert '<button type="submit"' in page
    assert client.head(f"/a/{story.id}/{token}").status_code == 200
    assert _applause(story.id) == []


def test_the_button_applauds_once_even_when_pressed_twice(client, sent):
    edition, story, reader, token = sent
    first = client.post(f"/a/{story.id}/{token}")
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert "Thank you!" in page and f'href="/stories/{story.id}"' in page
    second = client.post(f"/a/{story.id}/{token}")
    assert second.status_code == 200
    assert _applause(story.id) == [reader.id]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_form_works_with_the_anonymous_session_csrf_token(client, sent):
    edition, story, reader, token = sent
    assert client.post(f"/a/{story.id}/{token}").status_code == 400  # no CSRF token
    assert _applause(story.id) == []
    page = client.get(f"/a/{story.id}/{token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    csrf = csrf or re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, page
    response = client.post(f"/a/{story.id}/{token}", data={"csrf_token": csrf.group(1)})
    assert response.status_code == 200 and "Thank you!" in response.get_data(as_text=True)
    assert _applause(story.id) == [reader.id]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_a_failed_press_says_so_and_offers_the_button_again(client, sent):
    """A POST whose CSRF token is missing or stale (the session expired while the page was
    open) must not look like the same page again: the reader would think it counted."""
    edition, story, reader, token = sent
    for data in ({}, {"csrf_token": "stale"}):
        response = client.post(f"/a/{story.id}/{token}", data=data)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Your applause was not recorded" in page and "Please press Applaud again." in page
        assert 'role="alert"' in page and '<button type="submit"' in page
        assert 'name="csrf_token"' in page  # a fresh token: the next press works
    assert _applause(story.id) == []
    assert "not recorded" not in client.get(f"/a/{story.id}/{token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    response = client.post(f"/a/{story.id}/{token}", data={"csrf_token": csrf.group(1)})
    assert "Thank you!" in response.get_data(as_text=True)
    assert _applause(story.id) == [reader.id]


def _refused(client, story_id: int, token: str, reason: str) -> None:
    for method in ("GET", "POST"):
        response = client.open(f"/a/{story_id}/{token}", method=method)
        assert response.status_code == 400, (method, token)
        page = response.get_data(as_text=True)
        assert reason in page, page
        assert "/login?next=" in page and f"stories/{story_id}" in page  # sign in, then applaud


def test_an_expired_link_is_refused(client, sent, app):
    edition, story, reader, _ = sent
    days = app.config["APPLAUSE_LINK_MAX_AGE_DAYS"]
    old = tokens.ApplauseTokens(edition.id, now=time.time() - days * 86400 - 60).make(reader.id)
    _refused(client, story.id, old, "expired")
    fresh = tokens.ApplauseTokens(edition.id, now=time.time() - days * 86400 + 60).make(reader.id)
    assert client.get(f"/a/{story.id}/{fresh}").status_code == 200
    assert _applause(story.id) == []


def _flip(signature: str) -> str:
    """The signature with its first character changed (the last one carries padding bits, so
    changing it can leave the decoded bytes as they were)."""
    return ("B" if signature[0] != "B" else "C") + signature[1:]


def test_a_tampered_link_is_refused(client, sent):
    edition, story, reader, token = sent
    other = factories.make_user(email="other@example.com")
    db.session.commit()
    value, stamp, signature = token.split(".")
    for bad in (
        f"{other.id}e{edition.id}.{stamp}.{signature}",  # someone else's id, this signature
        f"{value}.{stamp}.{_flip(signature)}",
        f"{value}.{stamp}",
        tokens.FastSigner(tokens.TAG_SALT).sign(f"{value}.{stamp}"),  # another salt's key
        "x", "..", "0e0.AAAA.AAAA",
    ):
        _refused(client, story.id, bad, "not valid")
    assert _applause(story.id) == []


def test_a_deactivated_reader_cannot_applaud(client, sent):
    edition, story, reader, token = sent
    assert client.get(f"/a/{story.id}/{token}").status_code == 200
    reader.is_active_user = False
    db.session.commit()
    _refused(client, story.id, token, "no longer active")
    assert _applause(story.id) == []


def test_only_a_published_story_of_the_links_edition(client, sent):
    edition, story, reader, token = sent
    elsewhere = factories.make_story(status=SubmissionStatus.PUBLISHED)
    db.session.commit()
    _refused(client, elsewhere.id, token, "cannot be applauded from this link")
    _refused(client, 2_147_483_647, token, "cannot be applauded from this link")
    later = factories.make_edition(number=50, status=EditionStatus.SENT)
    db.session.commit()
    other_edition_token = RecipientKeys(later.id).applause(reader.id)
    _refused(client, story.id, other_edition_token, "cannot be applauded from this link")
    story.status = SubmissionStatus.APPROVED  # not (or no longer) published
    db.session.commit()
    _refused(client, story.id, token, "cannot be applauded from this link")
    assert _applause(story.id) == [] and _applause(elsewhere.id) == []


def test_recipients_without_an_account_are_offered_sign_in(client, sent, employee_client):
    edition, story, reader, _ = sent
    for method in ("GET", "POST"):
        response = client.open(f"/a/{story.id}/-", method=method)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "Sign in to applaud" in page and "/login?next=" in page
    page = employee_client.get(f"/a/{story.id}/-").get_data(as_text=True)
    assert f'href="/stories/{story.id}"' in page  # already signed in: straight to the story
    assert _applause(story.id) == []


def test_the_link_applauds_as_its_person_whoever_is_signed_in(sent, employee_client, employee):
    edition, story, reader, token = sent
    assert employee_client.post(f"/a/{story.id}/{token}").status_code == 200
    assert _applause(story.id) == [reader.id]
