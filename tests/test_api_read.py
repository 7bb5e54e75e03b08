"""The API's read side: stories, quotes, editions, people, search and insights.

What only published content (and sent editions) is visible, exactly like a missing one
otherwise; what each representation shows (never more than the web: no Markdown source, no
hidden customer detail, no email or role); filters; keyset pages that neither repeat nor skip
when something is published between two pages; cursors bound to their list and filters; ETags;
odd input (huge ids, bad limits, control characters) answered with problems; scopes; and a
constant number of queries per page whatever its size.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Comment
from app.models import EditionStatus
from app.models import QuoteSource
from app.models import Reaction
from app.models import Role
from app.models import SubmissionStatus as S
from app.reading.queries import person_profile
from tests import factories
from tests.querycount import count_queries

PROBLEM = "application/problem+json"
BASE = "http://localhost"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return response.get_json(force=True)


def _ok(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _published(n: int, **kwargs) -> list:
    """n published stories, one hour apart (the last is the newest)."""
    return [factories.make_story(status=S.PUBLISHED, published_at=T0 + timedelta(hours=i),
                                 **kwargs) for i in range(n)]


def _all_pages(api, url: str, limit: int) -> list[dict]:
    pages, cursor = [], None
    while True:
        sep = "&" if "?" in url else "?"
        page = _ok(api.get(f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture
def reader(app, api_as, employee):
    return api_as(employee, "read")


# --------------------------------------------------------------------------- stories


def test_a_published_story_as_the_web_shows_it(app, reader, employee):
    team = factories.make_team("Care")
    noah = factories.make_user(display_name="Noah Levi", team=team)
    story = factories.make_story(
        employee, status=S.PUBLISHED, title="Holiday saved", team=team,
        body="**Thanks** <script>alert(1)</script> to [Noah](https://example.com).",
        colleagues=[noah], names=["Sam from the night shift"], tags=["Loyalty", "care"],
        customer_name="Mrs Secret", customer_organization="Hidden Ltd",
        customer_segment="retail banking", customer_consent=False, published_at=T0)
    edition = factories.make_edition(status=EditionStatus.SENT, items=[story])
    factories.make_edition(status=EditionStatus.DRAFT, items=[])
    for fan in (factories.make_user(), factories.make_user()):
        db.session.add(Reaction(user_id=fan.id, story_id=story.id))
    db.session.add(Comment(story_id=story.id, author_id=noah.id, body="Bravo"))
    db.session.add(Comment(story_id=story.id, author_id=noah.id, body="Gone",
                           removed_at=T0, removed_by_id=noah.id))
    db.session.commit()

    body = _ok(reader.get(f"/api/v1/stories/{story.id}"))
    assert body["id"] == story.id and body["title"] == "Holiday saved"
    assert body["body_html"] == story.body_html and "<script" not in body["body_html"]
    assert "<strong>Thanks</strong>" in body["body_html"]
    assert "body_md" not in body and "**Thanks**" not in str(body)
    assert body["customer"] == "a customer in retail banking"
    assert "Secret" not in str(body) and "Hidden" not in str(body)
    assert body["author"] == {"id": employee.id, "name": "Erin Employee", "team": None}
    assert body["team"] == {"id": team.id, "name": "Care"}
    assert body["touchpoint"]["slug"] == "store"
    assert [t["name"] for t in body["tags"]] == ["care", "loyalty"]
    assert body["colleagues"] == [
        {"id": noah.id, "name": "Noah Levi", "team": {"id": team.id, "name": "Care"}},
        {"id": None, "name": "Sam from the night shift", "team": None},
    ]
    assert body["applause"] == 2 and body["comments"] == 1
    assert body["edition"] == edition.id
    assert body["url"] == f"{BASE}/stories/{story.id}"
    assert datetime.fromisoformat(body["published_at"]) == T0
    assert "email" not in str(body)


@pytest.mark.parametrize("status", [S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED, S.APPROVED,
                                    S.REJECTED, S.WITHDRAWN])
def test_an_unpublished_story_is_404_like_a_missing_one(app, reader, status):
    hidden = factories.make_story(status=status, title="Not yet")
    shown = _published(1)[0]
    db.session.commit()
    missing = _problem(reader.get(f"/api/v1/stories/{hidden.id + 1000}"), 404)
    assert _problem(reader.get(f"/api/v1/stories/{hidden.id}"), 404) == missing
    listed = _ok(reader.get("/api/v1/stories"))["data"]
    assert [s["id"] for s in listed] == [shown.id]


@pytest.mark.parametrize("path", [
    "/api/v1/stories/2147483648", "/api/v1/stories/99999999999999999999",
    "/api/v1/quotes/2147483648", "/api/v1/editions/99999999999999", "/api/v1/people/2147483648",
    "/api/v1/stories/0", "/api/v1/stories/-1",
])
def test_huge_or_zero_ids_are_404_problems(app, reader, path):
    _problem(reader.get(path), 404)


def test_story_filters_combine(app, reader):
    care, sales = factories.make_team("Care"), factories.make_team("Sales")
    noah = factories.make_user(display_name="Noah Levi")
    a = factories.make_story(status=S.PUBLISHED, team=care, tags=["Loyalty"], colleagues=[noah],
                             published_at=T0)
    b = factories.make_story(status=S.PUBLISHED, team=care, touchpoint_slug="phone",
                             published_at=T0 + timedelta(days=1))
    c = factories.make_story(status=S.PUBLISHED, team=sales, tags=["loyalty"],
                             published_at=T0 + timedelta(days=2))
    db.session.commit()
    phone = factories.touchpoint("phone")

    def ids(query: str) -> list[int]:
        return [s["id"] for s in _ok(reader.get(f"/api/v1/stories?{query}"))["data"]]

    assert ids("") == [c.id, b.id, a.id]
    assert ids(f"team_id={care.id}") == [b.id, a.id]
    assert ids("touchpoint=phone") == [b.id]
    assert ids(f"touchpoint={phone.id}") == [b.id]
    assert ids("touchpoint=nowhere") == []
    assert ids("tag=LOYALTY") == [c.id, a.id]
    assert ids(f"tag=loyalty&team_id={care.id}") == [a.id]
    assert ids("tag=unknown") == []
    assert ids(f"colleague_id={noah.id}") == [a.id]
    assert ids("published_after=2026-03-03T09:00:00Z") == [c.id, b.id]
    assert ids("published_before=2026-03-03T09:00:00%2B00:00") == [a.id]
    assert ids("published_after=2026-03-03T10:00:00&published_before=2026-03-05T00:00") == [c.id]
    assert ids("colleague_id=2147483647") == []


@pytest.mark.parametrize("query", [
    "limit=0", "limit=201", "limit=-1", "limit=abc", "limit=1e3", "team_id=0",
    "team_id=2147483648", "team_id=x", "colleague_id=99999999999999999999",
    "published_after=yesterday", "published_before=2026-13-01T00:00", "published_after=0.5",
    "published_after=1700000000", "published_before=2026-03-05", "tag=" + "x" * 81,
    "touchpoint=" + "y" * 81, "cursor=", "cursor=" + "c" * 401, "cursor=garbage",
])
def test_bad_parameters_are_422_problems(app, reader, query):
    body = _problem(reader.get(f"/api/v1/stories?{query}"), 422)
    assert body["errors"], body


@pytest.mark.parametrize("path", ["/api/v1/stories", "/api/v1/quotes", "/api/v1/search"])
@pytest.mark.parametrize("query", [
    "published_after=0001-01-01T00:00:00%2B23:59",
    "published_before=0001-01-01T00:00:00%2B00:01",
    "published_before=9999-12-31T23:59:59-23:59",
    "published_after=9999-12-31T23:59:00-00:01",
])
def test_times_carried_out_of_the_calendar_by_their_offset_are_422(app, reader, path, query):
    body = _problem(reader.get(f"{path}?q=care&{query}"), 422)
    name = query.split("=")[0]
    assert body["errors"] == [{"detail": "Value error, The time is out of range (years 1 to "
                                         "9999 in UTC).", "parameter": name}]


@pytest.mark.parametrize("path", ["/api/v1/stories", "/api/v1/quotes", "/api/v1/search"])
def test_the_calendars_edges_in_utc_are_fine(app, reader, path):
    query = "published_after=0001-01-01T00:00:00Z&published_before=9999-12-31T23:59:59%2B00:00"
    assert _ok(reader.get(f"{path}?q=care&{query}"))["data"] == []


def test_control_characters_in_filters_are_removed_not_a_500(app, reader):
    story = factories.make_story(status=S.PUBLISHED, tags=["care"])
    db.session.commit()
    for query in ("tag=ca%00re", "tag=%00", "touchpoint=st%00ore", "touchpoint=%01%02"):
        data = _ok(reader.get(f"/api/v1/stories?{query}"))["data"]
        assert [s["id"] for s in data] == [story.id], query


def test_keyset_pages_neither_repeat_nor_skip_when_a_story_is_published_between(app, reader):
    stories = _published(7)
    db.session.commit()
    first = _ok(reader.get("/api/v1/stories?limit=3"))
    assert [s["id"] for s in first["data"]] == [s.id for s in stories[::-1][:3]]
    # A newer story goes out between two pages: the next pages carry on where the reader was.
    factories.make_story(status=S.PUBLISHED, published_at=T0 + timedelta(days=30))
    db.session.commit()
    seen = [s["id"] for s in first["data"]]
    cursor = first["next_cursor"]
    link = None
    while cursor:
        response = reader.get(f"/api/v1/stories?limit=3&cursor={cursor}")
        page = _ok(response)
        seen += [s["id"] for s in page["data"]]
        link = response.headers.get("Link")
        if page["next_cursor"]:
            assert "rel=\"next\"" in link
        cursor = page["next_cursor"]
    assert seen == [s.id for s in reversed(stories)]
    assert len(set(seen)) == 7


def test_pages_cover_everything_once_at_every_size(app, reader):
    stories = _published(5) + [factories.make_story(status=S.PUBLISHED, published_at=T0)
                               for _ in range(3)]  # ties on the time: the id decides
    db.session.commit()
    expected = sorted(((s.published_at, s.id) for s in stories), reverse=True)
    for limit in (1, 2, 3, 7, 8, 200):
        ids = [s["id"] for p in _all_pages(reader, "/api/v1/stories", limit) for s in p["data"]]
        assert ids == [i for _, i in expected], limit


def test_a_cursor_only_works_for_its_own_list_and_filters(app, reader):
    team = factories.make_team()
    _published(3, team=team)
    for _ in range(3):
        factories.make_quote(status=S.PUBLISHED)
    db.session.commit()
    cursor = _ok(reader.get(f"/api/v1/stories?limit=1&team_id={team.id}"))["next_cursor"]
    assert cursor
    assert _ok(reader.get(f"/api/v1/stories?limit=1&team_id={team.id}&cursor={cursor}"))["data"]
    for other in ("/api/v1/stories?limit=1", f"/api/v1/stories?limit=1&team_id={team.id}&tag=x",
                  "/api/v1/quotes?limit=1", "/api/v1/editions?limit=1", "/api/v1/people?limit=1",
                  "/api/v1/search?q=customer&limit=1"):
        body = _problem(reader.get(f"{other}&cursor={cursor}"), 422)
        assert body["errors"][0]["parameter"] == "cursor"


def test_etag_and_if_none_match(app, reader):
    story = _published(1)[0]
    db.session.commit()
    first = reader.get(f"/api/v1/stories/{story.id}")
    etag = first.headers["ETag"]
    assert etag.startswith('"')
    again = reader.get(f"/api/v1/stories/{story.id}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    weak = reader.get(f"/api/v1/stories/{story.id}", headers={"If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304
    db.session.add(Reaction(user_id=factories.make_user().id, story_id=story.id))
    db.session.commit()
    changed = reader.get(f"/api/v1/stories/{story.id}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["applause"] == 1
    # A story taken back from publication is gone, whatever ETag the client holds.
    story.status = S.WITHDRAWN
    db.session.commit()
    _problem(reader.get(f"/api/v1/stories/{story.id}", headers={"If-None-Match": etag}), 404)


# --------------------------------------------------------------------------- quotes


def test_quotes_are_attributed_as_the_web_does(app, reader):
    hidden = factories.make_quote(status=S.PUBLISHED, customer_name="Mrs Secret",
                                  customer_role="CFO", customer_organization="Hidden Ltd",
                                  customer_consent=False, nps_score=10, published_at=T0)
    anonymous = factories.make_quote(status=S.PUBLISHED, customer_name="Mr Private",
                                     customer_consent=True, anonymous=True,
                                     source=QuoteSource.EMAIL, published_at=T0 + timedelta(1))
    named = factories.make_quote(status=S.PUBLISHED, customer_name="Ana Lima",
                                 customer_role="Owner", customer_consent=True,
                                 published_at=T0 + timedelta(2))
    factories.make_quote(status=S.SUBMITTED, text="Not yet")
    story = factories.make_story(status=S.PUBLISHED)
    draft_story = factories.make_story(status=S.DRAFT)
    named.story_id, hidden.story_id = story.id, draft_story.id
    edition = factories.make_edition(status=EditionStatus.SENT, items=[named])
    db.session.commit()

    data = _ok(reader.get("/api/v1/quotes"))["data"]
    assert [q["id"] for q in data] == [named.id, anonymous.id, hidden.id]
    by_id = {q["id"]: q for q in data}
    assert by_id[hidden.id]["attribution"] == "A customer (Survey / NPS)"
    assert by_id[anonymous.id]["attribution"] == "A customer (Email)"
    assert by_id[named.id]["attribution"] == "Ana Lima, Owner"
    for secret in ("Secret", "CFO", "Hidden", "Private"):
        assert secret not in str(data)
    assert by_id[hidden.id]["nps_score"] == 10 and by_id[hidden.id]["source"] == "survey"
    assert by_id[hidden.id]["story"] is None  # the story behind it is not published
    assert by_id[named.id]["story"] == story.id
    assert by_id[named.id]["edition"] == edition.id
    assert by_id[named.id]["url"] == f"{BASE}/editions/{edition.number}"
    assert by_id[hidden.id]["edition"] is None and by_id[hidden.id]["url"] is None
    assert _ok(reader.get(f"/api/v1/quotes/{named.id}")) == by_id[named.id]


def test_an_unpublished_quote_is_404(app, reader):
    quote = factories.make_quote(status=S.APPROVED)
    db.session.commit()
    _problem(reader.get(f"/api/v1/quotes/{quote.id}"), 404)
    assert _ok(reader.get("/api/v1/quotes"))["data"] == []


# --------------------------------------------------------------------------- editions


def test_only_sent_editions_with_their_items_in_order(app, reader):
    first, second = _published(2)
    quote = factories.make_quote(status=S.PUBLISHED, customer_name="Ana", customer_consent=True)
    withdrawn = factories.make_story(status=S.WITHDRAWN)
    old = factories.make_edition(status=EditionStatus.SENT, items=[first],
                                 sent_at=T0 - timedelta(days=7))
    sent = factories.make_edition(status=EditionStatus.SENT, subject="Kind words",
                                  items=[quote, second, withdrawn], intro_html="<p>Hello</p>",
                                  sent_at=T0)
    scheduled = factories.make_edition(status=EditionStatus.SCHEDULED, items=[])
    draft = factories.make_edition(status=EditionStatus.DRAFT, items=[])
    skipped = factories.make_edition(status=EditionStatus.SKIPPED)
    db.session.commit()

    listed = _ok(reader.get("/api/v1/editions"))["data"]
    assert [e["id"] for e in listed] == [sent.id, old.id]
    assert listed[0]["title"] == f"Feel Good Fridays #{sent.number}: Kind words"
    assert listed[0]["url"] == f"{BASE}/editions/{sent.number}"
    assert (listed[0]["stories"], listed[0]["quotes"]) == (2, 1)
    for hidden in (scheduled, draft, skipped):
        _problem(reader.get(f"/api/v1/editions/{hidden.id}"), 404)

    body = _ok(reader.get(f"/api/v1/editions/{sent.id}"))
    assert body["intro_html"] == "<p>Hello</p>" and body["subject"] == "Kind words"
    assert [(i["position"], i["kind"], i["id"]) for i in body["items"]] == [
        (1, "quote", quote.id), (2, "story", second.id)]  # the withdrawn story is left out
    assert body["items"][0]["quote"]["attribution"] == "Ana"
    assert body["items"][1]["story"]["url"] == f"{BASE}/stories/{second.id}"
    assert body["items"][1]["title"] == second.title
    etag = reader.get(f"/api/v1/editions/{sent.id}").headers["ETag"]
    assert reader.get(f"/api/v1/editions/{sent.id}",
                      headers={"If-None-Match": etag}).status_code == 304


# --------------------------------------------------------------------------- people


def test_people_show_public_fields_only(app, reader):
    team = factories.make_team("Care")
    ana = factories.make_user(display_name="Ana Lima", team=team, role=Role.ADMIN,
                              email="ana.secret@example.com")
    factories.make_user(display_name="Anabel Gone", active=False)
    bo = factories.make_user(display_name="Bo Chen")
    story = factories.make_story(bo, status=S.PUBLISHED, colleagues=[ana])
    factories.make_story(bo, status=S.DRAFT, colleagues=[ana])
    db.session.add(Reaction(user_id=bo.id, story_id=story.id))
    db.session.commit()

    body = _ok(reader.get(f"/api/v1/people/{ana.id}"))
    assert body == {
        "id": ana.id, "name": "Ana Lima", "team": {"id": team.id, "name": "Care"},
        "active": True, "photo_url": None, "stories_recognizing": 1, "stories_shared": 0,
        "applause_received": 1, "url": f"{BASE}/people/{ana.id}",
    }
    assert "secret" not in str(body) and "admin" not in str(body)
    names = [p["name"] for p in _ok(reader.get("/api/v1/people?q=ana"))["data"]]
    assert names == ["Ana Lima"]  # the former colleague is not listed
    assert [p["name"] for p in _ok(reader.get("/api/v1/people?q=%25"))["data"]] == []
    assert [p["name"] for p in _ok(reader.get("/api/v1/people?q=a_a"))["data"]] == []
    listed = _ok(reader.get(f"/api/v1/people?team_id={team.id}"))["data"]
    assert listed == [body]  # the list's record is the profile's


def test_a_former_colleague_is_shown_as_on_the_web(app, reader, login_as, employee):
    gone = factories.make_user(display_name="Gone Person", active=False)
    factories.make_story(status=S.PUBLISHED, colleagues=[gone])
    db.session.commit()
    web = login_as(employee).get(f"/people/{gone.id}")
    assert web.status_code == 200  # the web keeps their page: stories still link to it
    body = _ok(reader.get(f"/api/v1/people/{gone.id}"))
    assert body["active"] is False and body["stories_recognizing"] == 1
    assert gone.id not in [p["id"] for p in _ok(reader.get("/api/v1/people"))["data"]]


def test_people_counts_match_the_person_page(app, reader):
    people = [factories.make_user(display_name=f"Person {i:02d}") for i in range(6)]
    for i, author in enumerate(people):
        story = factories.make_story(author, status=S.PUBLISHED, colleagues=people[:i])
        for fan in people[i:]:
            db.session.add(Reaction(user_id=fan.id, story_id=story.id))
    db.session.commit()
    listed = {p["id"]: p for p in _ok(reader.get("/api/v1/people?q=Person"))["data"]}
    assert len(listed) == 6
    for person in people:
        profile = person_profile(person.id)
        assert (listed[person.id]["stories_recognizing"], listed[person.id]["stories_shared"],
                listed[person.id]["applause_received"]) == (
            profile.recognized_count, profile.shared_count, profile.applause_received)


def test_people_pages_by_name(app, reader):
    for name in ("Zoe", "adam", "Bea", "Bea", "Carl"):
        factories.make_user(display_name=name)
    db.session.commit()
    ids = [p["id"] for page in _all_pages(reader, "/api/v1/people", 2) for p in page["data"]]
    listed = _ok(reader.get("/api/v1/people?limit=200"))["data"]
    assert ids == [p["id"] for p in listed] and len(set(ids)) == len(ids)
    names = [p["name"] for p in listed]
    assert names == sorted(names)


# --------------------------------------------------------------------------- search


def test_search_finds_stories_and_quotes_as_the_web_does(app, reader):
    story = factories.make_story(status=S.PUBLISHED, title="Harbour rescue",
                                 body="The harbour team stayed late.")
    quote = factories.make_quote(status=S.PUBLISHED, text="The harbour staff were wonderful.")
    factories.make_story(status=S.SUBMITTED, title="Harbour draft")
    factories.make_story(status=S.PUBLISHED, title="Unrelated")
    db.session.commit()
    data = _ok(reader.get("/api/v1/search?q=harbour"))["data"]
    assert sorted((h["kind"], (h["story"] or h["quote"])["id"]) for h in data) == [
        ("quote", quote.id), ("story", story.id)]
    hit = next(h for h in data if h["kind"] == "story")
    assert "<mark>" in hit["title_html"] and hit["story"]["title"] == "Harbour rescue"
    only_stories = _ok(reader.get("/api/v1/search?q=harbour&tag_id=2147483647"))["data"]
    assert only_stories == []
    assert _ok(reader.get("/api/v1/search?q=harb%00our"))["data"] == data


@pytest.mark.parametrize("query", ["", "q=", "q=%00", "q=%20%20", "q=" + "w" * 201,
                                   "q=x&limit=0", "q=x&team_id=-3"])
def test_search_refuses_bad_words(app, reader, query):
    _problem(reader.get(f"/api/v1/search?{query}"), 422)


def test_search_pages(app, reader):
    for i in range(5):
        factories.make_story(status=S.PUBLISHED, title=f"Lighthouse {i}",
                             published_at=T0 + timedelta(hours=i))
    db.session.commit()
    pages = _all_pages(reader, "/api/v1/search?q=lighthouse", 2)
    ids = [h["story"]["id"] for p in pages for h in p["data"]]
    assert len(pages) == 3 and len(ids) == 5 and len(set(ids)) == 5
    cursor = _ok(reader.get("/api/v1/search?q=lighthouse&limit=2"))["next_cursor"]
    _problem(reader.get(f"/api/v1/search?q=lighthouses&limit=2&cursor={cursor}"), 422)


# --------------------------------------------------------------------------- insights & scopes


def test_insights_need_curate(app, api_as, editor, employee):
    factories.make_story(status=S.SUBMITTED)
    factories.make_story(status=S.PUBLISHED)
    db.session.commit()
    body = _ok(api_as(editor, "curate").get("/api/v1/insights"))
    assert body["period"]["key"] == "4w"
    assert body["participation"]["stories_submitted"] == 2
    assert body["participation"]["published"] == 1
    assert [s["slug"] for s in body["sections"]][:1] == ["participation"]
    figures = {k["label"]: k["value"] for k in body["sections"][0]["key_figures"]}
    assert figures["Stories submitted"] == 2
    _problem(api_as(editor, "read").get("/api/v1/insights"), 403)
    # An employee's token cannot use curate even when it was written on it.
    _problem(api_as(employee, "read curate").get("/api/v1/insights"), 403)


def test_insights_periods(app, api_as, editor):
    team = factories.make_team("Care")
    db.session.commit()
    api = api_as(editor, "curate")
    body = _ok(api.get(f"/api/v1/insights?from=2026-01-05&to=2026-03-29&team_id={team.id}"))
    assert body["period"] | {"timezone": None} == {
        "key": "custom", "label": "Custom dates", "start": "2026-01-05", "end": "2026-03-29",
        "timezone": None}
    assert body["team"] == {"id": team.id, "name": "Care"}
    assert len(body["participation"]["weeks"]) == 12
    assert _ok(api.get("/api/v1/insights?period=year"))["period"]["key"] == "year"
    for bad, parameter in (
        ("period=decade", "period"), ("from=2026-01-05", "to"),
        ("period=custom&to=2026-01-05", "from"), ("from=2026-03-01&to=2026-01-01", "to"),
        ("from=2020-01-01&to=2026-01-01", "to"), ("period=4w&from=2026-01-01&to=2026-01-02",
                                                 "period"),
        ("from=0001-01-01&to=0001-01-02", "from"), ("from=9999-12-30&to=9999-12-31", "from"),
        ("team_id=2147483647", "team_id"), ("from=%00", "from"), ("from=0&to=1", "from"),
        ("to=2026-1-5", "to"),
    ):
        body = _problem(api.get(f"/api/v1/insights?{bad}"), 422)
        assert body["errors"][0]["parameter"] == parameter, (bad, body)


READ_PATHS = ("/api/v1/stories", "/api/v1/stories/1", "/api/v1/quotes", "/api/v1/quotes/1",
              "/api/v1/editions", "/api/v1/editions/1", "/api/v1/people", "/api/v1/people/1",
              "/api/v1/search?q=x")


def test_reading_needs_the_read_scope(app, api_as, employee, client):
    submitter = api_as(employee, "submit")
    for path in READ_PATHS:
        body = _problem(submitter.get(path), 403)
        assert "read" in body["detail"]
        _problem(client.get(path), 401)


# --------------------------------------------------------------------------- constant cost


def _make_content(n: int) -> list:
    """n published stories (each with colleagues, a free-text name, tags, applause, a comment)
    and quotes, each pair sent in an edition of its own; returns the stories."""
    team = factories.make_team()
    colleague = factories.make_user(team=team)
    fan = factories.make_user()
    stories = []
    for i in range(n):
        person = factories.make_user(display_name=f"Listed {i:03d}", team=team)
        story = factories.make_story(person, status=S.PUBLISHED, colleagues=[colleague, person],
                                     names=["Someone"], tags=["care", f"t{i}"], team=team,
                                     published_at=T0 + timedelta(minutes=i))
        db.session.add(Reaction(user_id=fan.id, story_id=story.id))
        db.session.add(Comment(story_id=story.id, author_id=fan.id, body="Bravo"))
        quote = factories.make_quote(person, status=S.PUBLISHED, text=f"Lovely service {i}",
                                     published_at=T0 + timedelta(minutes=i))
        factories.make_edition(status=EditionStatus.SENT, items=[story, quote],
                               sent_at=T0 + timedelta(minutes=i))
        stories.append(story)
    db.session.commit()
    return stories


def _queries(api, url: str) -> tuple[int, dict]:
    db.session.expire_all()
    with count_queries() as log:
        body = _ok(api.get(url))
    return log.count, body


@pytest.mark.app_config(READING_CACHE_SECONDS=0)
@pytest.mark.parametrize("path", ["/api/v1/stories", "/api/v1/quotes", "/api/v1/editions",
                                  "/api/v1/people?q=Listed", "/api/v1/search?q=lovely",
                                  "/api/v1/search?q=lovely&team_id={team}"])
def test_a_list_page_costs_the_same_number_of_queries_whatever_its_size(app, reader, path):
    stories = _make_content(50)
    url = path.format(team=stories[0].team_id)
    sep = "&" if "?" in url else "?"
    _ok(reader.get(f"{url}{sep}limit=1"))  # the token's first use is recorded once
    small, body = _queries(reader, f"{url}{sep}limit=5")
    assert len(body["data"]) == 5
    large, body = _queries(reader, f"{url}{sep}limit=50")
    assert len(body["data"]) == 50
    assert small == large, (small, large)


@pytest.mark.app_config(READING_CACHE_SECONDS=0)  # each request computes its answer
def test_an_edition_costs_the_same_number_of_queries_whatever_its_size(app, reader):
    small_items = _make_content(5)
    large_items = _make_content(50)
    small = factories.make_edition(status=EditionStatus.SENT, items=small_items)
    large = factories.make_edition(status=EditionStatus.SENT, items=large_items)
    db.session.commit()
    _ok(reader.get(f"/api/v1/editions/{small.id}"))
    few, body = _queries(reader, f"/api/v1/editions/{small.id}")
    assert len(body["items"]) == 5
    many, body = _queries(reader, f"/api/v1/editions/{large.id}")
    assert len(body["items"]) == 50
    assert few == many, (few, many)


@pytest.mark.parametrize("path", ["/api/v1/stories?limit=50", "/api/v1/stories/{story}",
                                  "/api/v1/editions/{edition}", "/api/v1/search?q=lovely"])
def test_a_repeated_public_read_answers_from_the_reading_cache(app, reader, api_as, editor,
                                                              path):
    """Public content is the same for every reading token: a second identical request costs
    the token check and the content version only (2 statements), for another token too, with
    the same body and ETag."""
    stories = _make_content(3)
    import sqlalchemy as sa

    from app.models import EditionItem

    edition_id = db.session.scalar(
        sa.select(EditionItem.edition_id).where(EditionItem.story_id == stories[0].id))
    url = path.format(story=stories[0].id, edition=edition_id)
    first_count, first = _queries(reader, url)
    again_count, again = _queries(reader, url)
    other = api_as(editor, "read")
    _ok(other.get("/api/v1/me"))  # its first use is noted (a write) before counting
    other_count, other_body = _queries(other, url)
    assert again == first and other_body == first
    assert first_count > 2 and again_count == 2 and other_count == 2, (
        first_count, again_count, other_count)
    assert reader.get(url).headers.get("ETag") == other.get(url).headers.get("ETag")


def test_a_cached_read_shows_a_change_at_once(app, reader):
    """The cache is keyed by the content version: a story published or edited after the first
    read is in the very next answer."""
    [story] = _make_content(1)
    listed = _ok(reader.get("/api/v1/stories"))
    assert [s["id"] for s in listed["data"]] == [story.id]
    tag = reader.get(f"/api/v1/stories/{story.id}").headers["ETag"]

    [newer] = _make_content(1)
    assert [s["id"] for s in _ok(reader.get("/api/v1/stories"))["data"]] == [newer.id, story.id]
    db.session.get(type(story), story.id).title = "A better title"
    db.session.commit()
    changed = reader.get(f"/api/v1/stories/{story.id}", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.get_json()["title"] == "A better title"
    assert changed.headers["ETag"] != tag
