"""The reading cache: remembered page data is never stale after a committed change, costs a
handful of queries when warm, and catches up with writes that bypass the ORM within max age."""

from __future__ import annotations

import sqlalchemy as sa

from app.models import AuditEvent
from app.models import Reaction
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.reading import cache
from app.workflow import transition_submission
from tests.querycount import count_queries

P = SubmissionStatus.PUBLISHED


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True).replace("<mark>", "").replace("</mark>", "")


def version(db) -> int:
    return db.session.execute(sa.text("SELECT version FROM reading_content_version")).scalar_one()


def test_warm_pages_cost_a_few_queries(db, employee_client, make_user, make_story, make_edition):
    person = make_user(display_name="Often Thanked")
    stories = [make_story(status=P, colleagues=[person], tags=["kind"]) for _ in range(30)]
    make_edition(status="sent", items=stories[:5])
    db.session.commit()
    for url, most in (
        ("/", 4),  # signed-in user, time zone, content version
        (f"/stories/{stories[0].id}", 5),  # ... and whether this reader applauded
        (f"/people/{person.id}", 4),
        ("/search?q=story", 4),
        ("/tags/kind", 4),
    ):
        page(employee_client, url)
        with count_queries() as log:
            page(employee_client, url)
        assert log.count <= most, (url, log.statements)


def test_committed_changes_show_at_once(db, employee_client, make_user, make_story):
    noah = make_user(display_name="Noah Levi")
    story = make_story(status=P, title="Original headline", colleagues=[noah])
    db.session.commit()
    story_url, noah_url = f"/stories/{story.id}", f"/people/{noah.id}"
    for url in ("/", story_url, noah_url, "/search?q=headline"):
        assert "Original headline" in page(employee_client, url)

    story.title = "Rewritten headline"
    db.session.commit()
    for url in ("/", story_url, noah_url, "/search?q=headline"):
        assert "Rewritten headline" in page(employee_client, url), url

    noah.display_name = "Noah Brightwater"
    db.session.commit()
    assert "Noah Brightwater" in page(employee_client, story_url)
    assert "Noah Brightwater" in page(employee_client, "/")

    newcomer = make_story(status=SubmissionStatus.APPROVED, title="Freshly published")
    db.session.commit()
    assert "Freshly published" not in page(employee_client, "/")
    transition_submission(newcomer, P, actor=None)
    db.session.commit()
    assert "Freshly published" in page(employee_client, "/")

    story.recognitions.append(Recognition(name="Marco from the desk", position=5))
    db.session.commit()
    assert "Marco from the desk" in page(employee_client, story_url)


def test_applause_shows_at_once_with_and_without_javascript(db, employee_client, make_story):
    story = make_story(status=P)
    db.session.commit()
    url = f"/stories/{story.id}"
    assert "Be the first to applaud." in page(employee_client, url)
    employee_client.post(f"{url}/applause", data={"applaud": "1"})
    assert "You applauded this story." in page(employee_client, url)
    as_json = {"Accept": "application/json"}
    employee_client.post(f"{url}/applause", json={"applaud": False}, headers=as_json)
    assert "Be the first to applaud." in page(employee_client, url)


def test_only_content_commits_bump_the_version(db, make_story, employee):
    before = version(db)
    story = make_story(status=P)
    db.session.commit()
    assert version(db) == before + 1

    db.session.add(AuditEvent(action="test.nothing", object_type="system"))
    db.session.commit()
    assert version(db) == before + 1  # nothing the reading pages show

    story.title = "Changed, then thought better of it"
    db.session.flush()
    db.session.rollback()
    assert version(db) == before + 1

    db.session.add(Reaction(user_id=employee.id, story_id=story.id))
    db.session.commit()
    assert version(db) == before + 2

    db.session.execute(sa.update(Story).where(Story.id == story.id).values(title="Bulk"))
    db.session.commit()
    assert version(db) == before + 3


def test_writes_behind_the_orms_back_show_within_max_age(
    db, employee_client, make_story, monkeypatch
):
    story = make_story(status=P, title="Before the raw write")
    db.session.commit()
    url = f"/stories/{story.id}"
    assert "Before the raw write" in page(employee_client, url)
    with db.engine.begin() as conn:
        conn.execute(sa.update(Story.__table__).where(Story.id == story.id).values(title="Raw"))
    # The test shares one session with its requests: end its read snapshot, as a new request
    # would have a fresh one.
    db.session.rollback()
    assert "Before the raw write" in page(employee_client, url)  # remembered, not yet stale

    now = cache.time.monotonic()
    monkeypatch.setattr(cache.time, "monotonic", lambda: now + cache.max_age() + 1)
    assert "Raw" in page(employee_client, url)


def test_each_app_starts_empty(app, db, make_story, login_as, employee):
    from app import create_app

    story = make_story(status=P, title="Seen by the first app")
    db.session.commit()
    assert "Seen by the first app" in page(login_as(employee), f"/stories/{story.id}")
    other = create_app("testing", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    assert "reading_cache" not in other.extensions


def test_cards_are_rendered_once_per_content_version(
    db, employee_client, make_user, make_story, monkeypatch
):
    from app.reading import views

    person = make_user(display_name="Card Counter")
    for _ in range(3):
        make_story(status=P, colleagues=[person])
    db.session.commit()
    rendered = []
    real = views.render_macro

    def counting(template, name, *args):
        rendered.append(name)
        return real(template, name, *args)

    monkeypatch.setattr(views, "render_macro", counting)
    url = f"/people/{person.id}"
    page(employee_client, url)
    assert rendered.count("story_card") == 3
    page(employee_client, url)
    assert rendered.count("story_card") == 3  # remembered with the page's data

    make_story(status=P, colleagues=[person])
    db.session.commit()
    page(employee_client, url)
    assert rendered.count("story_card") == 3 + 4  # a new version: every card afresh
