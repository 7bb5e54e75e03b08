"""The token pages: a person's own tokens (/account/tokens) and every API token for admins
(/admin/api-tokens). The secret is on the creation page only; errors keep what was typed;
revoking asks first; each role reaches exactly its pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.models import Role
from app.models import utcnow
from app.tokens import services

MINE = "/account/tokens"
ADMIN = "/admin/api-tokens"


def _count(*conditions) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AccessToken).where(*conditions)
    )


def _secret(page: str, kind: str = "pat") -> str:
    found = set(re.findall(rf"fgf_{kind}_[A-Za-z0-9_-]{{43}}", page))
    assert len(found) == 1, page
    return found.pop()


def _dump_database() -> str:
    """Every value in every table, as text: where a leaked secret would show."""
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            parts.extend(str(value) for value in row)
    return "\n".join(parts)


def _form(**values) -> dict:
    return {"name": "Report script", "scopes": ["read"], "expires": "90", **values}


# A person's own tokens ---------------------------------------------------------------------------
def test_the_empty_page_offers_only_the_scopes_the_role_allows(login_as, make_user):
    offered = {}
    for role in Role:
        user = make_user(role)
        db.session.commit()
        page = login_as(user).get(MINE)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "No API tokens yet" in text
        offered[role] = set(re.findall(r'name="scopes" type="checkbox" value="(\w+)"', text))
    assert offered == {
        Role.EMPLOYEE: {"read", "submit"},
        Role.EDITOR: {"read", "submit", "curate"},
        Role.ADMIN: {"read", "submit", "curate", "admin"},
    }


def test_a_new_token_is_shown_once_and_stored_hashed(employee_client, employee, app):
    created = employee_client.post(MINE, data=_form(scopes=["read", "submit"]))
    assert created.status_code == 200 and "Location" not in created.headers
    assert created.headers["Cache-Control"] == "no-store"
    page = created.get_data(as_text=True)
    secret = _secret(page)
    assert "shown only this once" in page
    base = app.config["BASE_URL"].rstrip("/")
    assert f'curl -H "Authorization: Bearer {secret}" {base}/api/v1/me' in page

    row = db.session.scalar(sa.select(AccessToken))
    assert (row.name, row.purpose, row.user_id, row.scopes) == (
        "Report script", "personal", employee.id, "read submit")
    assert row.token_hash == services.hash_token(secret)
    assert timedelta(days=89) < row.expires_at - utcnow() <= timedelta(days=90)
    assert secret not in _dump_database()

    with employee_client.session_transaction() as session:
        assert secret not in str(dict(session))  # not flashed, not kept
    listing = employee_client.get(MINE).get_data(as_text=True)
    assert secret not in listing
    assert "Report script" in listing and f"{row.prefix}…" in listing and "Active" in listing
    assert "Never" in listing  # not used yet


def test_the_list_shows_the_last_use_relative_and_exact(employee_client, employee):
    token, _ = services.create_personal_token(employee, name="Cron", scopes=["read"],
                                              expires_at=None)
    token.last_used_at = utcnow() - timedelta(minutes=5, seconds=3)
    db.session.commit()
    text = employee_client.get(MINE).get_data(as_text=True)
    assert "5 minutes ago" in text
    assert f'datetime="{token.last_used_at.isoformat()}"' in text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": ""}, "Name the token"),
        ({"name": "   "}, "Name the token"),
        ({"name": "x" * 10_000}, "Use at most 120 characters"),
        ({"name": "bad\x01name"}, "control characters"),
        ({"scopes": []}, "Choose at least one scope"),
        ({"scopes": ["curate"]}, "&#39;curate&#39; is not a valid choice"),
        ({"scopes": ["admin", "read"]}, "&#39;admin&#39; is not a valid choice"),
        ({"scopes": ["x" * 5000]}, "is not a valid choice"),
        ({"expires": "7"}, "Not a valid choice"),
        ({"expires": "date"}, "Give the date the token expires"),
        ({"expires": "date", "expires_on": "2020-01-01"}, "must be in the future"),
        ({"expires": "date", "expires_on": "9999-12-31"}, "at most two years"),
        ({"expires": "date", "expires_on": "31/12/2027"}, "Not a valid date"),
        ({"expires": "date", "expires_on": "99999-01-01"}, "Not a valid date"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_bad_input_is_shown_on_the_form_and_nothing_is_written(employee_client, values, message):
    response = employee_client.post(MINE, data=_form(**values))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert message.lower() in text.lower() and "There’s a problem" in text
    assert "fgf_pat_" not in text
    assert _count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_the_form_keeps_what_was_typed(editor_client):
    text = editor_client.post(MINE, data=_form(
        name="Nightly <export>", scopes=["read", "curate"], expires="date",
        expires_on="1999-01-01",
    )).get_data(as_text=True)
    assert 'value="Nightly &lt;export&gt;"' in text
    checked = set(re.findall(r'<input[^>]* checked [^>]*name="scopes" type="checkbox" '
                             r'value="(\w+)"', text))
    assert checked == {"read", "curate"}
    assert re.search(r'<input checked [^>]*name="expires" type="radio" value="date"', text)
    assert 'value="1999-01-01"' in text


def test_an_employee_posting_curate_gets_no_token(employee_client):
    """The form offers no curate box; a crafted POST is refused all the same."""
    employee_client.post(MINE, data=_form(scopes=["read", "curate"]))
    assert _count() == 0


def test_the_cap_is_explained_on_the_form(employee_client, employee):
    for n in range(services.ACTIVE_CAP):
        services.create_personal_token(employee, name=f"t{n}", scopes=["read"], expires_at=None)
    db.session.commit()
    text = employee_client.post(MINE, data=_form()).get_data(as_text=True)
    assert "already has 50 active personal tokens" in text
    assert _count() == 50


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_creating_needs_the_csrf_token(login_as, employee):
    client = login_as(employee)
    assert client.post(MINE, data=_form()).status_code == 400
    assert _count() == 0
    page = client.get(MINE).get_data(as_text=True)
    assert 'name="csrf_token"' in page


# Revoking ----------------------------------------------------------------------------------------
def test_the_owner_revokes_after_confirming(employee_client, employee):
    token, _ = services.create_personal_token(employee, name="Cron", scopes=["read"],
                                              expires_at=None)
    db.session.commit()
    url = f"{MINE}/{token.id}/revoke"
    confirm = employee_client.get(url)
    assert confirm.status_code == 200
    assert "Revoke the token “Cron”?" in confirm.get_data(as_text=True)
    assert token.revoked_at is None  # a GET changes nothing

    done = employee_client.post(url)
    assert done.status_code == 302 and done.headers["Location"].endswith(MINE)
    db.session.refresh(token)
    assert token.revoked_at is not None
    listing = employee_client.get(MINE).get_data(as_text=True)
    assert "is revoked: requests with it are refused now" in listing
    assert "Revoked" in listing and f"{MINE}/{token.id}/revoke" not in listing

    again = employee_client.post(url, follow_redirects=True)
    assert "already revoked" in again.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "api_token.revoke")) == 1


def test_someone_else_cannot_revoke_or_even_see_the_confirmation(
    login_as, make_user, employee, editor, admin
):
    token, _ = services.create_personal_token(employee, name="Cron", scopes=["read"],
                                              expires_at=None)
    service, _ = services.create_service_token(actor=admin, name="Bot", acts_as=employee,
                                               scopes=["read"], expires_at=None)
    colleague = make_user(Role.EMPLOYEE)
    db.session.commit()
    for user in (colleague, editor):
        client = login_as(user)
        for method in ("get", "post"):
            response = getattr(client, method)(f"{MINE}/{token.id}/revoke")
            assert response.status_code == 403
            assert "Cron" not in response.get_data(as_text=True)
    owner = login_as(employee)
    # The person a service token acts as does not manage it: it is not on their page.
    assert owner.post(f"{MINE}/{service.id}/revoke").status_code == 404
    assert owner.get(f"{MINE}/99999999/revoke").status_code == 404
    assert owner.get(f"{MINE}/99999999999999999999/revoke").status_code == 404
    assert _count(AccessToken.revoked_at.is_not(None)) == 0


# Admin pages -------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.EDITOR])
def test_only_admins_reach_the_admin_pages(login_as, make_user, employee, role):
    token, _ = services.create_personal_token(employee, name="Cron", scopes=["read"],
                                              expires_at=None)
    db.session.commit()
    user = make_user(role)
    db.session.commit()
    client = login_as(user)
    for url in (ADMIN, f"{ADMIN}/new", f"{ADMIN}/{token.id}/revoke"):
        assert client.get(url).status_code == 403
        if not url.endswith(ADMIN):
            assert client.post(url, data=_form(acts_as="erin@example.com")).status_code == 403
    assert _count() == 1 and _count(AccessToken.revoked_at.is_not(None)) == 0


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in (MINE, f"{MINE}/1/revoke", ADMIN, f"{ADMIN}/new", f"{ADMIN}/1/revoke"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_admin_list_shows_every_api_token(admin_client, admin, employee):
    empty = admin_client.get(ADMIN).get_data(as_text=True)
    assert "No API tokens yet" in empty
    services.create_personal_token(employee, name="Erin's cron", scopes=["read", "submit"],
                                   expires_at=None)
    services.create_service_token(actor=admin, name="Intranet", acts_as=employee,
                                  scopes=["read"], expires_at=utcnow() + timedelta(days=3))
    db.session.commit()
    text = admin_client.get(ADMIN).get_data(as_text=True)
    assert "Erin&#39;s cron" in text and "Intranet" in text
    assert text.count("Erin Employee") == 2 and "by Ada Admin" in text
    assert text.count('badge--published">Active') == 2
    service_only = admin_client.get(f"{ADMIN}?kind=service").get_data(as_text=True)
    assert "Intranet" in service_only and "Erin&#39;s cron" not in service_only
    none = admin_client.get(f"{ADMIN}?status=revoked").get_data(as_text=True)
    assert "No token matches these filters" in none


def test_the_admin_list_is_paginated(admin_client, employee):
    for n in range(30):
        services.create_personal_token(employee, name=f"token {n:02}", scopes=["read"],
                                       expires_at=None)
    db.session.commit()
    first = admin_client.get(f"{ADMIN}?kind=personal").get_data(as_text=True)
    assert first.count('data-token="') == 25
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "kind=personal" in next_url
    second = admin_client.get(next_url).get_data(as_text=True)
    assert second.count('data-token="') == 5 and 'rel="next"' not in second
    assert 'rel="prev"' in second
    assert admin_client.get(f"{ADMIN}?cursor=%00%ff&kind=%00").status_code == 200


def test_an_admin_creates_a_service_token_for_a_colleague(admin_client, admin, editor):
    form = admin_client.get(f"{ADMIN}/new").get_data(as_text=True)
    assert 'value="ada@example.com"' in form  # acts as the admin unless changed
    created = admin_client.post(f"{ADMIN}/new", data=_form(
        name="Review bot", acts_as=" DANA@example.com ", scopes=["read", "curate"],
        expires="never"))
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    secret = _secret(created.get_data(as_text=True), "svc")
    row = db.session.scalar(sa.select(AccessToken))
    assert (row.purpose, row.user_id, row.created_by_id, row.scopes, row.expires_at) == (
        "service", editor.id, admin.id, "read curate", None)
    assert secret not in _dump_database()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"acts_as": "erin@example.com", "scopes": ["curate"]}, "may not use the “curate”"),
        ({"acts_as": "nobody@example.com"}, "No one here has the address nobody@example.com"),
        ({"acts_as": ""}, "Give the email address"),
        ({"acts_as": "not an address"}, "Enter the person&#39;s email address"),
        ({"acts_as": "gone@example.com"}, "is deactivated"),
        ({"acts_as": "x" * 5000}, "too long for an email address"),
        ({"scopes": ["everything"]}, "is not a valid choice"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_a_refused_service_token_keeps_the_form(admin_client, make_user, employee, values,
                                                message):
    make_user(Role.EDITOR, email="gone@example.com", active=False)
    db.session.commit()
    response = admin_client.post(f"{ADMIN}/new", data=_form(name="Bot", **values))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert message.lower() in text.lower() and 'value="Bot"' in text
    assert _count() == 0


def test_an_admin_revokes_anyones_token(admin_client, employee):
    token, _ = services.create_personal_token(employee, name="Cron", scopes=["read"],
                                              expires_at=None)
    db.session.commit()
    url = f"{ADMIN}/{token.id}/revoke"
    assert "Revoke the token “Cron”?" in admin_client.get(url).get_data(as_text=True)
    done = admin_client.post(url)
    assert done.status_code == 302 and done.headers["Location"].endswith(ADMIN)
    db.session.refresh(token)
    assert token.revoked_at is not None
    assert "Revoked" in admin_client.get(f"{ADMIN}?status=revoked").get_data(as_text=True)


# The token at work -------------------------------------------------------------------------------
def test_a_token_made_on_the_page_works_until_revoked_there(employee_client, employee, app):
    page = employee_client.post(MINE, data=_form(name="Me", scopes=["read"]))
    secret = _secret(page.get_data(as_text=True))
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}

    me = api.get("/api/v1/me", headers=bearer)
    assert me.status_code == 200
    body = me.get_json()
    assert body["token"]["scopes"] == ["read"] and body["token"]["kind"] == "personal"
    assert body["person"]["id"] == employee.id
    listing = employee_client.get(MINE).get_data(as_text=True)
    assert "just now" in listing  # the use is noted and shown
    # The web never takes a token, and the API never takes the session.
    assert api.get(MINE, headers=bearer).status_code == 302
    assert employee_client.get("/api/v1/me").status_code == 401

    token = db.session.scalar(sa.select(AccessToken))
    employee_client.post(f"{MINE}/{token.id}/revoke")
    assert api.get("/api/v1/me", headers=bearer).status_code == 401
