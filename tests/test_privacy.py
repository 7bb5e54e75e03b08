"""Erasing a person (app/privacy/erasure.py): every setting combination, what stays and what
goes, counted; the audit trail names nobody; refusals; the admin's confirmation page."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from app.engagement.queries import edition_readership
from app.errors import Conflict
from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.models import Comment
from app.models import Delivery
from app.models import EditionItem
from app.models import EngagementEvent
from app.models import NotificationPreference
from app.models import OutboxMessage
from app.models import Quote
from app.models import Reaction
from app.models import Recognition
from app.models import Revision
from app.models import Role
from app.models import Story
from app.models import User
from app.privacy import erasure
from app.reading import search
from tests.fixtures.privacy import LEAVER_EMAIL
from tests.fixtures.privacy import LEAVER_NAME
from tests.fixtures.privacy import table_counts
from tests.fixtures.users import login

COMBINATIONS = [("anonymize", "keep"), ("anonymize", "remove"), ("remove", "keep"),
                ("remove", "remove")]


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _audit_text() -> str:
    return json.dumps([e.details for e in db.session.scalars(sa.select(AuditEvent))]).lower()


@pytest.mark.parametrize(("account", "stories"), COMBINATIONS)
def test_erasure_under_each_setting(app, leaver, admin, set_privacy, account, stories):
    set_privacy(erasure_account=account, erasure_stories=stories)
    person, uid = leaver.person, leaver.person.id
    before = table_counts()
    report = edition_readership(leaver.sent).current

    found = erasure.erase_person(person, actor=admin, via="admin")
    db.session.commit()
    db.session.expire_all()

    assert found.as_dict() == {"stories": 2, "quotes": 1, "recognitions": 1, "comments": 1,
                               "reactions": 1, "deliveries": 1, "reading_events": 2,
                               "notification_preferences": 1, "tokens": 2, "outbox": 1}
    after = table_counts()
    # Always: their comments, applause, delivery, preferences, tokens and outbox mail go; the
    # colleague's stay; reading events stay (anonymized), so edition counts do not move.
    for table in ("comments", "deliveries", "outbox", "preferences"):
        assert after[table] == before[table] - 1, table
    # Removed stories take their applause with them (the colleague's, here).
    assert after["reactions"] == before["reactions"] - (2 if stories == "remove" else 1)
    assert after["tokens"] == before["tokens"] - 2
    assert after["events"] == before["events"]
    assert _count(EngagementEvent, EngagementEvent.user_id == uid) == 0
    assert _count(EngagementEvent, EngagementEvent.tag.like("d%")) == 2  # the colleague's
    # The sent edition's report: delivered, opened and clicked as before.
    now = edition_readership(db.session.get(type(leaver.sent), leaver.sent.id)).current
    assert (now.delivered, now.opened, now.clicked) == (report.delivered, report.opened,
                                                        report.clicked) == (2, 2, 2)
    assert _count(Comment, Comment.author_id == leaver.colleague.id) == 1
    assert _count(OutboxMessage, OutboxMessage.to_addr == leaver.colleague.email) == 1
    assert _count(Delivery, Delivery.email == leaver.colleague.email) == 1

    # The recognition in the colleague's story stays, without their name.
    names = [r.display_name for r in db.session.get(Story, leaver.recognizing.id).recognitions]
    assert names == ["a former colleague", "Colin Colleague"]
    assert _count(Recognition, Recognition.user_id == uid) == 0
    assert db.session.get(User, leaver.report.id).manager_id is None

    shell = db.session.get(User, uid)
    if account == "anonymize":
        assert after["users"] == before["users"]
        assert shell.display_name == "A former colleague"
        assert shell.email == f"erased-{uid}@erased.invalid"
        assert shell.erased_at is not None and not shell.is_active_user
        assert (shell.password_hash, shell.external_id, shell.oidc_subject, shell.oidc_issuer,
                shell.team_id, shell.manager_id, shell.timezone, shell.photo_key) == (None,) * 8
        author = shell
    else:
        assert shell is None
        author = db.session.scalar(sa.select(User).where(User.email ==
                                                         erasure.SHARED_SHELL_EMAIL))
    if stories == "keep":
        assert after["stories"] == before["stories"] and after["quotes"] == before["quotes"]
        assert author is not None and author.erased_at is not None
        assert db.session.get(Story, leaver.published.id).author_id == author.id
        assert db.session.get(Quote, leaver.quote.id).author_id == author.id
        assert after["users"] == before["users"] - (0 if account == "anonymize" else 1) + (
            0 if account == "anonymize" else 1)  # the shared shell replaces the row
        assert _count(EditionItem, EditionItem.edition_id == leaver.upcoming.id) == 3
    else:
        assert after["stories"] == before["stories"] - 2
        assert after["quotes"] == before["quotes"] - 1
        assert after["revisions"] == before["revisions"] - 2
        # Out of the upcoming edition; the sent one keeps its frozen HTML.
        assert [i.story_id for i in db.session.scalars(
            sa.select(EditionItem).where(EditionItem.edition_id == leaver.upcoming.id))] == [
            leaver.recognizing.id]
        if account == "remove":
            assert after["users"] == before["users"] - 1
            assert author is None  # no shell needed: nothing of theirs stayed

    # Sent editions keep what was emailed, with the name replaced (a namesake stays).
    sent = db.session.get(type(leaver.sent), leaver.sent.id)
    for frozen in (sent.web_html, sent.content_html):
        assert frozen == ("<p>The harbour rescue</p><p>Shared by a former colleague, about a "
                          "customer</p><p>Thanks to Lena Leavers-Smith</p>")
    assert sent.content_text == "The harbour rescue\nShared by a former colleague."

    # The audit trail: one erasure entry with counts, and nobody's name or email anywhere.
    entry = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.erase"))
    # "remove": nothing stays attached to the deleted row's id (SQLite hands it out again).
    kept_id = uid if account == "anonymize" else None
    assert (entry.object_type, entry.object_id, entry.actor_id) == ("user", kept_id, admin.id)
    assert entry.details["person"] == f"person #{uid}"
    assert entry.details["via"] == "admin" and entry.details["counts"]["stories"] == 2
    text = _audit_text()
    assert LEAVER_EMAIL not in text and LEAVER_NAME.lower() not in text
    assert "nothing about anyone" in text  # untouched
    assert _count(AuditEvent, AuditEvent.object_type == "user", AuditEvent.object_id == uid) == (
        2 if account == "anonymize" else 0)


def test_search_and_pages_no_longer_name_them(app, leaver, admin, employee_client, set_privacy):
    set_privacy(erasure_account="anonymize", erasure_stories="keep")
    assert search.search("Leaver", None, None).items  # recognized by name before
    erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.commit()

    assert not search.search("Leaver", None, None).items
    assert len(search.search("harbour", None, None).items) == 2  # the stories stay
    for url in (f"/stories/{leaver.published.id}", f"/stories/{leaver.recognizing.id}", "/",
                f"/people/{leaver.person.id}", "/search?q=harbour",
                f"/editions/{leaver.sent.number}", "/editions", "/editions.atom"):
        page = employee_client.get(url)
        assert page.status_code == 200, url
        body = page.get_data(as_text=True)
        assert not re.search(rf"{LEAVER_NAME}\b", body), url  # "Lena Leavers-Smith" is not her
        assert LEAVER_EMAIL not in body, url
    story_page = employee_client.get(f"/stories/{leaver.published.id}").get_data(as_text=True)
    assert "A former colleague" in story_page


def test_the_api_lists_them_no_more(app, leaver, admin, api_as, set_privacy):
    set_privacy(erasure_account="anonymize", erasure_stories="keep")
    client = api_as(leaver.colleague, "read")
    names = [p["name"] for p in client.get("/api/v1/people").json["data"]]
    assert LEAVER_NAME in names
    erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.commit()
    listed = client.get("/api/v1/people").get_data(as_text=True)
    assert LEAVER_NAME not in listed
    story = client.get(f"/api/v1/stories/{leaver.published.id}")
    assert story.status_code == 200
    assert LEAVER_NAME not in story.get_data(as_text=True)
    profile = client.get(f"/api/v1/people/{leaver.person.id}").json
    assert profile["name"] == "A former colleague" and profile["active"] is False


def test_refuses_self_last_admin_and_twice(app, admin):
    with pytest.raises(Conflict, match="your own"):
        erasure.erase_person(admin, actor=admin, via="admin")
    db.session.rollback()
    with pytest.raises(Conflict, match="last active administrator"):
        erasure.erase_person(admin, actor=None, via="scim")
    db.session.rollback()
    other = db.session.scalar(sa.select(User).where(User.id == admin.id))
    assert other.erased_at is None and other.is_active_user


def test_erased_twice_is_refused(app, leaver, admin):
    erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.commit()
    with pytest.raises(Conflict, match="already"):
        erasure.erase_person(db.session.get(User, leaver.person.id), actor=admin, via="admin")


def test_erased_person_cannot_sign_in(app, leaver, admin, client):
    leaver.person.set_password("correct horse battery staple")
    db.session.commit()
    signed_in = login(app.test_client(), leaver.person)
    assert signed_in.get("/account/").status_code == 200
    erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.commit()
    assert signed_in.get("/account/").status_code == 302  # the session is void
    response = client.post("/login", data={"email": LEAVER_EMAIL,
                                           "password": "correct horse battery staple"})
    assert response.status_code == 200  # the form again, with its error
    assert "/account" not in response.headers.get("Location", "")


# The admin pages ---------------------------------------------------------------------------------
def test_confirmation_page_says_what_will_happen(app, leaver, admin_client):
    page = admin_client.get(f"/admin/users/{leaver.person.id}/erase")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "2 stories and 1 quote" in body and "shown as by “a former colleague”" in body
    assert "1 comment, 1 applause, 1 delivery record" in body
    user_page = admin_client.get(f"/admin/users/{leaver.person.id}").get_data(as_text=True)
    assert f"/admin/users/{leaver.person.id}/erase" in user_page


def test_wrong_confirmation_changes_nothing(app, leaver, admin_client):
    before = table_counts()
    response = admin_client.post(f"/admin/users/{leaver.person.id}/erase",
                                 data={"confirmation": "lena@example.com"})
    assert response.status_code == 200
    assert "Type the person" in response.get_data(as_text=True)
    assert 'value="lena@example.com"' in response.get_data(as_text=True)  # text kept
    db.session.expire_all()
    assert table_counts() == before
    assert db.session.get(User, leaver.person.id).erased_at is None
    assert _count(AuditEvent, AuditEvent.action == "user.erase") == 0


def test_admin_erases_with_the_typed_name(app, leaver, admin, admin_client):
    response = admin_client.post(f"/admin/users/{leaver.person.id}/erase",
                                 data={"confirmation": "  lena   LEAVER "})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/users/{leaver.person.id}")
    db.session.expire_all()
    assert db.session.get(User, leaver.person.id).erased_at is not None
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "erased" in page and LEAVER_NAME not in page
    again = admin_client.get(f"/admin/users/{leaver.person.id}/erase")
    assert again.status_code == 302


def test_admin_cannot_erase_themselves(app, admin, admin_client):
    page = admin_client.get(f"/admin/users/{admin.id}/erase").get_data(as_text=True)
    assert "cannot erase your own account" in page
    response = admin_client.post(f"/admin/users/{admin.id}/erase",
                                 data={"confirmation": admin.email})
    assert response.status_code == 200
    assert "cannot erase your own account" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).erased_at is None


def test_only_admins_reach_the_erasure(app, leaver, editor_client):
    assert editor_client.get(f"/admin/users/{leaver.person.id}/erase").status_code == 403
    assert editor_client.post(f"/admin/users/{leaver.person.id}/erase",
                              data={"confirmation": LEAVER_EMAIL}).status_code == 403


def test_erase_with_the_account_removed_goes_back_to_the_list(app, leaver, admin_client,
                                                               set_privacy):
    set_privacy(erasure_account="remove")
    response = admin_client.post(f"/admin/users/{leaver.person.id}/erase",
                                 data={"confirmation": LEAVER_EMAIL})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users")
    db.session.expire_all()
    assert db.session.get(User, leaver.person.id) is None


def test_erasing_an_editor_keeps_others_untouched(app, leaver, admin):
    """Counts of everything not theirs are the same before and after."""
    theirs = {
        "reactions": _count(Reaction, Reaction.user_id != leaver.person.id),
        "tokens": _count(AccessToken, AccessToken.created_by_id != leaver.person.id),
        "prefs": _count(NotificationPreference,
                        NotificationPreference.user_id != leaver.person.id),
        "revisions": _count(Revision),
    }
    erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.commit()
    assert theirs == {
        "reactions": _count(Reaction), "tokens": _count(AccessToken),
        "prefs": _count(NotificationPreference), "revisions": _count(Revision),
    }


def test_a_shared_shell_is_made_once(app, admin, set_privacy, make_user, make_story):
    set_privacy(erasure_account="remove", erasure_stories="keep")
    people = [make_user(Role.EMPLOYEE) for _ in range(2)]
    stories = [make_story(p) for p in people]
    db.session.commit()
    for person in people:
        erasure.erase_person(person, actor=admin, via="admin")
        db.session.commit()
    shells = list(db.session.scalars(sa.select(User).where(User.erased_at.is_not(None))))
    assert len(shells) == 1 and shells[0].email == erasure.SHARED_SHELL_EMAIL
    assert {db.session.get(Story, s.id).author_id for s in stories} == {shells[0].id}


@pytest.mark.parametrize("account", ["anonymize", "remove"])
def test_photo_files_go_after_the_commit(app, leaver, admin, set_privacy, account):
    import io

    from PIL import Image

    from app.photos import storage
    from app.photos.services import save_photo

    set_privacy(erasure_account=account)
    out = io.BytesIO()
    Image.new("RGB", (120, 120), (10, 120, 200)).save(out, "PNG")
    save_photo(leaver.person, out.getvalue())
    db.session.commit()
    key = leaver.person.photo_key
    assert all(storage.path_for(key, size) for size in storage.SIZES)

    erasure.erase_person(leaver.person, actor=admin, via="admin")
    assert storage.path_for(key, max(storage.SIZES))  # nothing is deleted before the commit
    db.session.commit()
    assert not any(storage.path_for(key, size) for size in storage.SIZES)


def test_a_failed_erasure_changes_nothing(app, leaver, admin, monkeypatch):
    """All or nothing: an error half-way rolls every step back."""
    before = table_counts()

    def boom(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "_anonymize_account", boom)
    with pytest.raises(RuntimeError):
        erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.rollback()
    db.session.expire_all()
    assert table_counts() == before
    person = db.session.get(User, leaver.person.id)
    assert (person.email, person.erased_at) == (LEAVER_EMAIL, None)
    assert LEAVER_EMAIL in _audit_text()


def test_single_sign_on_never_reopens_an_erased_account(app, oidc_provider, admin, make_user):
    """Their identity provider still knows them: signing in makes a new, empty account (the
    link and the address were erased), never the erased one back."""
    from tests.fixtures.oidc import sso_round_trip

    person = make_user(email="sso.leaver@example.com", display_name="Sso Leaver")
    person.oidc_issuer, person.oidc_subject = oidc_provider.issuer, "sso-leaver"
    db.session.commit()
    erasure.erase_person(person, actor=admin, via="admin")
    db.session.commit()
    oidc_provider.add_account("sso-leaver", "sso.leaver@example.com")
    oidc_provider.login_as("sso-leaver")
    browser = app.test_client()
    browser.get(sso_round_trip(browser, oidc_provider))
    with browser.session_transaction() as session:
        signed_in = session.get("_user_id")
    db.session.expire_all()
    shell = db.session.get(User, person.id)
    assert shell.erased_at is not None and shell.oidc_subject is None
    assert not shell.is_active_user and shell.display_name == "A former colleague"
    if signed_in is not None:  # the allowed domain got a new account, with nothing of theirs
        assert int(signed_in.partition(":")[0]) != person.id


def test_two_erasures_of_one_person_at_once_do_it_once(app, leaver, admin, make_user):
    """Two admins confirm at the same moment, in two threads with their own sessions: one
    erases, the other is told it is done already; one audit entry."""
    import threading

    other_admin = make_user(Role.ADMIN)
    db.session.commit()
    ids = (leaver.person.id, admin.id, other_admin.id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def erase(actor_id: int) -> None:
        with app.app_context():
            person, actor = db.session.get(User, ids[0]), db.session.get(User, actor_id)
            assert person.erased_at is None
            barrier.wait()
            try:
                erasure.erase_person(person, actor=actor, via="admin")
                db.session.commit()
                outcomes.append("erased")
            except Conflict as error:
                db.session.rollback()
                outcomes.append(error.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=erase, args=(a,)) for a in ids[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["This person has already been erased.", "erased"]
    db.session.rollback()  # end this test's own (older) read snapshot
    assert _count(AuditEvent, AuditEvent.action == "user.erase") == 1
