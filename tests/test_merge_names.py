"""Merging a free-text colleague name into the account in one step, from the people admin's
list of names and from the review screen: every story naming it follows, in one audited
transaction, and later "featured" emails go to the account."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.editions import services as editions
from app.extensions import db
from app.models import AuditEvent
from app.models import Edition
from app.models import EditionStatus
from app.models import Recognition
from app.models import SubmissionStatus
from app.models import User
from app.newsletter import sending
from tests import factories
from tests.querycount import count_queries

S = SubmissionStatus


def names_of(story_id: int) -> list[tuple[int | None, str | None]]:
    db.session.expire_all()
    return [tuple(r) for r in db.session.execute(
        sa.select(Recognition.user_id, Recognition.name)
        .where(Recognition.story_id == story_id).order_by(Recognition.position, Recognition.id)
    )]  # fmt: skip


@pytest.fixture
def noah(app) -> User:
    user = factories.make_user(display_name="Noah Levi", email="noah@example.com")
    db.session.commit()
    return user


@pytest.fixture
def stories(app, noah):
    """Three stories naming "Noah (no account)", one of which already names the account too."""
    priya = factories.make_user(display_name="Priya Raman", email="priya@example.com")
    amina = factories.make_user(display_name="Amina Diallo")
    first = factories.make_story(priya, names=["Noah (no account)"], colleagues=[amina],
                                 status=S.PUBLISHED, title="Holiday saved")
    second = factories.make_story(priya, names=["Noah (no account)", "Sam (airline)"],
                                  status=S.SUBMITTED, title="The calm voice")
    both = factories.make_story(priya, names=["Noah (no account)"], colleagues=[noah],
                                status=S.APPROVED, title="Both")
    db.session.commit()
    return first, second, both


def merge(client, name: str, account: str, **extra):
    return client.post("/admin/people/names/merge",
                       data={"name": name, "account": account, **extra})


def test_names_page_lists_names_with_counts_and_suggestions(app, editor_client, stories):
    page = editor_client.get("/admin/people/names").get_data(as_text=True)
    row = page.split("<th scope=\"row\">Noah (no account)</th>")[1].split("</tr>")[0]
    assert "<td>3</td>" in row
    assert "Noah Levi" in row and 'value="noah@example.com"' in row  # suggested and prefilled
    assert "Sam (airline)" in page
    assert "No likely account" in page.split("Sam (airline)</th>")[1].split("</tr>")[0]
    assert "Names without accounts" in editor_client.get("/").get_data(as_text=True)  # menu


def test_merge_moves_every_recognition_in_one_step(app, editor, editor_client, noah, stories):
    first, second, both = stories
    response = merge(editor_client, "Noah (no account)", " NOAH@example.com ")
    assert response.status_code == 302 and response.location == "/admin/people/names"
    page = editor_client.get(response.location).get_data(as_text=True)
    assert "“Noah (no account)” is now Noah Levi in 3 stories." in page
    assert "1 of them already named Noah" in page
    assert "<th scope=\"row\">Noah (no account)</th>" not in page  # gone from the list

    amina_id = names_of(first.id)[0][0]
    assert names_of(first.id) == [(amina_id, None), (noah.id, None)]
    assert names_of(second.id) == [(noah.id, None), (None, "Sam (airline)")]
    assert names_of(both.id) == [(noah.id, None)]  # the duplicate name is gone
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.merge_name"))
    assert event.actor_id == editor.id and event.object_id == noah.id
    assert event.details == {"name": "Noah (no account)", "stories": 3, "linked": 2,
                             "duplicates": 1}
    # Noah's pages now show the stories.
    person = editor_client.get(f"/people/{noah.id}").get_data(as_text=True)
    assert "Holiday saved" in person

    again = merge(editor_client, "Noah (no account)", "noah@example.com")
    assert "No story names “Noah (no account)” any more" in editor_client.get(
        again.location).get_data(as_text=True)


def test_featured_emails_of_later_editions_go_to_the_account(
    app, editor_client, outbox, noah
):
    priya = factories.make_user(display_name="Priya Raman", email="priya@example.com")
    story = factories.make_story(priya, names=["Noah"], status=S.SUBMITTED, title="Rescue")
    db.session.commit()
    merge(editor_client, "Noah", noah.email)
    assert editor_client.post(f"/review/story/{story.id}/approve",
                              data={"version": story.version}).status_code == 302
    edition = editions.ensure_upcoming()
    db.session.commit()
    editor_client.post(f"/editions/upcoming/{edition.id}/send", data={"version": edition.version})
    sending.run_edition(edition.id)
    db.session.expire_all()
    assert db.session.get(Edition, edition.id).status == EditionStatus.SENT
    featured = [m for m in outbox if m["To"] == noah.email and not m["List-Id"]]
    assert len(featured) == 1 and "You were featured" in str(featured[0]["Subject"])


def test_merge_from_the_review_screen(app, editor_client, noah, stories):
    _first, second, _both = stories
    url = f"/review/story/{second.id}"
    page = editor_client.get(url).get_data(as_text=True)
    assert "Colleagues without an account" in page
    assert "Apply to all 3 stories naming Noah (no account)" in page
    assert "Apply to all 1 story naming Sam (airline)" in page
    assert f'name="next" value="{url}"' in page

    response = merge(editor_client, "Noah (no account)", noah.email, next=url)
    assert response.location == url
    page = editor_client.get(url).get_data(as_text=True)
    assert "is now Noah Levi in 3 stories" in page
    assert "Apply to all 3 stories naming Noah" not in page
    assert names_of(second.id)[0] == (noah.id, None)


def test_refusals(app, editor_client, noah, stories):
    gone = factories.make_user(display_name="Noah Gone", email="gone@example.com", active=False)
    db.session.commit()
    cases = [
        (("Noah (no account)", "gone@example.com"), "deactivated; merge the name into an active"),
        (("Noah (no account)", "nobody@example.com"), "There is no account with the email"),
        (("Noah (no account)", ""), "Enter the account&#39;s work email."),
        (("", noah.email), "Choose a name from the list."),
        (("x" * 10_000, noah.email), "Choose a name from the list."),
        (("Noah\x00 (no\x07 account)", "a" * 10_000), "Field cannot be longer than 254"),
        (("\x00\x01", noah.email), "Choose a name from the list."),
        (("Nobody named", noah.email), "No story names “Nobody named” any more"),
    ]
    for (name, account), message in cases:
        response = merge(editor_client, name, account)
        assert response.status_code == 302, (name[:20], account[:20])
        page = editor_client.get(response.location).get_data(as_text=True)
        assert message in page, (name[:20], message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Recognition).where(
        Recognition.name == "Noah (no account)")) == 3  # fmt: skip
    assert gone.id


def test_control_characters_in_the_name_are_cleaned_like_stored_names(
    app, editor_client, noah, stories
):
    response = merge(editor_client, "Noah\x00 (no\x07 account)", noah.email)
    assert "is now Noah Levi in 3 stories" in editor_client.get(response.location).get_data(
        as_text=True)


def test_next_never_leaves_the_site(app, editor_client, noah, stories):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil", "x" * 10_000):
        response = merge(editor_client, "Nobody", noah.email, next=target)
        assert response.location == "/admin/people/names", target


def test_who_may_merge(app, employee_client, admin_client, noah, stories):
    assert employee_client.get("/admin/people/names").status_code == 403
    assert merge(employee_client, "Noah (no account)", noah.email).status_code == 403
    assert names_of(stories[0].id)[-1] == (None, "Noah (no account)")
    response = merge(admin_client, "Noah (no account)", noah.email)  # admins too
    assert "is now Noah Levi" in admin_client.get(response.location).get_data(as_text=True)


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_merge_needs_the_csrf_token(app, editor_client, noah, stories):
    assert merge(editor_client, "Noah (no account)", noah.email).status_code == 400
    assert names_of(stories[0].id)[-1] == (None, "Noah (no account)")


def test_names_page_costs_the_same_for_many_names_and_pages(app, editor_client, noah):
    def queries_for(url: str) -> int:
        with count_queries() as log:
            assert editor_client.get(url).status_code == 200
        return log.count

    author = factories.make_user()
    factories.make_story(author, names=["Noah", "Ana"])
    db.session.commit()
    few = queries_for("/admin/people/names")
    for n in range(60):
        factories.make_story(author, names=[f"Person {n:02d}", f"Noah {n:02d}"])
    db.session.commit()
    assert queries_for("/admin/people/names") == few
    page = editor_client.get("/admin/people/names").get_data(as_text=True)
    assert 'href="/admin/people/names?page=2"' in page
    second = editor_client.get("/admin/people/names?page=2").get_data(as_text=True)
    # A–Z, 50 a page: Ana, Noah, Noah 00–47 | Noah 48–59, Person 00–37 | Person 38–59.
    assert "Noah 48" in second and "Person 37" in second and "Noah 47" not in second
    assert 'rel="prev"' in second and 'href="/admin/people/names?page=3"' in second
    for bad in ("?page=0", "?page=-1", "?page=99999999999999999999", "?page=abc",
                "?q=" + "x" * 10_000, "?q=%00%01"):
        assert editor_client.get("/admin/people/names" + bad).status_code == 200, bad
    searched = editor_client.get("/admin/people/names?q=person+5").get_data(as_text=True)
    assert "Person 59" in searched and "Noah 01" not in searched


def test_empty_state(app, editor_client):
    page = editor_client.get("/admin/people/names").get_data(as_text=True)
    assert "Every colleague named in a story has an account" in page
