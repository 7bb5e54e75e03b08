"""Admin → Provisioning (SCIM): tokens are created by admins, shown once, stored hashed,
listed with their prefix and last use, and revoked after a confirmation."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.scim import services


def _secret(page: str) -> str:
    match = re.search(r'id="scim-token">(fgf_scim_[A-Za-z0-9_-]+)<', page)
    assert match, page
    return match.group(1)


def test_admin_creates_a_token_shown_once(admin_client, admin, app):
    page = admin_client.get("/admin/scim/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "No tokens yet" in text and "http://" in text and "/scim/v2<" in text

    created = admin_client.post("/admin/scim/", data={"name": "  Okta   production "})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    secret = _secret(created.get_data(as_text=True))
    row = db.session.scalar(sa.select(AccessToken))
    assert (row.name, row.purpose, row.created_by_id) == ("Okta production", "scim", admin.id)
    assert row.token_hash == services.hash_token(secret) and row.prefix == secret[:13]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "scim.token.create"))
    assert event.actor_id == admin.id

    listing = admin_client.get("/admin/scim/").get_data(as_text=True)
    assert "Okta production" in listing and f"{row.prefix}…" in listing
    assert secret not in listing  # never shown again
    assert "Never" in listing  # not used yet

    used = app.test_client().get("/scim/v2/Users", headers={"Authorization": f"Bearer {secret}"})
    assert used.status_code == 200
    assert "Never" not in admin_client.get("/admin/scim/").get_data(as_text=True)


def test_token_name_is_required_and_kept_on_error(admin_client):
    response = admin_client.post("/admin/scim/", data={"name": "   "})
    assert response.status_code == 200
    assert "Name the token" in response.get_data(as_text=True)
    long = admin_client.post("/admin/scim/", data={"name": "x" * 500})
    assert "x" * 500 in long.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 0


def test_revoke_asks_first_then_refuses_the_token(admin_client, admin, app):
    _token, secret = services.create_token("Entra", actor=admin)
    db.session.commit()
    token_id = _token.id
    confirm = admin_client.get(f"/admin/scim/{token_id}/revoke")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.get_data(as_text=True)
    assert app.test_client().get(
        "/scim/v2/Users", headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    done = admin_client.post(f"/admin/scim/{token_id}/revoke", follow_redirects=True)
    assert "is revoked" in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(AccessToken, token_id).revoked_at is not None
    assert app.test_client().get(
        "/scim/v2/Users", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    again = admin_client.post(f"/admin/scim/{token_id}/revoke", follow_redirects=True)
    assert "already revoked" in again.get_data(as_text=True)
    assert admin_client.get("/admin/scim/999999/revoke").status_code == 404


def test_only_admins_manage_tokens(editor_client, employee_client):
    for client in (editor_client, employee_client):
        assert client.get("/admin/scim/").status_code == 403
        assert client.post("/admin/scim/", data={"name": "x"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 0


def test_admin_menu_links_to_provisioning(admin_client):
    page = admin_client.get("/admin/scim/").get_data(as_text=True)
    assert 'href="/admin/scim/"' in page and "Provisioning (SCIM)" in page
