"""Managers: an admin sets a person's manager (no loops, nobody deactivated, not themselves);
when people are featured in an edition their active manager gets one "your team member made a
customer's day" email per edition (a kind they can turn off); team pages say who manages them."""

from __future__ import annotations

import re

import pytest

from app.editions import services as editions
from app.extensions import db
from app.models import Edition
from app.models import EditionStatus
from app.models import SubmissionStatus
from app.models import User
from app.newsletter import sending
from app.notifications import preferences
from app.notifications.kinds import KINDS
from tests import factories

S = SubmissionStatus


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def set_manager(client, person: User, manager_email: str):
    return client.post(f"/admin/people/{person.id}/edit", data={
        "display_name": person.display_name, "email": person.email,
        "team": person.team_id or 0, "manager": manager_email,
    })  # fmt: skip


def to(outbox, user: User) -> list:
    return [m for m in outbox if m["To"] == user.email and not m["List-Id"]]


def story(editor_client, author: User, title: str, colleagues: list[User]) -> None:
    """A story submitted by `author`, approved by an editor into the upcoming edition."""
    item = factories.make_story(author, title=title, colleagues=colleagues, status=S.SUBMITTED)
    db.session.commit()
    response = editor_client.post(f"/review/story/{item.id}/approve",
                                  data={"version": item.version})
    assert response.status_code == 302, response.get_data(as_text=True)


def send_edition(editor_client) -> Edition:
    """The upcoming edition, sent as an editor does it: "Send now", then the real sender."""
    edition = editions.ensure_upcoming()
    db.session.commit()
    response = editor_client.post(f"/editions/upcoming/{edition.id}/send",
                                  data={"version": edition.version})
    assert response.status_code == 302
    sending.run_edition(edition.id)
    db.session.expire_all()
    edition = db.session.get(Edition, edition.id)
    assert edition.status == EditionStatus.SENT
    return edition


@pytest.fixture
def people(app):
    team = factories.make_team("Support")
    maya = factories.make_user(display_name="Maya Chen", email="maya@example.com", team=team)
    noah = factories.make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    amina = factories.make_user(display_name="Amina Diallo", email="amina@example.com",
                                team=team)
    priya = factories.make_user(display_name="Priya Raman", email="priya@example.com")
    db.session.commit()
    return {"team": team, "maya": maya, "noah": noah, "amina": amina, "priya": priya}


# -- the "done when": a featured colleague's manager receives the email -------------------


def test_a_featured_colleagues_manager_receives_the_email(
    app, admin_client, editor_client, outbox, people
):
    maya, noah, amina, priya = (people[k] for k in ("maya", "noah", "amina", "priya"))
    assert set_manager(admin_client, noah, "MAYA@example.com ").status_code == 302
    assert set_manager(admin_client, amina, "maya@example.com").status_code == 302
    assert reload(noah).manager_id == maya.id and reload(amina).manager_id == maya.id

    story(editor_client, priya, "A holiday saved", [noah])
    story(editor_client, priya, "The calm voice", [noah, amina])
    edition = send_edition(editor_client)

    [message] = to(outbox, maya)  # one email for the edition, both people in it
    assert message["Subject"] == (
        f"2 people you manage made a customer's day: Feel Good Fridays #{edition.number}")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Maya, people you manage made a customer's day" in text
    assert "Noah Levi, Amina Diallo are featured" in text
    assert "- A holiday saved" in text and "- The calm voice" in text
    assert f"http://localhost/editions/{edition.number}" in text
    assert re.search(r'href="http://localhost/stories/\d+"', html)
    assert "Noah Levi" in html and "Amina Diallo" in html
    # The featured people still get their own email; the manager has no "featured" one.
    assert len(to(outbox, noah)) == 1 and "featured" in str(to(outbox, noah)[0]["Subject"])


def test_one_person_one_story_and_the_manager_may_turn_it_off(
    app, admin_client, editor_client, login_as, outbox, people
):
    maya, noah, priya = people["maya"], people["noah"], people["priya"]
    set_manager(admin_client, noah, maya.email)
    story(editor_client, priya, "Holiday saved", [noah])
    edition = send_edition(editor_client)
    [message] = to(outbox, maya)
    assert message["Subject"] == (
        f"Noah Levi made a customer's day: Feel Good Fridays #{edition.number}")
    assert "Noah Levi is featured" in message.get_body(("plain",)).get_content()

    # The footer's one-click link turns this kind off, and only this kind.
    header = str(message["List-Unsubscribe"])
    path = header[len("<http://localhost"):-1]
    assert "A person I manage was featured".lower() in message.get_body(
        ("plain",)).get_content().lower()
    assert app.test_client().post(path).status_code == 200
    assert not preferences.is_enabled(reload(maya), KINDS["team_featured"])
    assert preferences.is_enabled(reload(maya), KINDS["featured"])

    story(editor_client, priya, "Another day", [noah])
    send_edition(editor_client)
    assert len(to(outbox, maya)) == 1  # nothing more


