"""Reading pages: home, story permalink, person, team, tag and touchpoint pages, pagination."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from app.models import EditionStatus
from app.models import Reaction
from app.models import Role
from app.models import SubmissionStatus
from app.models import utcnow
from app.reading import pagination
from app.reading import queries

P = SubmissionStatus.PUBLISHED


def text(response) -> str:
    return response.get_data(as_text=True)


def published(make_story, *, when: datetime | None = None, **kwargs):
    story = make_story(status=P, **kwargs)
    if when is not None:
        story.published_at = when
    return story


# --------------------------------------------------------------------------- home


def test_home_without_stories_says_what_to_do(app, employee_client):
    page = text(employee_client.get("/"))
    assert "No stories published yet" in page
    if "submissions.new_story" in app.view_functions:
        assert 'href="/stories/new">Share a story' in page
    assert "A year ago this week" not in page


def test_home_shows_edition_highlights_newest_stories_and_quotes(
    db, employee_client, make_story, make_quote, make_edition
):
    featured = published(make_story, title="The airport rescue")
    newer = published(make_story, title="A parcel rerouted")
    quote = make_quote(status=P, text="You made my week.")
    make_edition(status=EditionStatus.SENT, items=[featured, quote], subject="Going further")
    draft = make_story(title="Not yet out")
    db.session.commit()

    page = text(employee_client.get("/"))
    assert "Going further" in page and "#1" in page
    assert "The airport rescue" in page
    assert "A parcel rerouted" in page
    assert "You made my week." in page
    assert draft.title not in page
    # The featured story is not listed twice.
    assert page.count("The airport rescue</a>") == 1
    assert newer.title in page


def test_home_a_year_ago_this_week(db, employee_client, make_story):
    published(make_story, title="Fresh today")
    published(make_story, title="Last year's gem", when=utcnow() - timedelta(weeks=52))
    published(make_story, title="Too old", when=utcnow() - timedelta(weeks=60))
    db.session.commit()

    page = text(employee_client.get("/"))
    assert "A year ago this week" in page
    section = page.split("A year ago this week", 1)[1]
    assert "Last year&#39;s gem" in section or "Last year's gem" in section
    assert "Too old" not in page.split("A year ago this week", 1)[1]


@pytest.mark.parametrize(
    ("now", "tz", "expected_start"),
    [
        # Thursday of ISO week 2026-W48 -> Monday of 2025-W48 in Paris (UTC+1 in winter).
        (
            datetime(2026, 11, 26, 12, tzinfo=UTC),
            "Europe/Paris",
            datetime(2025, 11, 23, 23, tzinfo=UTC),
        ),
        # Week 53 of 2026 has no twin in 2025: it maps to 2025-W52.
        (datetime(2026, 12, 31, 12, tzinfo=UTC), "UTC", datetime(2025, 12, 22, tzinfo=UTC)),
        # Late Sunday evening UTC is already Monday in Tokyo: the local week counts.
        (datetime(2026, 6, 7, 20, tzinfo=UTC), "Asia/Tokyo", datetime(2025, 6, 8, 15, tzinfo=UTC)),
    ],
)
def test_year_ago_window_follows_the_organization_week(now, tz, expected_start):
    start, end = queries.year_ago_window(now, ZoneInfo(tz))
    assert start == expected_start
    assert end - start == timedelta(days=7)


# --------------------------------------------------------------------------- story page


@pytest.fixture
def story_with_everything(db, make_user, make_team, make_story, make_edition):
    team = make_team("Contact Centre")
    author = make_user(display_name="Priya Raman", team=team)
    noah = make_user(display_name="Noah Levi", team=team)
    story = published(
        make_story,
        author=author,
        title="A late-night call that saved a family holiday",
        body="Noah **stayed on the line** and called the airline.",
        colleagues=[noah],
        names=["Marco from the airline desk"],
        tags=["travel", "going the extra mile"],
        touchpoint_slug="phone",
        customer_segment="retail banking",
    )
    make_edition(status=EditionStatus.SENT, items=[story])
    db.session.commit()
    return story, author, noah


def test_story_page_shows_the_story_and_its_links(employee_client, story_with_everything):
    story, author, noah = story_with_everything
    response = employee_client.get(f"/stories/{story.id}")
    assert response.status_code == 200
    page = text(response)
    assert "A late-night call that saved a family holiday" in page
    assert "<strong>stayed on the line</strong>" in page
    assert f'href="/people/{noah.id}">Noah Levi</a>' in page
    assert f'href="/people/{author.id}">Priya Raman</a>' in page
    # A colleague without an account is named but not linked.
    assert "Marco from the airline desk" in page
    assert not re.search(r"<a [^>]*>Marco from the airline desk", page)
    assert f'href="/teams/{story.team_id}"' in page
    assert 'href="/touchpoints/phone"' in page
    assert 'href="/tags/travel"' in page
    assert "a customer in retail banking" in page
    assert "Feel Good Fridays #1" in page or "#1" in page
    assert "Applaud" in page


def test_story_page_links_the_edition_when_the_archive_exists(
    app, employee_client, story_with_everything
):
    if "newsletter.edition" not in app.view_functions:
        pytest.skip("the edition archive (newsletter.edition) is not installed yet")
    story, _, _ = story_with_everything
    assert 'href="/editions/1"' in text(employee_client.get(f"/stories/{story.id}"))


def test_unpublished_story_is_not_shown(db, app, make_user, make_story, login_as, editor):
    author = make_user()
    story = make_story(author=author, status=SubmissionStatus.SUBMITTED)
    stranger = make_user()
    db.session.commit()

    assert login_as(stranger).get(f"/stories/{story.id}").status_code == 404
    assert login_as(stranger).get("/stories/999999").status_code == 404
    for who in (author, editor):
        response = login_as(who).get(f"/stories/{story.id}")
        if "submissions.my_story" in app.view_functions:
            assert response.status_code == 302
            assert response.headers["Location"].endswith(f"/my/stories/{story.id}")
        else:
            assert response.status_code == 404


def test_who_applauded_is_shown_to_every_signed_in_colleague(
    db, login_as, make_user, story_with_everything
):
    story, author, noah = story_with_everything
    fan = make_user(display_name="Grace Kim")
    reader = make_user()
    db.session.add(Reaction(user_id=fan.id, story_id=story.id))
    db.session.commit()

    for who in (author, noah, fan, reader):
        page = text(login_as(who).get(f"/stories/{story.id}"))
        assert "Applauded by" in page and "Grace Kim" in page
    assert "You applauded this story." in text(login_as(fan).get(f"/stories/{story.id}"))


# --------------------------------------------------------------------------- people, teams


def test_person_page_lists_recognized_and_shared_stories(
    db, employee_client, make_user, make_story
):
    person = make_user(display_name="Noah Levi")
    older = published(
        make_story, title="Older kudos", colleagues=[person], when=utcnow() - timedelta(days=9)
    )
    newer = published(make_story, title="Newer kudos", colleagues=[person])
    shared = published(make_story, author=person, title="Noah shares one")
    hidden = make_story(title="Draft kudos", colleagues=[person])
    db.session.add(Reaction(user_id=shared.author_id, story_id=newer.id))
    db.session.commit()

    page = text(employee_client.get(f"/people/{person.id}"))
    assert page.index(newer.title) < page.index(older.title)  # newest first
    assert "Noah shares one" in page
    assert hidden.title not in page
    assert re.search(r'stat__value">2</span> <span class="stat__label">stories recognizing', page)
    assert re.search(r'stat__value">1</span> <span class="stat__label">applause', page)


def test_person_page_empty_states(db, login_as, employee, make_user):
    page = text(login_as(employee).get(f"/people/{employee.id}"))
    assert "No stories about you yet" in page
    assert "You haven’t shared a story yet" in page
    other = make_user(display_name="Sam Ortiz")
    db.session.commit()
    page = text(login_as(employee).get(f"/people/{other.id}"))
    assert "No stories about Sam Ortiz yet" in page


def test_people_me_and_unknown_person(employee_client, employee):
    response = employee_client.get("/people/me")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/people/{employee.id}"
    )
    assert employee_client.get("/people/999999").status_code == 404


def test_team_tag_and_touchpoint_pages(db, employee_client, make_team, make_user, make_story):
    team = make_team("Logistics")
    member = make_user(team=team, display_name="Ella Novak")
    published(
        make_story,
        team=team,
        title="Pallet rerouted",
        colleagues=[member],
        tags=["speed"],
        touchpoint_slug="chat",
    )
    published(make_story, title="Elsewhere", tags=["other"], touchpoint_slug="store")
    db.session.commit()

    page = text(employee_client.get(f"/teams/{team.id}"))
    assert "Pallet rerouted" in page and "Elsewhere" not in page
    assert "Ella Novak" in page  # recognized colleagues of the team
    page = text(employee_client.get("/tags/speed"))
    assert "Pallet rerouted" in page and "Elsewhere" not in page
    page = text(employee_client.get("/tags/SPEED"))
    assert "Pallet rerouted" in page
    page = text(employee_client.get("/touchpoints/chat"))
    assert "Pallet rerouted" in page and "Elsewhere" not in page

    assert employee_client.get("/teams/999999").status_code == 404
    assert employee_client.get("/tags/nope").status_code == 404
    assert employee_client.get("/touchpoints/nope").status_code == 404


def test_topic_pages_with_nothing_published_yet(db, employee_client, make_team, make_story):
    team = make_team("Finance")
    make_story(team=team, tags=["quiet"])  # a draft
    db.session.commit()
    assert "No stories from Finance yet" in text(employee_client.get(f"/teams/{team.id}"))
    assert "No published stories tagged #quiet yet" in text(employee_client.get("/tags/quiet"))


def test_reading_pages_need_a_signed_in_user(client):
    for url in ("/", "/stories/1", "/people/1", "/teams/1", "/tags/x", "/touchpoints/x", "/search"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_user_text_is_escaped(db, employee_client, make_user, make_story):
    evil = make_user(display_name='<script>alert("x")</script>')
    story = published(
        make_story, author=evil, title="<img src=x onerror=alert(1)>", colleagues=[evil]
    )
    db.session.commit()
    for url in (f"/stories/{story.id}", f"/people/{evil.id}", "/", "/search"):
        page = text(employee_client.get(url))
        assert "<script>alert" not in page and "<img src=x" not in page, url


# --------------------------------------------------------------------------- pagination


def _links(page: str) -> dict[str, str]:
    found = {}
    for rel in ("prev", "next"):
        m = re.search(rf'href="([^"]+)" rel="{rel}"', page)
        if m:
            found[rel] = m.group(1).replace("&amp;", "&")
    return found


def test_keyset_pages_walk_forward_and_back(db, employee_client, make_team, make_story):
    team = make_team("Retail")
    base = utcnow() - timedelta(days=40)
    stories = [
        published(
            make_story, team=team, title=f"Story number {i:02d}", when=base + timedelta(hours=i)
        )
        for i in range(30)
    ]
    # Two stories with the same publication time: the id breaks the tie, none is skipped.
    stories[5].published_at = stories[6].published_at
    db.session.commit()
    newest_first = sorted(stories, key=lambda s: (s.published_at, s.id), reverse=True)
    expected = [s.title for s in newest_first]

    seen, urls, url = [], [], f"/teams/{team.id}"
    while url:
        urls.append(url)
        page = text(employee_client.get(url))
        seen += re.findall(r"Story number \d\d", page)
        url = _links(page).get("next")
    assert seen == expected
    assert len(urls) == 3  # 12 + 12 + 6

    last = text(employee_client.get(urls[-1]))
    back = text(employee_client.get(_links(last)["prev"]))
    assert re.findall(r"Story number \d\d", back) == expected[12:24]
    first = text(employee_client.get(_links(back)["prev"]))
    assert re.findall(r"Story number \d\d", first) == expected[:12]
    assert "prev" not in _links(first)


def test_garbled_cursor_gives_the_first_page(db, employee_client, make_team, make_story):
    team = make_team("Digital")
    published(make_story, team=team, title="Only one")
    db.session.commit()
    for cursor in ("garbage", "e30", "W1siYSJdLDBd", "x" * 500, "WyJ4IiwxXQ"):
        response = employee_client.get(f"/teams/{team.id}?cursor={cursor}")
        assert response.status_code == 200 and "Only one" in text(response)


def test_cursor_round_trip():
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    token = pagination.encode((when, 42), backward=True)
    assert pagination.decode(token, (datetime, int)) == pagination.Cursor((when, 42), True)
    assert pagination.decode(pagination.encode((0.125, 7)), (float, int)).values == (0.125, 7)
    assert pagination.decode(token, (int, int)) is None
    assert pagination.decode(pagination.encode((True, 1)), (int, int)) is None
    assert pagination.decode(pagination.encode(("2026-03-01T09:30:00", 1)), (datetime, int)) is None


def test_editors_and_admins_can_read_too(db, login_as, make_user, make_story):
    story = published(make_story, title="Readable by all")
    db.session.commit()
    for role in (Role.EDITOR, Role.ADMIN):
        assert login_as(make_user(role)).get(f"/stories/{story.id}").status_code == 200


# --------------------------------------------------------------------------- card covers


class _Covers(HTMLParser):
    """The cover pictures of the story cards on a page: their attributes, in page order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[dict[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img" and "story-card__cover" in (attributes.get("class") or "").split():
            self.found.append(attributes)


def test_cards_show_the_cover_on_home_search_and_person_pages(
    db, employee_client, make_user, make_story
):
    noah = make_user(display_name="Noah Levi")
    author = make_user(display_name="Priya Raman")
    with_cover = published(
        make_story,
        author=author,
        title="The harbour rescue",
        colleagues=[noah],
        cover_image="c0ffee.jpg",
        cover_image_alt='A ferry at dusk, "in fog" <b>',
    )
    published(make_story, author=author, title="No picture here", colleagues=[noah])
    db.session.commit()

    for url in ("/", "/search", "/search?q=harbour", f"/people/{noah.id}", f"/people/{author.id}"):
        page = text(employee_client.get(url))
        assert "No picture here" in page or "q=" in url, url
        covers = _Covers(page).found
        assert len(covers) == 1, (url, covers)  # only the story that has one
        cover = covers[0]
        assert cover["src"] == f"/uploads/{with_cover.cover_image}", url
        assert cover["alt"] == 'A ferry at dusk, "in fog" <b>', url  # escaped, read back
        assert (cover["loading"], cover["width"], cover["height"]) == ("lazy", "640", "360")
        assert '"in fog" <b>' not in page  # the description never becomes markup


def test_card_excerpts_keep_list_items_on_their_own_lines(db, employee_client, make_story):
    published(
        make_story,
        title="Three fixes in one call",
        body="We fixed three things:\n\n- the login\n- the <b>invoice</b>\n- the export",
    )
    db.session.commit()
    page = text(employee_client.get("/"))
    assert (
        '<p class="story-card__excerpt">We fixed three things:<br>• the login'
        "<br>• the &lt;b&gt;invoice&lt;/b&gt;<br>• the export</p>"
    ) in page
