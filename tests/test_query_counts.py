"""Every reading page costs the same number of SQL queries with 5 items as with 200.

Each test builds a page's data with 5 items, counts the queries of one request (after a warm-up
request, so per-process caches are equal), grows the data to 200 items and counts again. The
reading cache (app/reading/cache.py) is off here, so the real queries are counted;
tests/test_reading_cache.py covers what a page costs when it is on.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import url_for

from app.models import EditionItem
from app.models import EditionStatus
from app.models import Reaction
from app.models import Recognition
from app.models import SubmissionStatus
from app.models import Tag
from app.models import utcnow
from tests.querycount import count_queries

pytestmark = pytest.mark.app_config(READING_CACHE_SECONDS=0)
P = SubmissionStatus.PUBLISHED
SMALL, LARGE = 5, 200
# A generous ceiling, so a page that quietly grew a query per widget is noticed too.
MAX_QUERIES = 25


def queries_for(client, url: str) -> int:
    assert client.get(url).status_code == 200, url  # warm-up
    with count_queries() as log:
        response = client.get(url)
    assert response.status_code == 200, url
    return log.count


def assert_flat(db, client, url: str, grow) -> None:
    grow(SMALL)
    db.session.commit()
    small = queries_for(client, url)
    grow(LARGE - SMALL)
    db.session.commit()
    large = queries_for(client, url)
    assert small == large, f"{url}: {small} queries with {SMALL} items, {large} with {LARGE}"
    assert large <= MAX_QUERIES, f"{url}: {large} queries"


@pytest.fixture
def people(db, make_user, make_team):
    team = make_team("Everyone")
    return [make_user(team=team) for _ in range(8)], team


def add_applause(db, story, users) -> None:
    for user in users:
        db.session.add(Reaction(user_id=user.id, story_id=story.id))


def test_home(db, employee_client, make_story, make_quote, make_edition, people):
    users, _ = people
    edition = make_edition(status=EditionStatus.SENT)

    def grow(n: int) -> None:
        for _ in range(n):
            story = make_story(status=P, colleagues=users[:2], names=["A partner"], tags=["x", "y"])
            add_applause(db, story, users[2:4])
            old = make_story(status=P, colleagues=users[:1], tags=["z"])
            old.published_at = utcnow() - timedelta(weeks=52)
            quote = make_quote(status=P)
            position = len(edition.items)
            edition.items.append(EditionItem(story=story, position=position))
            edition.items.append(EditionItem(quote=quote, position=position + 1))

    assert_flat(db, employee_client, "/", grow)


def test_story_page(db, login_as, make_user, make_story, make_quote, make_team, make_edition):
    team = make_team("Storytellers")
    author = make_user(team=team)
    story = make_story(author=author, status=P, team=team)
    make_edition(status=EditionStatus.SENT, items=[story])
    client = login_as(author)  # who applauded: shown to everyone, from the cache

    def grow(n: int) -> None:
        start = len(story.recognitions)
        for i in range(n):
            fan = make_user()
            story.recognitions.append(Recognition(user=make_user(), position=start + i))
            story.tags.append(Tag(name=f"tag-{start + i}"))
            add_applause(db, story, [fan])
            make_quote(status=P, story_id=story.id)
            make_story(status=P, team=team, colleagues=[fan], tags=["more"])

    assert_flat(db, client, f"/stories/{story.id}", grow)


def test_person_page(db, employee_client, make_user, make_story, people):
    users, _ = people
    person = make_user(display_name="Often Thanked")

    def grow(n: int) -> None:
        for _ in range(n):
            recognized = make_story(status=P, colleagues=[person, users[0]], tags=["a", "b"])
            add_applause(db, recognized, users[1:3])
            make_story(status=P, author=person, colleagues=[users[1]], names=["Partner"])

    assert_flat(db, employee_client, f"/people/{person.id}", grow)


def test_team_page(db, employee_client, make_user, make_story, make_team):
    team = make_team("Growing Team")

    def grow(n: int) -> None:
        for _ in range(n):
            member = make_user(team=team)
            story = make_story(status=P, team=team, colleagues=[member], tags=["t"])
            add_applause(db, story, [member])

    assert_flat(db, employee_client, f"/teams/{team.id}", grow)


@pytest.mark.parametrize("url", ["/tags/kindness", "/touchpoints/store"])
def test_tag_and_touchpoint_pages(db, employee_client, make_story, people, url):
    users, _ = people

    def grow(n: int) -> None:
        for _ in range(n):
            story = make_story(status=P, colleagues=users[:2], tags=["kindness", "other"],
                               touchpoint_slug="store")
            add_applause(db, story, users[2:3])

    assert_flat(db, employee_client, url, grow)


@pytest.mark.parametrize("url", ["/search?q=helpful", "/search", "/search?q=helpful&tag=1"])
def test_search_page(db, employee_client, make_story, make_quote, people, url):
    users, _ = people

    def grow(n: int) -> None:
        for i in range(n):
            story = make_story(status=P, title=f"Helpful story {i}", colleagues=users[:2],
                               names=["Partner"], tags=["helpful"])
            add_applause(db, story, users[2:4])
            make_quote(status=P, text=f"So helpful, thank you ({i})")
            make_story(status=P, title=f"Unrelated {i}")

    assert_flat(db, employee_client, url, grow)


def test_edition_archive(app, db, employee_client, make_story, make_quote, make_edition):
    """The newsletter's archive (/editions), once it exists."""
    endpoint = next(
        (r.endpoint for r in app.url_map.iter_rules() if r.rule == "/editions"), None
    )
    if endpoint is None:
        pytest.skip("the edition archive (/editions) is not installed yet")

    def grow(n: int) -> None:
        for _ in range(n):
            items = [make_story(status=P), make_quote(status=P)]
            make_edition(status=EditionStatus.SENT, items=items)

    with app.test_request_context():
        url = url_for(endpoint)
    assert_flat(db, employee_client, url, grow)


def test_cards_with_covers_cost_no_extra_queries(db, employee_client, make_user, make_story,
                                                 people):
    """A cover comes with the card's own row: the same count with pictures as without."""
    users, _ = people
    person = make_user(display_name="Pictured Often")
    db.session.commit()
    urls = ["/", "/search", "/search?q=pictured", f"/people/{person.id}"]

    def grow(n: int, *, cover: bool) -> None:
        for i in range(n):
            extra = {"cover_image": f"cover{i}.jpg", "cover_image_alt": "A photo"} if cover else {}
            make_story(status=P, title=f"Pictured story {i}", colleagues=[person, users[0]],
                       tags=["a"], **extra)

    grow(SMALL, cover=False)
    db.session.commit()
    plain = {url: queries_for(employee_client, url) for url in urls}
    grow(LARGE, cover=True)
    db.session.commit()
    for url in urls:
        assert "story-card__cover" in employee_client.get(url).get_data(as_text=True), url
        assert queries_for(employee_client, url) == plain[url], url
