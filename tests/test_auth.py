"""Signing in and out, password reset, rate limits, CSRF and the `flask users create` command."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.auth.services import GENERIC_LOGIN_ERROR
from app.extensions import db
from app.models import AuditEvent
from app.models import Role
from app.models import User
from tests.factories import DEFAULT_PASSWORD

# The form field and the page's <meta name="csrf-token"> (read by app.js for fetch calls).
CSRF_VALUE = re.compile(
    r'(?<=name="csrf_token" )value="[^"]*"|(?<=name="csrf-token" )content="[^"]*"'
)

NEW_PASSWORD = "a brand new passphrase"


def _login(client, email="erin@example.com", password=DEFAULT_PASSWORD, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


def _set_cookie_headers(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def _reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


# Sign in and out ---------------------------------------------------------------------------------
def test_login_and_logout(client, employee):
    response = _login(client, email="  ERIN@Example.com ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert _reload(employee).last_login_at is not None

    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert "You are signed out" in client.get("/login").get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_signed_in_user_visiting_login_goes_home(employee_client):
    response = employee_client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_remember_me_cookie_only_when_asked(app, employee):
    plain = _login(app.test_client())
    assert not any(c.startswith("remember_token=") for c in _set_cookie_headers(plain))

    remembered = _login(app.test_client(), remember="y")
    cookies = [c for c in _set_cookie_headers(remembered) if c.startswith("remember_token=")]
    assert len(cookies) == 1
    assert "HttpOnly" in cookies[0] and "Expires=" in cookies[0]


def test_remember_cookie_signs_in_a_new_session(app, employee):
    client = app.test_client()
    _login(client, remember="y")
    client.delete_cookie("session")
    assert client.get("/").status_code == 200


def test_same_error_for_unknown_email_and_wrong_password(client, employee):
    unknown = _login(client, email="nobody@example.com")
    wrong = _login(client, password="not the password")
    for response in (unknown, wrong):
        assert response.status_code == 200
        assert GENERIC_LOGIN_ERROR.replace("'", "&#39;") in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_invited_user_without_password_cannot_log_in(client, make_user):
    make_user(email="invited@example.com", password=None)
    db.session.commit()
    response = _login(client, email="invited@example.com", password="")
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_deactivated_user_cannot_log_in(client, make_user):
    make_user(email="gone@example.com", active=False)
    db.session.commit()
    response = _login(client, email="gone@example.com")
    assert response.status_code == 200
    assert "This account has been deactivated" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_next_redirect_to_same_site_path(client, employee):
    response = client.get("/account/")
    assert response.headers["Location"] == "/login?next=/account/"
    response = client.post(
        "/login?next=/account/", data={"email": "erin@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.headers["Location"] == "/account/"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "http://evil.com/account/",
        "/\\evil.com",
        "\\\\evil.com",
        "javascript:alert(1)",
        "///evil.com",
        "/\t/evil.com",
        "https:evil.com",
    ],
)
def test_next_redirect_refuses_other_sites(client, employee, target):
    response = client.post(
        "/login", query_string={"next": target},
        data={"email": "erin@example.com", "password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.app_config(LOGIN_RATE_LIMIT="3 per minute")
def test_login_rate_limit(client, employee):
    for _ in range(3):
        assert _login(client, password="wrong password").status_code == 200
    response = _login(client)  # even the right password waits
    assert response.status_code == 429
    assert "Too many sign" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert client.get("/login").status_code == 200  # only POSTs are limited


# Password reset ----------------------------------------------------------------------------------
def _link(message) -> str:
    text = message.get_body(("plain",)).get_content()
    match = re.search(r"http://localhost(/reset/\S+)", text)
    assert match, text
    return match.group(1)


def test_password_reset_flow(app, client, employee, outbox):
    response = client.post("/reset", data={"email": "Erin@Example.com"})
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert len(outbox) == 1 and outbox[0]["To"] == "erin@example.com"
    link = _link(outbox[0])

    assert "Choose a new password" in client.get(link).get_data(as_text=True)
    response = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert _reload(employee).check_password(NEW_PASSWORD)
    assert _login(app.test_client()).status_code == 200  # the old password no longer works

    again = app.test_client().get(link)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    actions = list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["user.request_reset", "user.reset_password"]


def test_reset_request_for_unknown_or_deactivated_email_looks_the_same(client, make_user, outbox):
    make_user(email="gone@example.com", active=False)
    db.session.commit()
    # The CSRF tokens in the page are signed with a timestamp: only they may differ.
    pages = [
        CSRF_VALUE.sub('value="csrf"', client.post("/reset", data={"email": email})
                       .get_data(as_text=True).replace(email, "X"))
        for email in ("nobody@example.com", "gone@example.com")
    ]
    assert pages[0] == pages[1]
    assert "Check your email" in pages[0]
    assert outbox == []


def test_reset_link_errors(app, client, employee, outbox):
    client.post("/reset", data={"email": "erin@example.com"})
    link = _link(outbox[0])
    response = client.post(link, data={"password": "short", "confirm": "short"})
    assert response.status_code == 200
    assert "Use at least 10 characters (and at most 200)." in response.get_data(as_text=True)

    forged = client.get(link[:-3] + "xyz")
    assert forged.status_code == 400
    assert "This link is not valid" in forged.get_data(as_text=True)

    # An invitation token is not a reset token (different salt).
    from app.auth.services import INVITE
    from app.auth.services import make_token

    response = client.get(f"/reset/{make_token(employee, INVITE)}")
    assert response.status_code == 400


@pytest.mark.app_config(RESET_TOKEN_MAX_AGE=-1)
def test_expired_reset_link(client, employee, outbox):
    client.post("/reset", data={"email": "erin@example.com"})
    response = client.get(_link(outbox[0]))
    assert response.status_code == 400
    assert "This link has expired" in response.get_data(as_text=True)


# CSRF --------------------------------------------------------------------------------------------
@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_post_without_csrf_token_is_refused(client, employee, employee_client, admin_client):
    response = employee_client.post(
        "/account/", data={"display_name": "Hacked", "team": 0, "weekly_email": "y"}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Your form expired or was sent from another site" in page
    assert _reload(employee).display_name == "Erin Employee"

    assert admin_client.post(f"/admin/users/{employee.id}/deactivate").status_code == 400
    assert _reload(employee).is_active_user
    assert _login(client).status_code == 400


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_post_with_csrf_token_is_accepted(employee_client, employee):
    page = employee_client.get("/account/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = employee_client.post(
        "/account/",
        data={"csrf_token": token, "display_name": "Erin Safe", "team": 0, "weekly_email": "y"},
    )
    assert response.status_code == 302
    assert _reload(employee).display_name == "Erin Safe"

    # The prefixed password form on the same page carries its own token.
    page = employee_client.get("/account/").get_data(as_text=True)
    token = re.search(r'name="pw-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = employee_client.post(
        "/account/password",
        data={"pw-csrf_token": token, "pw-current": DEFAULT_PASSWORD,
              "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert _reload(employee).check_password(NEW_PASSWORD)


# CLI ---------------------------------------------------------------------------------------------
def test_cli_users_create_with_password_stdin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "Boss@Example.com", "--name", "Bo Boss", "--role", "admin",
              "--team", "Leadership", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created admin boss@example.com." in result.output
    db.session.expire_all()
    boss = db.session.scalar(sa.select(User).where(User.email == "boss@example.com"))
    assert boss.role == Role.ADMIN and boss.team.name == "Leadership"
    assert boss.check_password(NEW_PASSWORD)
    response = _login(app.test_client(), email="boss@example.com", password=NEW_PASSWORD)
    assert response.status_code == 302

    again = runner.invoke(
        args=["users", "create", "boss@example.com", "--name", "Bo", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert again.exit_code != 0
    assert "already has an account" in again.output

    weak = runner.invoke(
        args=["users", "create", "weak@example.com", "--name", "We Ak", "--password-stdin"],
        input="short\n",
    )
    assert weak.exit_code != 0
    assert "Use at least 10 characters." in weak.output
    assert db.session.scalar(sa.select(User).where(User.email == "weak@example.com")) is None
