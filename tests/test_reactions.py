"""Applause: one per person per published story, with and without JavaScript."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.errors import NotFound
from app.models import Reaction
from app.models import SubmissionStatus
from app.reading import services

P = SubmissionStatus.PUBLISHED


def reactions(db, story_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Reaction).where(Reaction.story_id == story_id)
    )


@pytest.fixture
def story(db, make_story):
    story = make_story(status=P, title="Applaudable")
    db.session.commit()
    return story


def test_form_post_applauds_and_redirects_back(db, employee_client, story):
    response = employee_client.post(f"/stories/{story.id}/applause", data={"applaud": "1"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/stories/{story.id}#applause")
    assert reactions(db, story.id) == 1

    page = employee_client.get(f"/stories/{story.id}").get_data(as_text=True)
    assert 'aria-pressed="true"' in page
    assert re.search(r'data-applause-count>1<', page)
    # The count shows in lists too.
    home = employee_client.get("/").get_data(as_text=True)
    assert re.search(r"</svg> 1<span class=\"visually-hidden\"> applause", home)


def test_applause_is_one_per_person_and_can_be_taken_back(db, employee_client, story):
    url = f"/stories/{story.id}/applause"
    employee_client.post(url, data={"applaud": "1"})
    employee_client.post(url, data={"applaud": "1"})  # a double click changes nothing
    assert reactions(db, story.id) == 1
    employee_client.post(url, data={"applaud": "0"})
    assert reactions(db, story.id) == 0
    employee_client.post(url)  # no explicit state: toggle
    assert reactions(db, story.id) == 1
    employee_client.post(url)
    assert reactions(db, story.id) == 0


def test_safe_return_address_only(db, employee_client, story):
    url = f"/stories/{story.id}/applause"
    response = employee_client.post(url, data={"applaud": "1", "next": "/search?q=x"})
    assert response.headers["Location"].endswith("/search?q=x#applause")
    response = employee_client.post(url, data={"applaud": "1", "next": "https://evil.example/"})
    assert response.headers["Location"].endswith(f"/stories/{story.id}#applause")


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_json_toggle_with_csrf_header(db, employee_client, story):
    page = employee_client.get(f"/stories/{story.id}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    headers = {"Accept": "application/json", "X-CSRFToken": token}
    url = f"/stories/{story.id}/applause"

    response = employee_client.post(url, json={"applaud": True}, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"applauded": True, "count": 1}
    response = employee_client.post(url, json={"applaud": False}, headers=headers)
    assert response.get_json() == {"applauded": False, "count": 0}

    no_token = {"Accept": "application/json"}
    refused = employee_client.post(url, json={"applaud": True}, headers=no_token)
    assert refused.status_code == 400
    assert reactions(db, story.id) == 0


def test_only_published_stories_can_be_applauded(db, employee_client, make_story):
    draft = make_story(status=SubmissionStatus.APPROVED)
    db.session.commit()
    response = employee_client.post(
        f"/stories/{draft.id}/applause", headers={"Accept": "application/json"}
    )
    assert response.status_code == 404
    assert "published" in response.get_json()["error"]
    assert employee_client.post("/stories/999999/applause").status_code == 404
    assert reactions(db, draft.id) == 0


def test_anonymous_visitors_are_sent_to_sign_in(client, story):
    response = client.post(f"/stories/{story.id}/applause")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_service_counts_everyone_and_tolerates_a_race(db, make_user, story):
    first, second = make_user(), make_user()
    assert services.set_applause(story.id, first, True) == services.ApplauseState(True, 1)
    assert services.set_applause(story.id, second, None) == services.ApplauseState(True, 2)
    # The row is already there (another tab, a concurrent click): the insert's unique
    # violation is absorbed in a savepoint, and the transaction carries on.
    assert services.set_applause(story.id, first, True) == services.ApplauseState(True, 2)
    db.session.commit()
    assert reactions(db, story.id) == 2
    with pytest.raises(NotFound):
        services.set_applause(999999, first, True)


# -- who applauded --------------------------------------------------------------------------------


def applaud(db, story, *names: str) -> list:
    from tests.factories import make_user

    people = [make_user(display_name=name) for name in names]
    for person in people:  # the last named applauded last, so it is listed first
        db.session.add(Reaction(user_id=person.id, story_id=story.id))
        db.session.flush()
    db.session.commit()
    return people


def test_every_signed_in_colleague_sees_who_applauded(db, login_as, make_user, story):
    others = [f"Fan Number{n}" for n in range(12)]
    people = applaud(db, story, *others, "Tom Okafor", "Priya Raman")
    reader = make_user()
    db.session.commit()
    page = login_as(reader).get(f"/stories/{story.id}").get_data(as_text=True)
    priya, tom = people[-1], people[-2]
    assert re.search(
        rf'<strong>Applauded by</strong>\s*<a href="/people/{priya.id}">Priya Raman</a>, '
        rf'<a href="/people/{tom.id}">Tom Okafor</a> and 12 others\.', page)
    # Everyone, behind a native disclosure (keyboard and screen readers: <details>/<summary>).
    start = page.index('<details class="applauders__all">')
    full = page[start:page.index("</details>", start)]
    assert "<summary>See all 14 people who applauded</summary>" in full
    for person in people:
        assert f'<a href="/people/{person.id}">{person.display_name}</a>' in full


def test_a_few_applauders_are_all_named(db, employee_client, story):
    ana, ben, cy = applaud(db, story, "Ana Lopez", "Ben Hart", "Cy Moss")
    page = employee_client.get(f"/stories/{story.id}").get_data(as_text=True)
    assert re.search(
        rf'<a href="/people/{cy.id}">Cy Moss</a>, <a href="/people/{ben.id}">Ben Hart</a> and '
        rf'<a href="/people/{ana.id}">Ana Lopez</a>\.', page)
    assert "applauders__all" not in page


def test_no_applause_names_nobody(employee_client, story):
    page = employee_client.get(f"/stories/{story.id}").get_data(as_text=True)
    assert "Applauded by" not in page and "Be the first to applaud." in page


def test_anonymous_visitors_never_see_who_applauded(db, client, story):
    applaud(db, story, "Secret Fan")
    response = client.get(f"/stories/{story.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "Secret Fan" not in response.get_data(as_text=True)


@pytest.mark.app_config(READING_CACHE_SECONDS=0)
def test_who_applauded_costs_the_same_queries_for_3_or_150(db, employee_client, story):
    from tests.querycount import count_queries

    def queries() -> int:
        url = f"/stories/{story.id}"
        assert employee_client.get(url).status_code == 200  # warm-up
        with count_queries() as log:
            assert employee_client.get(url).status_code == 200
        return log.count

    applaud(db, story, *(f"Early Fan{n}" for n in range(3)))
    few = queries()
    applaud(db, story, *(f"Later Fan{n}" for n in range(147)))
    assert queries() == few


# -- "Recognize <name>" on a person's page ---------------------------------------------------------


def test_recognize_button_opens_a_new_story_crediting_the_person(login_as, make_user, db):
    viewer = make_user()
    colleague = make_user(display_name="Noah Berg")
    former = make_user(display_name="Gone Away", active=False)
    db.session.commit()
    client = login_as(viewer)

    page = client.get(f"/people/{colleague.id}").get_data(as_text=True)
    link = re.search(r'<a class="btn btn--primary" href="([^"]+)" data-recognize>', page)
    assert link and link.group(1) == f"/stories/new?colleague={colleague.id}"
    assert "Recognize Noah Berg</a>" in page

    own = client.get(f"/people/{viewer.id}").get_data(as_text=True)
    assert "data-recognize" not in own and "Recognize " not in own
    gone = client.get(f"/people/{former.id}").get_data(as_text=True)
    assert "data-recognize" not in gone and "Recognize Gone Away" not in gone
