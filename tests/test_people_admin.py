"""The people admin: an admin edits a person's name, email, team and manager, sends them a
password-reset link, and sees their recognitions and submissions; deactivating keeps their
stories and recognitions; bad input never gives a 500; only admins get in."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import Quote
from app.models import Recognition
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from tests import factories
from tests.querycount import count_queries

S = SubmissionStatus


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def details(person: User, **changes) -> dict:
    data = {"display_name": person.display_name, "email": person.email,
            "team": person.team_id or 0, "manager": ""}
    return {**data, **changes}


@pytest.fixture
def noah(app) -> User:
    user = factories.make_user(display_name="Noah Levi", email="noah@example.com")
    db.session.commit()
    return user


def test_admin_edits_name_email_and_team(app, admin, admin_client, noah):
    team = factories.make_team("Support")
    db.session.commit()
    page = admin_client.get(f"/admin/users/{noah.id}").get_data(as_text=True)
    assert f'href="/admin/people/{noah.id}/edit"' in page
    form = admin_client.get(f"/admin/people/{noah.id}/edit").get_data(as_text=True)
    assert 'value="Noah Levi"' in form and 'value="noah@example.com"' in form

    response = admin_client.post(f"/admin/people/{noah.id}/edit", data=details(
        noah, display_name="  Noah   Levi-Cohen ", email=" Noah.Levi@Example.COM ",
        team=team.id))  # fmt: skip
    assert response.status_code == 302 and response.location == f"/admin/users/{noah.id}"
    noah = reload(noah)
    assert noah.display_name == "Noah Levi-Cohen"
    assert noah.email == "noah.levi@example.com"  # normalised
    assert noah.team_id == team.id
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.update"))
    assert event.actor_id == admin.id and event.object_id == noah.id
    assert event.details["email"] == {"from": "noah@example.com", "to": "noah.levi@example.com"}
    assert event.details["team"] == {"from": None, "to": "Support"}
    assert "Saved." in admin_client.get(response.location).get_data(as_text=True)

    again = admin_client.post(f"/admin/people/{noah.id}/edit", data=details(noah))
    assert "Nothing to change." in admin_client.get(again.location).get_data(as_text=True)


def test_an_email_already_taken_is_a_clear_error(app, admin_client, noah):
    factories.make_user(display_name="Amina Diallo", email="amina@example.com")
    db.session.commit()
    response = admin_client.post(f"/admin/people/{noah.id}/edit",
                                 data=details(noah, email="AMINA@example.com",
                                              display_name="Noah L."))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "amina@example.com is already the email of Amina Diallo&#39;s account." in page
    assert 'value="Noah L."' in page  # what was typed is kept
    assert reload(noah).email == "noah@example.com" and reload(noah).display_name == "Noah Levi"

    response = admin_client.post(f"/admin/people/{noah.id}/edit",
                                 data=details(noah, email="not an email"))
    assert response.status_code == 200
    assert reload(noah).email == "noah@example.com"


def test_a_new_email_signs_the_person_out_elsewhere_but_not_the_admin(
    app, admin, admin_client, login_as, noah
):
    """Decision: the email identifies the account, so changing it rotates the security stamp
    (sessions, remember-me cookies and links mailed to the old address stop working)."""
    noah_client = login_as(noah)
    assert noah_client.get("/account/").status_code == 200
    stamp = noah.security_stamp
    admin_client.post(f"/admin/people/{noah.id}/edit",
                      data=details(noah, email="noah.levi@example.com"))
    assert reload(noah).security_stamp != stamp
    assert "/login" in noah_client.get("/account/").location  # signed out

    name_only = reload(noah).security_stamp
    admin_client.post(f"/admin/people/{noah.id}/edit",
                      data=details(reload(noah), display_name="Noah L"))
    assert reload(noah).security_stamp == name_only  # a new name signs nobody out

    # An admin changing their own email stays signed in here.
    admin_client.post(f"/admin/people/{admin.id}/edit",
                      data=details(admin, email="boss@example.com"))
    assert reload(admin).email == "boss@example.com"
    assert admin_client.get(f"/admin/users/{admin.id}").status_code == 200


@pytest.mark.parametrize("field, value, message", [
    ("display_name", "x" * 10_000, "Field cannot be longer than 120 characters."),
    ("display_name", "\x00\x07\x1b", "This field is required."),
    ("email", "a" * 10_000 + "@example.com", "Field cannot be longer than 254 characters."),
    ("email", "noah@@example.com\x00", "Enter a valid email address."),
    ("manager", "m" * 10_000, "Field cannot be longer than 254 characters."),
    ("manager", "\x00bob\x01", "There is no account with the email bob."),
    ("team", "99999999999999999999", "Invalid Choice: could not coerce."),
    ("team", "424242", "Not a valid choice."),
])
def test_bad_input_is_a_form_error_never_a_500(app, admin_client, noah, field, value, message):
    response = admin_client.post(f"/admin/people/{noah.id}/edit",
                                 data=details(noah, **{field: value}))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page or message.replace("'", "&#39;") in page, page[-3000:]
    assert reload(noah).display_name == "Noah Levi" and reload(noah).email == "noah@example.com"


def test_control_characters_are_removed_from_a_name(app, admin_client, noah):
    admin_client.post(f"/admin/people/{noah.id}/edit",
                      data=details(noah, display_name="Noah\x00 \u200bLevi\x1b"))
    assert reload(noah).display_name == "Noah Levi"


def test_unknown_and_huge_ids(app, admin_client):
    for path in ("/admin/people/999999/edit", "/admin/people/99999999999999999999/edit"):
        assert admin_client.get(path).status_code == 404
        assert admin_client.post(path, data={"display_name": "x"}).status_code == 404
    assert admin_client.post("/admin/people/999999/send-reset").status_code == 404


# -- password reset -------------------------------------------------------------------------------


def test_admin_sends_a_password_reset_link(app, admin, admin_client, client, outbox, noah):
    page = admin_client.get(f"/admin/users/{noah.id}").get_data(as_text=True)
    assert f'action="/admin/people/{noah.id}/send-reset"' in page
    response = admin_client.post(f"/admin/people/{noah.id}/send-reset")
    assert response.status_code == 302
    assert "is on its way to noah@example.com" in admin_client.get(response.location).get_data(
        as_text=True)
    [message] = outbox
    assert message["To"] == "noah@example.com"
    assert message["Subject"] == "Reset your Feel Good Fridays password"
    link = re.search(r"http://localhost(/reset/\S+)", message.get_body(("plain",)).get_content())
    assert client.get(link.group(1)).status_code == 200  # the reset flow's own, working link
    response = client.post(link.group(1), data={"password": "a brand new secret",
                                                "confirm": "a brand new secret"})
    assert response.status_code == 302
    assert reload(noah).check_password("a brand new secret")
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "user.send_reset" in actions


def test_no_reset_link_for_a_deactivated_person(app, admin_client, outbox, noah):
    noah.is_active_user = False
    db.session.commit()
    page = admin_client.get(f"/admin/users/{noah.id}").get_data(as_text=True)
    assert "/send-reset" not in page
    response = admin_client.post(f"/admin/people/{noah.id}/send-reset")
    assert response.status_code == 302
    assert "reactivate the account first" in admin_client.get(response.location).get_data(
        as_text=True)
    assert outbox == []


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_reset_needs_the_csrf_token(app, admin_client, outbox, noah):
    assert admin_client.post(f"/admin/people/{noah.id}/send-reset").status_code == 400
    assert outbox == []


# -- recognitions and submissions on the person page ----------------------------------------------


def test_person_page_lists_recognitions_and_submissions(app, admin_client, noah):
    priya = factories.make_user(display_name="Priya Raman")
    factories.make_story(priya, title="Holiday saved", colleagues=[noah], status=S.PUBLISHED)
    factories.make_story(priya, title="Under review", colleagues=[noah], status=S.SUBMITTED)
    factories.make_story(noah, title="My draft", status=S.DRAFT)
    factories.make_quote(noah, text="Wonderful service, thank you all.", status=S.APPROVED)
    db.session.commit()
    page = admin_client.get(f"/admin/users/{noah.id}").get_data(as_text=True)
    recognized = page.split("Recognized in (2)")[1].split("Submissions (2)")[0]
    assert re.search(r'<a href="/stories/\d+">Holiday saved</a>', recognized)
    assert re.search(r'<a href="/review/story/\d+">Under review</a>', recognized)
    assert "Published" in recognized and "Submitted" in recognized and "Priya Raman" in recognized
    submitted = page.split("Submissions (2)")[1]
    assert "My draft" in submitted and '">My draft</a>' not in submitted  # drafts: no page
    assert re.search(r'<a href="/review/quote/\d+">Wonderful service', submitted)


def test_long_lists_are_capped_with_their_count_and_cost_the_same(app, admin_client, noah):
    def queries_for_page() -> int:
        db.session.expire_all()
        with count_queries() as log:
            assert admin_client.get(f"/admin/users/{noah.id}").status_code == 200
        return log.count

    author = factories.make_user()
    factories.make_story(author, colleagues=[noah], status=S.PUBLISHED)
    factories.make_story(noah, status=S.SUBMITTED)
    factories.make_user(display_name="Report One").manager = noah
    db.session.commit()
    few = queries_for_page()

    for _ in range(25):
        factories.make_story(author, colleagues=[noah], status=S.PUBLISHED)
        factories.make_story(noah, status=S.SUBMITTED)
        factories.make_quote(noah, status=S.SUBMITTED)
        factories.make_user().manager = noah
    db.session.commit()
    assert queries_for_page() == few
    page = admin_client.get(f"/admin/users/{noah.id}").get_data(as_text=True)
    assert "Recognized in (26)" in page and "The 20 most recent of 26 stories." in page
    assert "Submissions (51)" in page and "The 20 most recent of 51 submissions." in page
    assert "Report One" in page  # the people Noah manages


def test_deactivating_keeps_stories_and_recognitions(app, admin_client, client, noah):
    priya = factories.make_user(display_name="Priya Raman")
    named = factories.make_story(priya, title="Holiday saved", colleagues=[noah],
                                 status=S.PUBLISHED)
    own = factories.make_story(noah, title="Noah's own story", status=S.PUBLISHED)
    quote = factories.make_quote(noah, status=S.PUBLISHED)
    db.session.commit()
    response = admin_client.post(f"/admin/users/{noah.id}/deactivate")
    assert response.status_code == 302
    assert reload(noah).is_active_user is False

    db.session.expire_all()
    assert db.session.get(Story, own.id).author_id == noah.id
    assert db.session.get(Quote, quote.id).author_id == noah.id
    assert db.session.scalars(sa.select(Recognition.user_id).where(
        Recognition.story_id == named.id)).all() == [noah.id]  # fmt: skip
    page = admin_client.get(f"/admin/users/{noah.id}").get_data(as_text=True)
    assert "Recognized in (1)" in page and "Submissions (2)" in page
    assert "Their stories, quotes and recognitions stay." not in page  # shown only before
    story_page = admin_client.get(f"/stories/{named.id}").get_data(as_text=True)
    assert "Noah Levi" in story_page


# -- who gets in ----------------------------------------------------------------------------------


def test_only_admins_edit_people(app, employee_client, editor_client, outbox, noah):
    for client in (employee_client, editor_client):
        assert client.get(f"/admin/people/{noah.id}/edit").status_code == 403
        response = client.post(f"/admin/people/{noah.id}/edit",
                               data=details(noah, display_name="Hacked"))
        assert response.status_code == 403
        assert client.post(f"/admin/people/{noah.id}/send-reset").status_code == 403
    assert reload(noah).display_name == "Noah Levi" and outbox == []


def test_the_role_is_not_part_of_the_details_form(app, admin_client, noah):
    admin_client.post(f"/admin/people/{noah.id}/edit", data=details(noah, role="admin"))
    assert reload(noah).role == Role.EMPLOYEE
