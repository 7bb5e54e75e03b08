""""Download my data" (app/privacy/export.py): the ZIP's files hold exactly what was stored, no
secret, with the right headers; an admin downloads anyone's; it is audited and rate-limited."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import sqlalchemy as sa
from PIL import Image

from app.extensions import db
from app.models import AuditEvent
from app.photos.services import save_photo
from app.privacy import erasure
from tests.fixtures.privacy import LEAVER_EMAIL
from tests.fixtures.privacy import LEAVER_NAME
from tests.fixtures.users import login


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 80, 10)).save(out, "PNG")
    return out.getvalue()


def _files(response) -> dict[str, object]:
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    return {name: (json.loads(archive.read(name)) if name.endswith(".json")
                   else archive.read(name)) for name in archive.namelist()}


def test_download_my_data_holds_everything_about_me(app, leaver):
    save_photo(leaver.person, _png())
    db.session.commit()
    client = login(app.test_client(), leaver.person)
    response = client.post("/account/data")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert f"feelgood-data-{leaver.person.id}-20" in disposition and ".zip" in disposition
    files = _files(response)

    assert set(files) == {"profile.json", "stories.json", "quotes.json", "comments.json",
                          "applause.json", "recognitions.json", "deliveries.json",
                          "reading.json", "notification_preferences.json", "tokens.json",
                          "audit.json", "photo.jpg", "README.txt"}
    profile = files["profile.json"]
    assert (profile["email"], profile["display_name"], profile["role"]) == (
        LEAVER_EMAIL, LEAVER_NAME, "editor")
    assert profile["team"]["name"] == "Harbour" and profile["timezone"] == "Europe/Oslo"
    assert profile["oidc_subject"] == "sub-lena" and profile["has_photo"] is True

    stories = {s["title"]: s for s in files["stories.json"]}
    assert set(stories) == {"The harbour rescue", "Half-written"}
    rescue = stories["The harbour rescue"]
    assert rescue["status"] == "published" and rescue["body_md"] == "Lena fixed it fast."
    assert rescue["recognized"] == ["Pat Outsider"]
    assert [r["data"]["body_md"] for r in rescue["revisions"]] == ["First words"]
    assert [(q["text"], len(q["revisions"])) for q in files["quotes.json"]] == [
        ("Lena was wonderful.", 1)]
    assert [c["body"] for c in files["comments.json"]] == ["So kind, thank you!"]
    assert [a["story_title"] for a in files["applause.json"]] == ["Thanks to the harbour team"]
    assert [r["story_title"] for r in files["recognitions.json"]] == [
        "Thanks to the harbour team"]
    assert [(d["edition_number"], d["status"], d["email"]) for d in files["deliveries.json"]] \
        == [(leaver.sent.number, "sent", LEAVER_EMAIL)]
    assert sorted(e["kind"] for e in files["reading.json"]) == ["click", "open"]
    assert files["notification_preferences.json"] == [
        {"kind": "comments", "enabled": False,
         "updated_at": files["notification_preferences.json"][0]["updated_at"]}]
    tokens = files["tokens.json"]
    assert sorted(t["purpose"] for t in tokens) == ["feed", "personal"]
    assert all("token_hash" not in t for t in tokens)
    assert "h1h1" not in json.dumps(tokens)  # the stored hash never leaves
    actions = {e["action"] for e in files["audit.json"]}
    assert {"user.invite", "story.submit", "user.photo_set"} <= actions
    assert "story.edit" not in actions  # the colleague's entries are theirs
    assert files["photo.jpg"][:3] == b"\xff\xd8\xff"  # a JPEG
    # The other colleague's comment and data are not in it.
    assert "Well deserved" not in json.dumps(files["comments.json"])
    assert "colin@example.com" not in response.get_data(as_text=False).decode("latin-1")

    entry = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action ==
                                                          "user.data_export"))
    assert (entry.actor_id, entry.object_id) == (leaver.person.id, leaver.person.id)
    assert entry.details["counts"]["stories"] == 2


def test_admin_downloads_a_persons_data(app, leaver, admin, admin_client):
    response = admin_client.post(f"/admin/users/{leaver.person.id}/data")
    assert response.status_code == 200
    assert _files(response)["profile.json"]["email"] == LEAVER_EMAIL
    entry = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action ==
                                                          "user.data_export"))
    assert (entry.actor_id, entry.object_id, entry.details["by_admin"]) == (
        admin.id, leaver.person.id, True)


def test_only_admins_download_someone_else(app, leaver, editor_client):
    assert editor_client.post(f"/admin/users/{leaver.person.id}/data").status_code == 403


def test_anonymous_is_sent_to_sign_in(app, client):
    assert client.post("/account/data").status_code == 302


def test_an_export_of_others_does_not_name_an_erased_person(app, leaver, admin):
    erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.commit()
    client = login(app.test_client(), leaver.colleague)
    files = _files(client.post("/account/data"))
    text = json.dumps(files, default=str)
    assert LEAVER_NAME not in text and LEAVER_EMAIL not in text
    assert [s["recognized"] for s in files["stories.json"]] == [
        ["a former colleague", "Colin Colleague"]]


@pytest.mark.app_config(DATA_EXPORT_RATE_LIMIT="2 per hour")
def test_downloads_are_rate_limited(app, employee):
    client = login(app.test_client(), employee)
    assert [client.post("/account/data").status_code for _ in range(3)] == [200, 200, 429]


def test_profile_offers_the_download(app, employee_client):
    page = employee_client.get("/account/").get_data(as_text=True)
    assert 'action="/account/data"' in page and "Download my data" in page


def test_an_admins_export_leaves_out_details_about_others(app, admin):
    """Entries where they only acted (here: an admin creating someone) say what and when, not
    the other person's address; entries about their own account keep their details."""
    from app import audit
    from tests import factories

    someone = factories.make_user(email="someone.else@example.com")
    audit.record(admin, "user.create", someone, email="someone.else@example.com", role="employee")
    audit.record(admin, "user.update_profile", admin, timezone={"from": None, "to": "UTC"})
    db.session.commit()
    response = login(app.test_client(), admin).post("/account/data")
    entries = {e["action"]: e for e in _files(response)["audit.json"]}
    assert "someone.else@example.com" not in json.dumps(entries)
    created = entries["user.create"]
    assert (created["object_type"], created["object_id"], created["by_you"]) == (
        "user", someone.id, True)
    assert "details" not in created and created["created_at"]
    assert entries["user.update_profile"]["details"] == {"timezone": {"from": None, "to": "UTC"}}