def test_profile_switch_for_the_new_kind(app, login_as, people):
    maya = people["maya"]
    page = login_as(maya).get("/account/").get_data(as_text=True)
    assert "A person I manage was featured" in page
    assert 'name="n-team_featured"' in page


def test_nobody_is_told_by_a_deactivated_manager_or_about_their_own_story(
    app, admin_client, editor_client, outbox, people
):
    maya, noah, amina, priya = (people[k] for k in ("maya", "noah", "amina", "priya"))
    set_manager(admin_client, noah, maya.email)
    set_manager(admin_client, amina, priya.email)
    # Priya wrote the story naming Amina (whom she manages): she hears about it as its author.
    story(editor_client, priya, "Teamwork", [amina, noah])
    maya = reload(maya)
    maya.is_active_user = False
    db.session.commit()
    send_edition(editor_client)
    assert to(outbox, maya) == []
    subjects = [str(m["Subject"]) for m in to(outbox, priya)]
    assert not any("made a customer's day" in s for s in subjects), subjects


# -- choosing a manager ---------------------------------------------------------------------------


def test_manager_rules(app, admin, admin_client, people):
    maya, noah, amina = people["maya"], people["noah"], people["amina"]
    gone = factories.make_user(display_name="Gone Person", email="gone@example.com", active=False)
    db.session.commit()

    page = set_manager(admin_client, noah, noah.email)
    assert page.status_code == 200
    assert "Someone cannot be their own manager." in page.get_data(as_text=True)

    page = set_manager(admin_client, noah, gone.email).get_data(as_text=True)
    assert "deactivated; choose an active colleague" in page
    assert 'value="gone@example.com"' in page  # what was typed is kept

    page = set_manager(admin_client, noah, "nobody@example.com").get_data(as_text=True)
    assert "There is no account with the email nobody@example.com." in page

    # A chain may not loop: Noah → Maya → Amina, so Amina cannot report to Noah (nor to Maya).
    assert set_manager(admin_client, noah, maya.email).status_code == 302
    assert set_manager(admin_client, maya, amina.email).status_code == 302
    page = set_manager(admin_client, amina, noah.email).get_data(as_text=True)
    assert "the chain would loop" in page
    page = set_manager(admin_client, amina, maya.email).get_data(as_text=True)
    assert "the chain would loop" in page
    assert reload(amina).manager_id is None

    # Emptying the field removes the manager.
    assert set_manager(admin_client, noah, "").status_code == 302
    assert reload(noah).manager_id is None
    # The admin can be a manager, and the person page shows both sides.
    set_manager(admin_client, amina, admin.email)
    page = admin_client.get(f"/admin/users/{amina.id}").get_data(as_text=True)
    assert f'<a href="/admin/users/{admin.id}">{admin.display_name}</a>' in page
    page = admin_client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    assert f'<a href="/admin/users/{amina.id}">Amina Diallo</a>' in page


# -- team pages -----------------------------------------------------------------------------------


def test_team_page_says_who_manages_the_team(app, employee_client, people):
    team = people["team"]
    maya, noah, amina = people["maya"], people["noah"], people["amina"]
    page = employee_client.get(f"/teams/{team.id}").get_data(as_text=True)
    assert "Managed by" not in page  # nobody yet

    # Nobody inside manages anyone: the members' manager outside the team manages it.
    director = factories.make_user(display_name="Dee Director", email="dee@example.com")
    noah.manager = director
    db.session.commit()
    page = employee_client.get(f"/teams/{team.id}").get_data(as_text=True)
    assert f'Managed by <a href="/people/{director.id}">Dee Director</a>' in page

    # A lead inside the team (Maya, managing Noah and Amina) is who manages it; Maya's own
    # manager and a sub-lead are not listed.
    maya = reload(maya)
    maya.manager = db.session.get(User, director.id)
    for person in (noah, amina):
        db.session.get(User, person.id).manager = maya
    db.session.commit()
    page = employee_client.get(f"/teams/{team.id}").get_data(as_text=True)
    assert f'Managed by <a href="/people/{maya.id}">Maya Chen</a></p>' in page
    assert "Dee Director" not in page

    # A deactivated lead no longer manages it.
    maya.is_active_user = False
    db.session.commit()
    page = employee_client.get(f"/teams/{team.id}").get_data(as_text=True)
    assert "Managed by" not in page  # her reports' manager is inactive, and so is she


def test_roles(app, employee_client, editor_client, people):
    noah = people["noah"]
    for client in (employee_client, editor_client):
        assert client.get(f"/admin/people/{noah.id}/edit").status_code == 403
        assert set_manager(client, noah, people["maya"].email).status_code == 403
    assert reload(noah).manager_id is None
