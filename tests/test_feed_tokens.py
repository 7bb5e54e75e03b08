"""The private Atom feed: a secret address per person for feed readers (which cannot sign in),
created and turned off on the profile page, stored only as a SHA-256 hash, one working address
per person; it serves the signed-in feed's document (sent editions only) to a plain HTTP client
without cookies, and stops working when replaced, turned off or its owner is deactivated."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest
import sqlalchemy as sa

from app.branding import services
from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.models import EditionStatus
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from tests.querycount import count_queries
from tests.test_submissions import Page

ATOM = "{http://www.w3.org/2005/Atom}"
FEED_RE = re.compile(r"http://localhost(/feeds/(fgf_feed_[A-Za-z0-9_-]{43})/editions\.atom)")


def create(client) -> tuple[str, str]:
    """POST "create my feed address"; returns (path, secret) from the page shown once."""
    response = client.post("/account/feed")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = Page(response.get_data(as_text=True))
    match = FEED_RE.fullmatch(page.by_id("feed-url").attrs["value"])
    assert match, page.by_id("feed-url").attrs
    return match.group(1), match.group(2)


def tokens_of(user: User) -> list[AccessToken]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(AccessToken).where(AccessToken.created_by_id == user.id)
        .order_by(AccessToken.id)))


@pytest.fixture
def editions(db, make_story, make_edition):
    """Two sent editions and one of each other status: only the sent ones belong in a feed."""
    made = {}
    for number, status in enumerate(
        (EditionStatus.SENT, EditionStatus.SENT, EditionStatus.SKIPPED, EditionStatus.SCHEDULED,
         EditionStatus.DRAFT), start=1,
    ):
        story = make_story(status=SubmissionStatus.PUBLISHED if status == EditionStatus.SENT
                           else SubmissionStatus.APPROVED, title=f"Story of edition {number}")
        made[number] = make_edition(status=status, number=number, items=[story],
                                    subject=f"Week {number} & <friends>")
    made[1].sent_at = utcnow() - timedelta(days=7)
    db.session.commit()
    return made


def test_the_whole_lifecycle(app, employee, login_as, editions):
    client = login_as(employee)
    html = client.get("/account/").get_data(as_text=True)
    assert "Your private feed" in html and "Your private feed is off." in html

    path, secret = create(client)
    [token] = tokens_of(employee)
    assert token.purpose == "feed" and token.revoked_at is None and token.last_used_at is None
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(db.session.execute(sa.text("SELECT * FROM access_tokens")).all())

    reader = app.test_client(use_cookies=False)  # a feed reader: no session, no cookies
    response = reader.get(path)
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    assert "Set-Cookie" not in response.headers
    root = ET.fromstring(response.data)
    assert root.tag == f"{ATOM}feed"
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == f"http://localhost{path}"
    entries = root.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == [
        "Feel Good Fridays #2: Week 2 & <friends>", "Feel Good Fridays #1: Week 1 & <friends>"]
    assert [e.find(f"{ATOM}link").get("href") for e in entries] == [
        "http://localhost/editions/2", "http://localhost/editions/1"]
    assert "Story of edition 2" in entries[0].find(f"{ATOM}content").text
    assert not any(f"Story of edition {n}" in response.get_data(as_text=True) for n in (3, 4, 5))

    html = client.get("/account/").get_data(as_text=True)
    assert "Create a new feed address" in html and "Turn off" in html
    assert secret not in html  # shown once, never again

    new_path, new_secret = create(client)  # "Create a new feed address": the old one stops
    assert new_secret != secret
    assert reader.get(path).status_code == 404
    assert reader.get(new_path).status_code == 200
    old, new = tokens_of(employee)
    assert old.revoked_at is not None and new.revoked_at is None

    response = client.post("/account/feed/off")
    assert response.status_code == 302 and response.location.endswith("/account/#feed")
    assert reader.get(new_path).status_code == 404
    assert all(t.revoked_at is not None for t in tokens_of(employee))
    assert "Your private feed is off." in client.get("/account/").get_data(as_text=True)
    actions = list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action.like("feed.token.%")).order_by(AuditEvent.id)))
    assert actions == ["feed.token.create", "feed.token.create", "feed.token.revoke"]


def test_the_signed_in_feed_is_the_same_document(app, employee, login_as, editions):
    client = login_as(employee)
    path, _ = create(client)
    private = app.test_client(use_cookies=False).get(path).get_data(as_text=True)
    signed_in = client.get("/editions.atom").get_data(as_text=True)
    assert private.replace(f"http://localhost{path}", "SELF") == signed_in.replace(
        "http://localhost/editions.atom", "SELF")


def test_one_working_address_per_person_and_people_are_apart(app, make_user, login_as, editions):
    ana, ben = make_user(), make_user()
    db.session.commit()
    ana_path, _ = create(login_as(ana))
    ben_path, _ = create(login_as(ben))
    reader = app.test_client(use_cookies=False)
    assert reader.get(ana_path).status_code == 200 and reader.get(ben_path).status_code == 200
    login_as(ben).post("/account/feed/off")
    assert reader.get(ben_path).status_code == 404
    assert reader.get(ana_path).status_code == 200  # Ana's is her own


def test_a_deactivated_owner_s_address_stops_working(app, make_user, login_as, editions):
    ana, ben = make_user(), make_user()
    db.session.commit()
    ana_path, _ = create(login_as(ana))
    ben_path, _ = create(login_as(ben))
    ben.is_active_user = False
    db.session.commit()
    reader = app.test_client(use_cookies=False)
    assert reader.get(ben_path).status_code == 404
    assert reader.get(ana_path).status_code == 200


@pytest.mark.parametrize("secret", [
    "fgf_feed_" + "A" * 43, "x", "fgf_feed_", "%00", "a" * 101, "fgf_feed_" + "é" * 20,
])
def test_unknown_addresses_are_404(app, employee, login_as, editions, secret):
    create(login_as(employee))
    response = app.test_client(use_cookies=False).get(f"/feeds/{secret}/editions.atom")
    assert response.status_code == 404


def test_the_secret_is_looked_up_by_its_hash(app, employee, login_as, editions):
    path, secret = create(login_as(employee))
    prefix_only = path.replace(secret, secret[:-1])
    reader = app.test_client(use_cookies=False)
    assert reader.get(prefix_only).status_code == 404
    with count_queries() as log:
        reader.get(path)
    lookups = [s for s in log.statements if "access_tokens" in s and "token_hash" in s]
    assert lookups and secret not in " ".join(log.statements)


def test_last_used_is_noted_at_most_once_an_hour(app, employee, login_as, editions):
    path, _ = create(login_as(employee))
    reader = app.test_client(use_cookies=False)
    reader.get(path)
    [token] = tokens_of(employee)
    first = token.last_used_at
    assert first is not None and utcnow() - first < timedelta(minutes=1)

    with count_queries() as log:
        reader.get(path)
    assert not [s for s in log.statements if s.lstrip().upper().startswith("UPDATE")]
    assert tokens_of(employee)[0].last_used_at == first

    token = tokens_of(employee)[0]
    token.last_used_at = utcnow() - timedelta(minutes=59)
    db.session.commit()
    reader.get(path)
    assert utcnow() - tokens_of(employee)[0].last_used_at > timedelta(minutes=58)

    token = tokens_of(employee)[0]
    token.last_used_at = utcnow() - timedelta(minutes=61)
    db.session.commit()
    reader.get(path)
    assert utcnow() - tokens_of(employee)[0].last_used_at < timedelta(minutes=1)
    html = login_as(employee).get("/account/").get_data(as_text=True)
    assert "Last read by a feed reader" in html and "Not yet" not in html


def test_the_touch_writes_once_when_two_readers_poll_together(app, employee):
    token, _ = services.create_feed_token(employee)
    db.session.commit()
    now = utcnow()
    services.touch_feed_token(token.id, now)
    services.touch_feed_token(token.id, now + timedelta(minutes=5))  # within the hour: no-op
    db.session.commit()
    assert tokens_of(employee)[0].last_used_at == now


def test_an_unchanged_feed_answers_304(app, employee, login_as, editions, make_story,
                                       make_edition):
    path, _ = create(login_as(employee))
    reader = app.test_client(use_cookies=False)
    first = reader.get(path)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert first.headers["X-Robots-Tag"] == "noindex"
    again = reader.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    make_edition(status=EditionStatus.SENT, number=6,
                 items=[make_story(status=SubmissionStatus.PUBLISHED)])
    db.session.commit()
    assert reader.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_turning_off_a_feed_that_is_off_says_so(employee_client):
    response = employee_client.post("/account/feed/off", follow_redirects=True)
    assert "Your private feed is already off." in response.get_data(as_text=True)


def test_the_feed_with_no_editions_is_valid(app, employee, login_as):
    path, _ = create(login_as(employee))
    root = ET.fromstring(app.test_client(use_cookies=False).get(path).data)
    assert root.findall(f"{ATOM}entry") == [] and root.find(f"{ATOM}updated").text.endswith("Z")


@pytest.mark.parametrize("url", ["/account/feed", "/account/feed/off"])
def test_creating_and_turning_off_need_a_signed_in_person(client, url):
    response = client.post(url)
    assert response.status_code == 302 and "/login" in response.location
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 0


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_buttons_need_the_csrf_token(app, employee, login_as):
    client = login_as(employee)
    assert client.post("/account/feed").status_code == 400
    assert tokens_of(employee) == []


def test_the_profile_buttons_ask_first(employee, login_as, editions):
    client = login_as(employee)
    create(client)
    page = Page(client.get("/account/").get_data(as_text=True))
    forms = {e.attrs.get("action"): e for e in page.elements if e.tag == "form"}
    assert "stops working" in forms["/account/feed"].attrs["data-confirm"]
    assert "Turn off your private feed?" in forms["/account/feed/off"].attrs["data-confirm"]


def test_the_archive_explains_the_feed(employee_client, editions):
    page = Page(employee_client.get("/editions").get_data(as_text=True))
    assert "Follow in your feed reader" in page.text
    hrefs = {e.attrs.get("href") for e in page.elements if e.tag == "a"}
    assert "/account/#feed" in hrefs and "/editions.atom" in hrefs
