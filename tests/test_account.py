"""The profile page through the real stack: name, team, time zone, weekly email, password."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import User
from tests.factories import DEFAULT_PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def _reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def _actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def _profile(user: User, **changes) -> dict:
    data = {
        "display_name": user.display_name,
        "team": user.team_id or 0,
        "timezone": user.timezone or "",
    }
    if not user.email_opt_out:
        data["weekly_email"] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_anonymous_is_sent_to_login(client):
    response = client.get("/account/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_profile_page_shows_current_values(employee_client, employee, make_team):
    team = make_team("Digital")
    employee.team = team
    employee.timezone = "Europe/Lisbon"
    db.session.commit()
    page = employee_client.get("/account/").get_data(as_text=True)
    assert 'value="Erin Employee"' in page
    assert f'<option selected value="{team.id}">Digital</option>' in page
    assert 'value="Europe/Lisbon"' in page
    assert 'name="weekly_email" type="checkbox" value="y"' in page and "checked" in page
    assert '<label class="field__label" for="pw-current">Current password</label>' in page


def test_update_name_team_and_timezone(employee_client, employee, make_team):
    team = make_team("Field Service")
    db.session.commit()
    response = employee_client.post(
        "/account/",
        data=_profile(employee, display_name="  Erin   Rivers ", team=team.id,
                      timezone="America/New_York"),
    )
    assert response.status_code == 302
    erin = _reload(employee)
    assert (erin.display_name, erin.team_id, erin.timezone) == (
        "Erin Rivers", team.id, "America/New_York")
    assert "Profile saved." in employee_client.get("/account/").get_data(as_text=True)
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "user.update_profile")
    )
    assert event.actor_id == employee.id
    assert event.details["display_name"] == {"from": "Erin Employee", "to": "Erin Rivers"}

    # Clearing the time zone falls back to the organization's.
    employee_client.post("/account/", data=_profile(erin, timezone="", team=0))
    erin = _reload(employee)
    assert erin.timezone is None and erin.team_id is None


def test_unchanged_profile_says_so(employee_client, employee):
    employee_client.post("/account/", data=_profile(employee))
    assert "Nothing to change." in employee_client.get("/account/").get_data(as_text=True)
    assert _actions() == []


def test_invalid_profile_keeps_input_and_changes_nothing(employee_client, employee):
    response = employee_client.post(
        "/account/", data=_profile(employee, display_name="Erin New", timezone="Moon/Base")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "&#39;Moon/Base&#39; is not a known time zone" in page
    assert 'value="Erin New"' in page and 'value="Moon/Base"' in page
    assert _reload(employee).display_name == "Erin Employee"

    response = employee_client.post("/account/", data=_profile(employee, display_name="   "))
    assert response.status_code == 200
    assert "This field is required." in response.get_data(as_text=True)
    response = employee_client.post("/account/", data=_profile(employee, team=12345))
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert _actions() == []


def test_opt_out_and_resubscribe_round_trip(employee_client, employee):
    response = employee_client.post("/account/", data=_profile(employee, weekly_email=None))
    assert response.status_code == 302
    erin = _reload(employee)
    assert erin.email_opt_out and erin.opted_out_at is not None and not erin.receives_email
    page = employee_client.get("/account/").get_data(as_text=True)
    assert "You will not receive the weekly email any more" in page
    assert "checked" not in page.split('name="weekly_email"')[0].rsplit("<input", 1)[-1]

    employee_client.post("/account/", data=_profile(erin, weekly_email="y"))
    erin = _reload(employee)
    assert not erin.email_opt_out and erin.opted_out_at is None and erin.receives_email
    assert "Welcome back" in employee_client.get("/account/").get_data(as_text=True)
    assert _actions() == ["user.email_opt_out", "user.email_opt_in"]


def test_people_unsubscribed_by_link_can_resubscribe(employee_client, employee):
    from app.models import utcnow

    employee.email_opt_out, employee.opted_out_at = True, utcnow()
    db.session.commit()
    page = employee_client.get("/account/").get_data(as_text=True)
    assert 'name="weekly_email" type="checkbox" value="y">' in page  # unchecked
    employee_client.post("/account/", data=_profile(_reload(employee), weekly_email="y"))
    assert _reload(employee).receives_email


def _password(current: str = DEFAULT_PASSWORD, new: str = NEW_PASSWORD, confirm: str | None = None):
    return {"pw-current": current, "pw-password": new, "pw-confirm": confirm or new}


def test_password_change(app, employee, login_as, outbox):
    this_device, other_device = login_as(employee), login_as(employee)
    response = this_device.post("/account/password", data=_password())
    assert response.status_code == 302
    assert _reload(employee).check_password(NEW_PASSWORD)

    page = this_device.get("/account/")
    assert page.status_code == 200  # still signed in here, with the new stamp
    assert "Password changed." in page.get_data(as_text=True)
    assert other_device.get("/account/").status_code == 302  # signed out elsewhere

    assert len(outbox) == 1 and outbox[0]["To"] == "erin@example.com"
    assert "password was changed" in outbox[0]["Subject"]
    assert "http://localhost/reset" in outbox[0].get_body(("plain",)).get_content()

    fresh = app.test_client()
    bad = fresh.post("/login", data={"email": "erin@example.com", "password": DEFAULT_PASSWORD})
    assert bad.status_code == 200
    good = fresh.post("/login", data={"email": "erin@example.com", "password": NEW_PASSWORD})
    assert good.status_code == 302
    assert "user.change_password" in _actions()


def test_password_change_keeps_remember_me(app, employee):
    client = app.test_client()
    client.post(
        "/login",
        data={"email": "erin@example.com", "password": DEFAULT_PASSWORD, "remember": "y"},
    )
    old_cookie = client.get_cookie("remember_token").value
    client.post("/account/password", data=_password())
    new_cookie = client.get_cookie("remember_token")
    assert new_cookie is not None and new_cookie.value != old_cookie


def test_password_change_errors(employee_client, employee, outbox):
    cases = [
        (_password(current="wrong password!"), "Current password: Your current password is not"),
        (_password(new="short"), "New password: Use at least 10 characters"),
        (_password(confirm="something else entirely"), "The two passwords differ."),
        (_password(new="ERIN@example.com"), "Your password cannot be your email address."),
    ]
    for data, message in cases:
        response = employee_client.post("/account/password", data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, message
        assert message in page, message
        assert 'value="Erin Employee"' in page  # the profile form is still there
    assert _reload(employee).check_password(DEFAULT_PASSWORD)
    assert outbox == []
    assert _actions() == []
