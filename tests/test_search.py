"""Full-text search: what is indexed, ranking, highlighting, filters, paging, and staying in sync
through every write path. Runs on SQLite (FTS5) and PostgreSQL (tsvector) alike."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db as _db
from app.models import Quote
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import Team
from app.models import utcnow
from app.reading import search
from app.reading.search import SearchFilters
from app.workflow import transition_submission

P = SubmissionStatus.PUBLISHED


def found(q: str, filters: SearchFilters | None = None) -> list[tuple[str, int]]:
    return [(h.kind, h.id) for h in search.search(q, filters).items]


def story_hits(q: str, filters: SearchFilters | None = None) -> list[int]:
    return [i for kind, i in found(q, filters) if kind == "story"]


# --------------------------------------------------------------------------- what is indexed


def test_title_body_colleague_names_are_searchable(db, make_user, make_story):
    noah = make_user(display_name="Noah Levi")
    story = make_story(
        status=P,
        title="A late-night call",
        body="She boarded with ten minutes to spare at the **airport**.",
        colleagues=[noah],
        names=["Marco Rossi"],
    )
    for q in ("late-night", "airport", "AIRPORT", "Noah", "levi", "marco rossi", "boarded minutes"):
        assert story_hits(q) == [story.id], q
    assert story_hits("holiday") == []


def test_customer_organization_only_when_consented(db, make_story, make_quote):
    consented = make_story(status=P, customer_organization="Rosa Bakery", customer_consent=True)
    private = make_story(status=P, customer_organization="Secret Holdings", customer_consent=False)
    quote = make_quote(status=P, customer_organization="Acme Widgets", customer_consent=True)
    anonymous = make_quote(
        status=P, customer_organization="Hidden Widgets", customer_consent=True, anonymous=True
    )
    assert story_hits("bakery") == [consented.id]
    assert found("secret") == [] and private.id
    assert found("acme") == [("quote", quote.id)]
    assert found("hidden") == [] and anonymous.id


def test_only_published_items_are_found(db, make_story, make_quote):
    for status in SubmissionStatus:
        make_story(status=status, title=f"Zebra story {status.value}")
        make_quote(status=status, text=f"Zebra quote {status.value}")
    kinds = sorted(kind for kind, _ in found("zebra"))
    assert kinds == ["quote", "story"]


def test_quotes_are_searchable(db, make_quote):
    quote = make_quote(status=P, text="Thank you for *listening* to my complaint.")
    assert found("listening") == [("quote", quote.id)]
    hit = search.search("listening").items[0]
    assert "<mark>listening</mark>" in hit.snippet
    assert "*" not in hit.snippet


# --------------------------------------------------------------------------- ranking, marks


def test_a_title_match_outranks_a_body_match(db, make_story):
    in_body = make_story(status=P, title="Something else", body="A word about a wedding, once.")
    in_title = make_story(status=P, title="The wedding suit", body="Fixed in an afternoon.")
    assert story_hits("wedding") == [in_title.id, in_body.id]


def test_highlights_are_escaped_then_marked(db, make_story):
    make_story(
        status=P,
        title="<script>alert(1)</script> Delighted customer",
        body='Then <img src=x onerror="alert(2)"> she was delighted & relieved.',
    )
    hit = search.search("delighted").items[0]
    assert "<script>" not in hit.title and "&lt;script&gt;" in hit.title
    assert "<mark>Delighted</mark>" in hit.title
    assert "<img" not in hit.snippet  # escaped (SQLite) or dropped as a tag (PostgreSQL)
    assert "<mark>delighted</mark>" in hit.snippet
    assert "&amp;" in hit.snippet


def test_the_last_word_matches_as_a_prefix(db, make_story):
    story = make_story(status=P, title="Delivery rescue", body="A delighted customer.")
    assert story_hits("delig") == [story.id]
    assert story_hits("rescue deli") == [story.id]
    assert story_hits("delighted") == [story.id]  # the whole word still matches


@pytest.mark.parametrize(
    "q",
    ['"', "'", "*", "a*", "AND", "OR NOT", "NEAR(a b)", "x:*", "!&|", "(", "title:x", "-x", "é ü",
     "\x00", "a" * 500, "drop table stories;--", "上海"],
)
def test_any_text_is_a_safe_query(db, make_story, q):
    make_story(status=P, title="Plain story")
    search.search(q)  # no error whatever the input
    search.search(q, SearchFilters(team_id=1, tag_id=1))


def test_diacritics_and_stemming(db, make_story):
    story = make_story(status=P, title="Café crème", body="She was delighted by the deliveries.")
    assert story_hits("creme") == [story.id] or _db.engine.dialect.name == "postgresql"
    assert story_hits("delivery") == [story.id]
    assert story_hits("delight") == [story.id]


# --------------------------------------------------------------------------- filters


def test_filters_team_touchpoint_tag_and_dates(db, make_team, make_user, make_story, make_quote):
    team_a, team_b = make_team("Alpha"), make_team("Beta")
    now = utcnow()
    a = make_story(
        status=P, team=team_a, title="Kindness one", tags=["care"], touchpoint_slug="phone"
    )
    b = make_story(
        status=P, team=team_b, title="Kindness two", tags=["speed"], touchpoint_slug="store"
    )
    b.published_at = now - timedelta(days=30)
    author = make_user(team=team_a)
    q = make_quote(author=author, status=P, text="Such kindness")
    db.session.flush()

    assert set(found("kindness")) == {("story", a.id), ("story", b.id), ("quote", q.id)}
    in_team_a = SearchFilters(team_id=team_a.id)
    assert set(found("kindness", in_team_a)) == {("story", a.id), ("quote", q.id)}
    phone = db.session.scalar(sa.text("SELECT id FROM touchpoints WHERE slug = 'phone'"))
    assert found("kindness", SearchFilters(touchpoint_id=phone)) == [("story", a.id)]
    care = db.session.scalar(sa.text("SELECT id FROM tags WHERE name = 'care'"))
    assert found("kindness", SearchFilters(tag_id=care)) == [("story", a.id)]
    recent = SearchFilters(published_from=now - timedelta(days=7))
    assert set(found("kindness", recent)) == {("story", a.id), ("quote", q.id)}
    old = SearchFilters(published_before=now - timedelta(days=7))
    assert found("kindness", old) == [("story", b.id)]
    # The same filters apply when listing without words.
    assert found("", SearchFilters(tag_id=care)) == [("story", a.id)]


def test_no_words_lists_everything_newest_first(db, make_story, make_quote):
    now = utcnow()
    old = make_story(status=P)
    old.published_at = now - timedelta(days=3)
    quote = make_quote(status=P)
    quote.published_at = now - timedelta(days=2)
    new = make_story(status=P)
    new.published_at = now - timedelta(days=1)
    make_story(status=SubmissionStatus.APPROVED)
    db.session.flush()
    assert found("") == [("story", new.id), ("quote", quote.id), ("story", old.id)]
    assert found("  ,;!  ") == found("")


def test_search_pages_with_cursors(db, make_story):
    for i in range(45):
        make_story(status=P, title=f"Helpful colleague {i}", body="helpful " * (i % 5 + 1))
    seen, cursor, pages = [], None, 0
    while True:
        page = search.search("helpful", cursor=cursor)
        pages += 1
        seen += [h.id for h in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert pages == 3 and len(seen) == 45 == len(set(seen))
    scores = [h.score for h in search.search("helpful", limit=45).items]
    assert scores == sorted(scores)
    back = search.search("helpful", cursor=page.prev_cursor)
    assert [h.id for h in back.items] == seen[20:40]


# --------------------------------------------------------------------------- staying in sync


def test_publication_through_the_workflow_indexes(db, make_story, make_quote):
    story = make_story(status=SubmissionStatus.APPROVED, title="Pending bicycle repair")
    quote = make_quote(status=SubmissionStatus.APPROVED, text="The bicycle was perfect")
    assert found("bicycle") == []
    transition_submission(story, P, actor=None)
    transition_submission(quote, P, actor=None)
    db.session.flush()
    assert sorted(found("bicycle")) == [("quote", quote.id), ("story", story.id)]


def test_editor_edits_and_recognition_changes_reindex(db, make_user, make_story):
    story = make_story(status=P, title="Original headline")
    db.session.commit()
    story.title = "Rewritten headline about umbrellas"
    story.body_md = "Now mentions galoshes."
    db.session.commit()
    assert story_hits("umbrellas") == [story.id]
    assert story_hits("galoshes") == [story.id]
    assert story_hits("original") == []

    tom = make_user(display_name="Tom Gallagher")
    story.recognitions.append(Recognition(user=tom, position=1))
    db.session.commit()
    assert story_hits("gallagher") == [story.id]

    tom.display_name = "Thomas Brightwater"
    db.session.commit()
    assert story_hits("brightwater") == [story.id]
    assert story_hits("gallagher") == []

    story.recognitions.clear()
    db.session.commit()
    assert story_hits("brightwater") == []


def test_consent_withdrawn_removes_the_organization(db, make_story):
    story = make_story(status=P, customer_organization="Globex", customer_consent=True)
    db.session.commit()
    assert story_hits("globex") == [story.id]
    story.customer_consent = False
    db.session.commit()
    assert story_hits("globex") == []


def test_rollback_leaves_the_index_unchanged(db, make_story):
    story = make_story(status=P, title="Steady title")
    db.session.commit()
    story.title = "Temporary title"
    db.session.flush()
    assert story_hits("temporary") == [story.id]  # visible inside the transaction
    db.session.rollback()
    assert story_hits("temporary") == [] and story_hits("steady") == [story.id]


def test_deleting_items_removes_them(db, make_story, make_quote):
    story = make_story(status=P, title="Ephemeral tale")
    quote = make_quote(status=P, text="Ephemeral praise")
    db.session.commit()
    db.session.delete(story)
    db.session.delete(quote)
    db.session.commit()
    assert found("ephemeral") == []


def test_database_level_deletes_remove_documents(db, make_story, make_quote):
    make_story(status=P, title="Cascade tale")
    make_quote(status=P, text="Cascade praise")
    db.session.commit()
    with db.engine.begin() as conn:  # bypasses the session: triggers / FK cascade do it
        conn.execute(sa.delete(Quote.__table__))
        conn.execute(sa.delete(Recognition.__table__))
        conn.execute(sa.text("DELETE FROM story_tags"))
        conn.execute(sa.delete(Story.__table__))
    assert found("cascade") == []


def test_orm_bulk_updates_reindex(db, make_story, make_quote):
    story = make_story(status=SubmissionStatus.APPROVED, title="Bulk published lantern")
    quote = make_quote(status=SubmissionStatus.APPROVED, text="Bulk lantern praise")
    db.session.commit()
    now = datetime.now(UTC)
    db.session.execute(
        sa.update(Story).where(Story.id == story.id).values(status=P, published_at=now)
    )
    db.session.execute(sa.update(Quote).values(status=P, published_at=now))
    db.session.commit()
    assert sorted(found("lantern")) == [("quote", quote.id), ("story", story.id)]
    db.session.execute(sa.update(Story).where(Story.id == story.id).values(title="Bulk candle"))
    db.session.commit()
    assert story_hits("candle") == [story.id]
    db.session.execute(sa.delete(Recognition).where(Recognition.story_id == story.id))
    db.session.commit()


def test_rebuild_recreates_the_index(db, make_story):
    story = make_story(status=P, title="Rebuilt kindness")
    make_story(title="Draft kindness")
    db.session.commit()
    search.remove("story", story.id)
    assert story_hits("kindness") == []
    assert search.rebuild() == 1
    assert story_hits("kindness") == [story.id]


def test_plain_text_strips_markdown_punctuation():
    md = "# Big news\n> **Noah** said [hi](https://x.example) and `code` ~~no~~\n- one\n1. two"
    assert search.plain_text(md) == "Big news Noah said hi and code no one two"
    assert search.plain_text("snake_case stays, _emph_ goes, 2 * 3 = 6") == (
        "snake_case stays, emph goes, 2 * 3 = 6"
    )
    assert search.plain_text("\x02marker\x03") == "marker"


# --------------------------------------------------------------------------- the page


def test_search_page_highlights_and_filters(db, employee_client, make_team, make_story):
    team = make_team("Field Service")
    make_story(status=P, team=team, title="Boiler fixed", body="The boiler and the paperwork.")
    make_story(status=P, title="Another boiler")
    db.session.commit()

    page = employee_client.get("/search?q=boiler").get_data(as_text=True)
    assert "<mark>Boiler</mark> fixed" in page and "Another <mark>boiler</mark>" in page
    assert "2 results for “boiler”" in page
    page = employee_client.get(f"/search?q=boiler&team={team.id}").get_data(as_text=True)
    assert "Boiler</mark> fixed" in page and "Another" not in page
    page = employee_client.get("/search?q=nothinglikethis").get_data(as_text=True)
    assert "Nothing found for “nothinglikethis”" in page and "Browse all stories" in page
    page = employee_client.get("/search").get_data(as_text=True)
    assert "Every story and quote, newest first" in page


def test_search_page_partial_for_live_results(db, employee_client, make_story):
    make_story(status=P, title="Umbrella kindness")
    db.session.commit()
    response = employee_client.get("/search?q=umbrella", headers={"X-Requested-With": "fetch"})
    page = response.get_data(as_text=True)
    assert "<mark>Umbrella</mark>" in page and "<html" not in page


def test_search_page_reports_bad_filters(db, employee_client):
    page = employee_client.get(
        "/search?q=x&date_from=2026-05-02&date_to=2026-05-01&team=abc"
    ).get_data(as_text=True)
    assert "The end date must be on or after the start date." in page
    assert "There’s a problem" in page


def test_date_filters_use_whole_days_in_the_organization_time_zone(db, employee_client, make_story):
    story = make_story(status=P, title="Midnight story")
    story.published_at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 2 March in Paris
    db.session.commit()
    from app.settings import set_settings

    set_settings({"timezone": "Europe/Paris"}, actor=None)
    db.session.commit()
    on_first = employee_client.get("/search?q=midnight&date_to=2026-03-01").get_data(as_text=True)
    on_second = employee_client.get("/search?q=midnight&date_from=2026-03-02&date_to=2026-03-02")
    assert "Nothing found" in on_first
    assert "Midnight story" in on_second.get_data(as_text=True).replace("<mark>", "").replace(
        "</mark>", ""
    )


def test_team_filter_for_a_deleted_team_is_harmless(db, employee_client):
    db.session.add(Team(name="Gone"))
    db.session.commit()
    assert employee_client.get("/search?team=999999").status_code == 200
