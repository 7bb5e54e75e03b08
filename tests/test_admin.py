"""Administration through the real stack: client → views → services → database → mail outbox."""

from __future__ import annotations

import re
import threading
import time as time_module
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from app.admin import services
from app.admin.queries import decode_cursor
from app.admin.queries import encode_cursor
from app.admin.queries import next_weekly_occurrence
from app.errors import Conflict
from app.extensions import db
from app.models import AuditEvent
from app.models import Role
from app.models import Setting
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.settings import get_settings
from tests.factories import DEFAULT_PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def _text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def _link_in(message) -> str:
    match = re.search(r"http://localhost(/\S+)", _text_of(message))
    assert match, _text_of(message)
    return match.group(1)


def _audit_actions(obj_type: str | None = None) -> list[str]:
    stmt = sa.select(AuditEvent.action).order_by(AuditEvent.id)
    if obj_type:
        stmt = stmt.where(AuditEvent.object_type == obj_type)
    return list(db.session.scalars(stmt))


def _flash_text(client) -> str:
    return client.get("/").get_data(as_text=True)


def _reload(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


# Access ------------------------------------------------------------------------------------------
ADMIN_PAGES = ["/admin/", "/admin/users", "/admin/users/invite", "/admin/teams",
               "/admin/touchpoints", "/admin/settings", "/admin/audit"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_employees_and_editors_get_403(employee_client, editor_client, path):
    assert employee_client.get(path).status_code == 403
    assert editor_client.get(path).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", ADMIN_PAGES[1:])
def test_admin_pages_render(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 200


def test_admin_menu_entries_only_for_admins(admin_client, employee_client):
    page = admin_client.get("/admin/users").get_data(as_text=True)
    for label in ("Users", "Settings", "Audit log", "Profile"):
        assert f"<span>{label}</span>" in page
    page = employee_client.get("/account/").get_data(as_text=True)
    assert "<span>Profile</span>" in page
    assert "<span>Audit log</span>" not in page


def test_employee_cannot_post_admin_actions(employee_client, employee):
    response = employee_client.post(f"/admin/users/{employee.id}", data={"role": "admin"})
    assert response.status_code == 403
    assert _reload(employee).role == Role.EMPLOYEE


# Invitations -------------------------------------------------------------------------------------
def test_invite_end_to_end(app, admin_client, admin, make_team, outbox):
    team = make_team("Contact Centre")
    db.session.commit()

    response = admin_client.post(
        "/admin/users/invite",
        data={"email": " Priya@Example.com ", "display_name": "Priya Raman",
              "role": "editor", "team": team.id},
    )
    assert response.status_code == 302
    priya = db.session.scalar(sa.select(User).where(User.email == "priya@example.com"))
    assert priya is not None
    assert (priya.role, priya.team_id, priya.has_password) == (Role.EDITOR, team.id, False)
    assert response.headers["Location"].endswith(f"/admin/users/{priya.id}")
    assert "Invited" in admin_client.get(f"/admin/users/{priya.id}").get_data(as_text=True)

    assert len(outbox) == 1
    assert outbox[0]["To"] == "priya@example.com"
    assert "Ada Admin invited you" in _text_of(outbox[0])
    link = _link_in(outbox[0])

    visitor = app.test_client()
    page = visitor.get(link)
    assert page.status_code == 200
    assert "Welcome, Priya" in page.get_data(as_text=True)
    response = visitor.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert visitor.get("/").status_code == 200  # signed in
    assert _reload(priya).check_password(NEW_PASSWORD)
    assert _audit_actions("user") == ["user.create", "user.invite", "user.accept_invite"]

    again = app.test_client().get(link)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)


def test_invite_rejects_duplicates_and_bad_addresses(admin_client, employee, outbox):
    response = admin_client.post(
        "/admin/users/invite",
        data={"email": "ERIN@example.com", "display_name": "Erin Again", "role": "employee"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "erin@example.com already has an account." in page
    assert 'value="Erin Again"' in page  # input kept

    response = admin_client.post(
        "/admin/users/invite",
        data={"email": "not-an-address", "display_name": "X", "role": "employee"},
    )
    assert response.status_code == 200
    assert "Enter a valid email address." in response.get_data(as_text=True)
    assert outbox == []
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 2


@pytest.mark.app_config(INVITE_TOKEN_MAX_AGE=-1)
def test_expired_invite_link_is_refused(app, admin_client, outbox):
    admin_client.post(
        "/admin/users/invite",
        data={"email": "late@example.com", "display_name": "Late Comer", "role": "employee"},
    )
    response = app.test_client().get(_link_in(outbox[0]))
    assert response.status_code == 400
    assert "This link has expired" in response.get_data(as_text=True)


def test_forged_invite_link_is_refused(app, admin_client, outbox):
    admin_client.post(
        "/admin/users/invite",
        data={"email": "forge@example.com", "display_name": "For Ged", "role": "employee"},
    )
    link = _link_in(outbox[0])
    forged = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    visitor = app.test_client()
    for url in (forged, "/invite/not-a-token"):
        response = visitor.get(url)
        assert response.status_code == 400
        assert "This link is not valid" in response.get_data(as_text=True)
        response = visitor.post(url, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        assert response.status_code == 400
    user = db.session.scalar(sa.select(User).where(User.email == "forge@example.com"))
    assert not user.has_password


def test_resend_invite(app, admin_client, make_user, outbox):
    invited = make_user(email="wait@example.com", display_name="Wai Ting", password=None)
    joined = make_user(email="joined@example.com")
    db.session.commit()

    response = admin_client.post(f"/admin/users/{invited.id}/resend-invite")
    assert response.status_code == 302
    assert len(outbox) == 1 and outbox[0]["To"] == "wait@example.com"
    assert _reload(invited).invited_at is not None
    assert "A new invitation is on its way" in _flash_text(admin_client)

    admin_client.post(f"/admin/users/{joined.id}/resend-invite")
    assert len(outbox) == 1
    assert "has already set a password" in _flash_text(admin_client)

    # From the list page, and the link in the new email works.
    response = admin_client.post(f"/admin/users/{invited.id}/resend-invite", data={"back": "list"})
    assert response.headers["Location"].endswith("/admin/users")
    visitor = app.test_client()
    assert visitor.post(
        _link_in(outbox[-1]), data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    ).status_code == 302


def test_invite_not_resent_to_deactivated_people(admin_client, make_user, outbox):
    gone = make_user(password=None, active=False)
    db.session.commit()
    admin_client.post(f"/admin/users/{gone.id}/resend-invite")
    assert outbox == []
    assert "Reactivate the account before" in _flash_text(admin_client)


# Roles and the last admin ------------------------------------------------------------------------
def test_role_change_takes_effect(app, admin_client, employee, login_as):
    employee_client = login_as(employee)
    assert employee_client.get("/admin/users").status_code == 403

    response = admin_client.post(f"/admin/users/{employee.id}", data={"role": "admin", "team": 0})
    assert response.status_code == 302
    assert employee_client.get("/admin/users").status_code == 200

    admin_client.post(f"/admin/users/{employee.id}", data={"role": "editor", "team": 0})
    assert employee_client.get("/admin/users").status_code == 403
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "user.update").order_by(AuditEvent.id)
    ).all()[-1]
    assert event.details["role"] == {"from": "admin", "to": "editor"}


def test_team_change_from_user_page(admin_client, employee, make_team):
    team = make_team("Digital")
    db.session.commit()
    admin_client.post(f"/admin/users/{employee.id}", data={"role": "employee", "team": team.id})
    assert _reload(employee).team_id == team.id
    response = admin_client.post(
        f"/admin/users/{employee.id}", data={"role": "employee", "team": 999}
    )
    assert response.status_code == 200
    assert "Not a valid choice" in response.get_data(as_text=True)


def test_last_admin_cannot_be_demoted(admin_client, admin, make_user):
    response = admin_client.post(f"/admin/users/{admin.id}", data={"role": "editor", "team": 0})
    assert response.status_code == 200
    assert "the last active administrator" in response.get_data(as_text=True)
    assert _reload(admin).role == Role.ADMIN

    # A deactivated admin does not count.
    make_user(Role.ADMIN, active=False)
    db.session.commit()
    admin_client.post(f"/admin/users/{admin.id}", data={"role": "editor", "team": 0})
    assert _reload(admin).role == Role.ADMIN

    # With a second active admin, stepping down is allowed.
    other = make_user(Role.ADMIN)
    db.session.commit()
    response = admin_client.post(f"/admin/users/{admin.id}", data={"role": "employee", "team": 0})
    assert response.headers["Location"] == "/"
    assert _reload(admin).role == Role.EMPLOYEE
    assert _reload(other).role == Role.ADMIN


def test_last_admin_cannot_be_deactivated(admin, editor):
    with pytest.raises(Conflict, match="last active administrator"):
        services.deactivate_user(admin, actor=editor)
    assert admin.is_active_user


def test_admin_cannot_deactivate_themselves(admin_client, admin, make_user):
    make_user(Role.ADMIN)
    db.session.commit()
    page = admin_client.get(f"/admin/users/{admin.id}/deactivate").get_data(as_text=True)
    assert "You cannot deactivate your own account." in page
    admin_client.post(f"/admin/users/{admin.id}/deactivate")
    assert _reload(admin).is_active_user
    assert "You cannot deactivate your own account." in _flash_text(admin_client)


def _demote_in_thread(app, actor_id, target_id, barrier, outcomes, hold: float) -> None:
    with app.app_context():
        try:
            actor, target = db.session.get(User, actor_id), db.session.get(User, target_id)
            barrier.wait()
            services.update_user(target, role=Role.EMPLOYEE, team_id=None, actor=actor)
            time_module.sleep(hold)  # keep the transaction open while the other one runs
            db.session.commit()
            outcomes.append("ok")
        except (Conflict, OperationalError) as error:
            db.session.rollback()
            outcomes.append(type(error).__name__)
        finally:
            db.session.remove()


def test_two_admins_demoting_each_other_leave_one_admin(app, admin, make_user):
    """The loser gets Conflict (PostgreSQL: row locks) or a busy error (SQLite: one writer)."""
    other = make_user(Role.ADMIN)
    db.session.commit()
    ids = (admin.id, other.id)
    db.session.rollback()  # end this session's read snapshot before the threads write
    barrier, outcomes = threading.Barrier(2), []
    threads = [
        threading.Thread(target=_demote_in_thread, args=(app, *ids, barrier, outcomes, 0.3)),
        threading.Thread(target=_demote_in_thread, args=(app, *ids[::-1], barrier, outcomes, 0)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    db.session.rollback()
    admins = db.session.scalar(
        sa.select(sa.func.count(User.id)).where(User.role == Role.ADMIN, User.is_active_user)
    )
    assert admins == 1, outcomes
    assert sorted(outcomes)[-1] == "ok" and outcomes.count("ok") == 1, outcomes


# Deactivation ------------------------------------------------------------------------------------
def test_deactivate_with_confirmation_signs_out_and_blocks(app, admin_client, employee, login_as):
    employee_client = login_as(employee)
    assert employee_client.get("/").status_code == 200

    page = admin_client.get(f"/admin/users/{employee.id}/deactivate")
    assert page.status_code == 200
    assert "Deactivate Erin Employee?" in page.get_data(as_text=True)
    assert _reload(employee).is_active_user  # the GET changed nothing

    response = admin_client.post(f"/admin/users/{employee.id}/deactivate")
    assert response.status_code == 302
    erin = _reload(employee)
    assert not erin.is_active_user and not erin.receives_email
    assert "is deactivated" in _flash_text(admin_client)

    # Signed out of the existing session, and cannot sign in again.
    response = employee_client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = app.test_client().post(
        "/login", data={"email": "erin@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    assert "deactivated" in response.get_data(as_text=True)

    # Reactivation restores sign-in, but not the old session.
    admin_client.post(f"/admin/users/{employee.id}/reactivate")
    assert _reload(employee).is_active_user
    assert employee_client.get("/").status_code == 302
    response = app.test_client().post(
        "/login", data={"email": "erin@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert _audit_actions("user")[-2:] == ["user.deactivate", "user.reactivate"]


def test_deactivating_twice_or_reactivating_an_active_user(admin_client, employee):
    admin_client.post(f"/admin/users/{employee.id}/reactivate")
    assert "already active" in _flash_text(admin_client)
    admin_client.post(f"/admin/users/{employee.id}/deactivate")
    response = admin_client.get(f"/admin/users/{employee.id}/deactivate")
    assert response.status_code == 302  # nothing to confirm any more
    assert _audit_actions("user") == ["user.deactivate"]


def test_unknown_user_is_404(admin_client):
    assert admin_client.get("/admin/users/999999").status_code == 404
    assert admin_client.post("/admin/users/999999/deactivate").status_code == 404


# Users list: search, filters, keyset pagination --------------------------------------------------
def _names_on(page_html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/admin/users/\d+">([^<]+)</a>', page_html)


def _next_link(page_html: str, rel: str = "next") -> str | None:
    match = re.search(rf'href="([^"]+)" rel="{rel}"', page_html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_users_pagination_walks_forward_and_back(admin_client, make_user):
    # Thirty people with the same name: the id tie-breaker must keep the order total.
    for _ in range(30):
        make_user(display_name="Sam Same")
    make_user(display_name="aaron lower-case")
    db.session.commit()

    first = admin_client.get("/admin/users").get_data(as_text=True)
    names = _names_on(first)
    assert len(names) == 25
    assert names[:2] == ["aaron lower-case", "Ada Admin"]  # case-insensitive order
    assert _next_link(first, "prev") is None

    second = admin_client.get(_next_link(first)).get_data(as_text=True)
    assert len(_names_on(second)) == 7
    assert _next_link(second) is None
    ids_1 = re.findall(r'href="/admin/users/(\d+)">', first)
    ids_2 = re.findall(r'href="/admin/users/(\d+)">', second)
    assert not set(ids_1) & set(ids_2)
    assert len(set(ids_1) | set(ids_2)) == 32

    back = admin_client.get(_next_link(second, "prev")).get_data(as_text=True)
    assert re.findall(r'href="/admin/users/(\d+)">', back) == ids_1
    assert _next_link(back, "prev") is None


def test_users_pagination_keeps_filters(admin_client, make_user):
    for i in range(27):
        make_user(Role.EDITOR, display_name=f"Editor {i:02d}")
    make_user(display_name="Employee Zed")
    db.session.commit()
    first = admin_client.get("/admin/users?role=editor").get_data(as_text=True)
    link = _next_link(first)
    assert "role=editor" in link
    second = admin_client.get(link).get_data(as_text=True)
    assert _names_on(second) == ["Editor 25", "Editor 26"]


def test_users_search_and_filters(admin_client, admin, make_user, make_team):
    team = make_team("Finance")
    make_user(display_name="Amina Diallo", email="amina@example.com", team=team)
    make_user(display_name="Omar Haddad", email="omar@corp.example", password=None)
    make_user(Role.EDITOR, display_name="Dana Whitfield", email="dana@example.com", active=False)
    db.session.commit()

    def names(query: str) -> list[str]:
        return _names_on(admin_client.get(f"/admin/users?{query}").get_data(as_text=True))

    assert names("q=DIALLO") == ["Amina Diallo"]
    assert names("q=corp.example") == ["Omar Haddad"]
    assert names("q=%25") == []  # LIKE wildcards are literal
    assert names("role=editor") == ["Dana Whitfield"]
    assert names(f"team={team.id}") == ["Amina Diallo"]
    assert names("status=invited") == ["Omar Haddad"]
    assert names("status=deactivated") == ["Dana Whitfield"]
    assert names("status=active") == ["Ada Admin", "Amina Diallo"]
    assert names("role=bogus&status=nonsense&cursor=garbage") == [
        "Ada Admin", "Amina Diallo", "Dana Whitfield", "Omar Haddad"]

    page = admin_client.get("/admin/users?q=nobody").get_data(as_text=True)
    assert "Nobody matches these filters" in page


def test_users_list_shows_status_and_last_login(admin_client, make_user):
    make_user(display_name="Invited Person", password=None)
    make_user(display_name="Gone Person", active=False)
    make_user(display_name="Seen Person", last_login_at=datetime(2025, 3, 7, 9, 30, tzinfo=UTC))
    db.session.commit()
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert "Invited</span>" in page and "Deactivated</span>" in page and "Active</span>" in page
    assert "Fri 07 Mar 2025, 09:30" in page
    assert "Never" in page
    assert page.count("Resend invite") == 1


def test_cursor_round_trip_and_tampering():
    token = encode_cursor("after", ["sam same", 12])
    assert decode_cursor(token) == ("after", ["sam same", 12])
    for bad in ("", "@@@", "e30", encode_cursor("sideways", [1, 2])):
        assert decode_cursor(bad) is None


# Teams -------------------------------------------------------------------------------------------
def test_teams_create_rename_and_counts(admin_client, make_user, make_team):
    response = admin_client.post("/admin/teams", data={"name": "  Retail   Stores "})
    assert response.status_code == 302
    team = db.session.scalar(sa.select(Team).where(Team.name == "Retail Stores"))
    assert team is not None
    make_user(team=team)
    make_user(team=team)
    make_user(team=team, active=False)
    db.session.commit()

    page = admin_client.get("/admin/teams").get_data(as_text=True)
    assert re.search(r"Retail Stores</a></th>\s*<td class=\"num\">2</td>", page)

    response = admin_client.post("/admin/teams", data={"name": "retail stores"})
    assert response.status_code == 200
    assert "There is already a team called" in response.get_data(as_text=True)

    other = make_team("Logistics")
    db.session.commit()
    response = admin_client.post(f"/admin/teams/{other.id}/rename", data={"name": "RETAIL STORES"})
    assert response.status_code == 200
    assert "There is already a team called" in response.get_data(as_text=True)
    assert 'value="RETAIL STORES"' in response.get_data(as_text=True)

    admin_client.post(f"/admin/teams/{team.id}/rename", data={"name": "Stores"})
    assert _reload(team).name == "Stores"
    assert _audit_actions("team") == ["team.create", "team.rename"]
    assert admin_client.post("/admin/teams", data={"name": ""}).status_code == 200


def test_teams_empty_state(admin_client):
    assert "No teams yet" in admin_client.get("/admin/teams").get_data(as_text=True)


# Touchpoints -------------------------------------------------------------------------------------
def _touchpoint_labels(active_only: bool = False) -> list[str]:
    stmt = sa.select(Touchpoint.label).order_by(Touchpoint.position, Touchpoint.id)
    if active_only:
        stmt = stmt.where(Touchpoint.is_active)
    db.session.expire_all()
    return list(db.session.scalars(stmt))


def test_touchpoints_add_rename_reorder_and_deactivate(admin_client, make_story):
    before = _touchpoint_labels()
    assert before[:2] == ["Store", "Phone / contact centre"]

    admin_client.post("/admin/touchpoints", data={"label": "Pop-up Café"})
    added = db.session.scalar(sa.select(Touchpoint).where(Touchpoint.label == "Pop-up Café"))
    assert added.slug == "pop-up-cafe" and _touchpoint_labels()[-1] == "Pop-up Café"

    response = admin_client.post("/admin/touchpoints", data={"label": "store"})
    assert response.status_code == 200
    assert "There is already a touchpoint called" in response.get_data(as_text=True)

    store = db.session.scalar(sa.select(Touchpoint).where(Touchpoint.slug == "store"))
    admin_client.post(f"/admin/touchpoints/{store.id}/move", data={"direction": "down"})
    assert _touchpoint_labels()[:2] == ["Phone / contact centre", "Store"]
    admin_client.post(f"/admin/touchpoints/{store.id}/move", data={"direction": "up"})
    admin_client.post(f"/admin/touchpoints/{store.id}/move", data={"direction": "up"})  # first
    assert _touchpoint_labels() == [*before, "Pop-up Café"]
    admin_client.post(f"/admin/touchpoints/{store.id}/move", data={"direction": "sideways"})
    assert "Choose up or down." in _flash_text(admin_client)

    admin_client.post(f"/admin/touchpoints/{store.id}/edit", data={"label": "Shop"})
    assert _reload(store).label == "Shop" and _reload(store).slug == "store"

    story = make_story(touchpoint_slug="store")
    db.session.commit()
    admin_client.post(f"/admin/touchpoints/{store.id}/deactivate")
    assert "Shop" not in _touchpoint_labels(active_only=True)
    assert _reload(story).touchpoint.label == "Shop"  # kept on old stories
    page = admin_client.get("/admin/touchpoints").get_data(as_text=True)
    assert "Not offered" in page and "Offer again" in page
    admin_client.post(f"/admin/touchpoints/{store.id}/reactivate")
    assert "Shop" in _touchpoint_labels(active_only=True)
    assert _audit_actions("touchpoint") == [
        "touchpoint.create", "touchpoint.move", "touchpoint.move", "touchpoint.rename",
        "touchpoint.deactivate", "touchpoint.reactivate"]


def test_touchpoint_slugs_stay_unique(admin_client):
    admin_client.post("/admin/touchpoints", data={"label": "Store!"})
    assert admin_client.post("/admin/touchpoints", data={"label": "Stőre"}).status_code == 302
    stmt = sa.select(Touchpoint.slug).where(Touchpoint.slug.like("store%"))
    assert set(db.session.scalars(stmt)) == {"store", "store-2", "store-3"}


# Settings ----------------------------------------------------------------------------------------
GOOD_SETTINGS = {
    "timezone": "Europe/Paris",
    "send_weekday": "4",
    "send_time": "09:30",
    "reminder_hours_before": "24",
    "missed_run_grace_hours": "6",
    "empty_edition_policy": "send_placeholder",
    "nudge_enabled": "y",
    "nudge_weekday": "2",
    "nudge_time": "10:00",
    "sender": "Feel Good Fridays <FGF@Company.example>",
    "extra_recipients": "board@example.com, news@example.com\nBoard@example.com\n",
}


def test_settings_page_shows_defaults_and_next_send(admin_client):
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert 'value="UTC"' in page and 'value="09:00"' in page
    assert "Next edition:" in page and "Friday" in page
    assert 'list="timezone-names"' in page and '<option value="Europe/Paris">' in page


def test_settings_save(admin_client, admin):
    response = admin_client.post("/admin/settings", data=GOOD_SETTINGS)
    assert response.status_code == 302
    stored = get_settings()
    assert stored["timezone"] == "Europe/Paris"
    assert (stored["send_weekday"], stored["send_time"]) == (4, "09:30")
    assert stored["empty_edition_policy"] == "send_placeholder"
    assert stored["nudge_enabled"] is True
    assert stored["sender"] == "Feel Good Fridays <FGF@company.example>"
    assert stored["extra_recipients"] == ["board@example.com", "news@example.com"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "settings.update"))
    assert event.actor_id == admin.id and "timezone" in event.details["changes"]

    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "board@example.com\nnews@example.com</textarea>" in page
    assert "(Europe/Paris;" in page and "Next nudge:" in page

    # Saving again unchanged writes no new audit event.
    admin_client.post("/admin/settings", data=GOOD_SETTINGS)
    assert _audit_actions().count("settings.update") == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus_Mons", "is not a known time zone"),
        ("timezone", "../../etc/passwd", "is not a known time zone"),
        ("send_time", "25:00", "Use a 24-hour time like 09:00."),
        ("nudge_time", "9am", "Use a 24-hour time like 09:00."),
        ("reminder_hours_before", "200", "between 0 and 168"),
        ("missed_run_grace_hours", "abc", "Not a valid integer value"),
        ("send_weekday", "7", "Not a valid choice"),
        ("empty_edition_policy", "shout", "Not a valid choice"),
        ("sender", "Feel Good\r\nBcc: victim@example.com <fgf@x.example>", "line breaks"),
        ("sender", "Doe, Jane <jane@example.com>", "Write one sender"),
        ("sender", "not an address", "Write one sender"),
        ("sender", "", "This field is required"),
        ("extra_recipients", "ok@example.com, nope, also@bad", "not valid: nope, also@bad"),
    ],
)
def test_settings_validation_keeps_input_and_writes_nothing(admin_client, field, value, message):
    response = admin_client.post("/admin/settings", data={**GOOD_SETTINGS, field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert "There’s a problem" in page
    assert 'value="Europe/Paris"' in page or field == "timezone"  # other input kept
    if field in ("timezone", "send_time"):
        assert f'value="{value}"' in page.replace("&#34;", '"')
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Setting)) == 0
    assert _audit_actions() == []


def test_settings_report_every_error_at_once(admin_client):
    response = admin_client.post(
        "/admin/settings",
        data={**GOOD_SETTINGS, "timezone": "Nowhere/Land", "send_time": "9:99",
              "extra_recipients": "bad@"},
    )
    page = response.get_data(as_text=True)
    assert "is not a known time zone" in page
    assert "Use a 24-hour time" in page
    assert "These addresses are not valid: bad@" in page
    assert "bad@</textarea>" in page


def test_update_settings_service_is_all_or_nothing(admin):
    with pytest.raises(services.SettingsInvalid) as caught:
        services.update_settings(
            {"timezone": "Europe/Paris", "send_time": "nope", "sender": "a@b.example, c@d.example"},
            actor=admin,
        )
    assert set(caught.value.errors) == {"send_time", "sender"}
    assert get_settings("timezone")["timezone"] == "UTC"


# next_weekly_occurrence --------------------------------------------------------------------------
def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "weekday", "hhmm", "tz", "expected"),
    [
        # Friday 09:00 Paris: 08:00 UTC in winter (CET) ...
        (_utc(2025, 3, 25, 12), 4, "09:00", "Europe/Paris", _utc(2025, 3, 28, 8)),
        # ... and 07:00 UTC the week after the spring change (CEST).
        (_utc(2025, 3, 28, 8, 0), 4, "09:00", "Europe/Paris", _utc(2025, 4, 4, 7)),
        (_utc(2025, 3, 28, 7, 59), 4, "09:00", "Europe/Paris", _utc(2025, 3, 28, 8)),
        # Autumn: back to 08:00 UTC after the last Sunday of October.
        (_utc(2025, 10, 25), 4, "09:00", "Europe/Paris", _utc(2025, 10, 31, 8)),
        # 02:30 does not exist on 30 March 2025 in Paris: it happens at 03:30 CEST.
        (_utc(2025, 3, 29, 12), 6, "02:30", "Europe/Paris", _utc(2025, 3, 30, 1, 30)),
        # 02:30 happens twice on 26 October 2025: the first one (CEST) counts.
        (_utc(2025, 10, 25, 12), 6, "02:30", "Europe/Paris", _utc(2025, 10, 26, 0, 30)),
        # Friday in Auckland starts on Thursday in UTC.
        (_utc(2025, 1, 2, 19, 59), 4, "09:00", "Pacific/Auckland", _utc(2025, 1, 2, 20)),
        (_utc(2025, 1, 2, 20, 0), 4, "09:00", "Pacific/Auckland", _utc(2025, 1, 9, 20)),
        # Half-hour zone west of UTC.
        (_utc(2025, 7, 1), 0, "23:45", "America/St_Johns", _utc(2025, 7, 1, 2, 15)),
        (_utc(2025, 7, 1), 1, "00:00", "UTC", _utc(2025, 7, 8)),
    ],
)
def test_next_weekly_occurrence(now, weekday, hhmm, tz, expected):
    result = next_weekly_occurrence(now, weekday, hhmm, tz)
    assert result == expected
    assert result.tzinfo == UTC


def test_next_weekly_occurrence_needs_an_aware_time():
    with pytest.raises(ValueError, match="aware"):
        next_weekly_occurrence(datetime(2025, 1, 1), 4, "09:00", "UTC")  # noqa: DTZ001


# Audit log ---------------------------------------------------------------------------------------
def _event(actor, action, object_type="story", object_id=1, at=None, **details) -> AuditEvent:
    event = AuditEvent(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details,
        created_at=at or datetime.now(UTC),
    )
    db.session.add(event)
    return event


def _rows(page_html: str) -> list[str]:
    return re.findall(r"<td><code>([^<]+)</code></td>", page_html)


def test_audit_log_filters(admin_client, admin, editor, employee, db):
    db.session.execute(sa.insert(Setting).values(key="timezone", value="Europe/Paris",
                                                 updated_at=datetime.now(UTC)))
    _event(employee, "story.submit", at=_utc(2025, 3, 3, 10))
    _event(editor, "story.approve", at=_utc(2025, 3, 4, 10), **{"from": "submitted"})
    _event(editor, "quote.approve", "quote", 7, at=_utc(2025, 3, 4, 23, 30))  # 5 March in Paris
    _event(admin, "user.invite", "user", employee.id, at=_utc(2025, 3, 5, 10))
    _event(None, "edition.start_sending", "edition", 1, at=_utc(2025, 3, 7, 8))
    db.session.commit()

    def actions(query: str = "") -> list[str]:
        response = admin_client.get(f"/admin/audit?{query}")
        assert response.status_code == 200
        return _rows(response.get_data(as_text=True))

    assert actions() == ["edition.start_sending", "user.invite", "quote.approve",
                         "story.approve", "story.submit"]
    assert actions("actor=dana") == ["quote.approve", "story.approve"]
    assert actions("actor=ERIN%40example") == ["story.submit"]
    assert actions("action=story.") == ["story.approve", "story.submit"]
    assert actions("action=%25") == []
    assert actions("object_type=quote") == ["quote.approve"]
    assert actions(f"object_type=user&object_id={employee.id}") == ["user.invite"]
    assert actions("date_from=2025-03-05&date_to=2025-03-05") == ["user.invite", "quote.approve"]
    assert actions("date_from=2025-03-06") == ["edition.start_sending"]
    assert actions("date_to=2025-03-03") == ["story.submit"]
    assert actions("date_from=garbage&object_id=x") == actions()
    page = admin_client.get("/admin/audit?action=nothing").get_data(as_text=True)
    assert "No events match these filters" in page


def test_audit_details_are_readable(admin_client, admin):
    _event(admin, "settings.update", "settings", None,
           changes={"timezone": "Europe/Paris", "extra_recipients": ["a@x.example", "b@x.example"],
                    "nudge_enabled": True})
    _event(admin, "user.update", "user", admin.id, role={"from": "admin", "to": "editor"},
           team={"from": None, "to": "Digital"})
    db.session.commit()
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "<dt>Role</dt>\n  <dd>admin → editor</dd>" in page
    assert "<dd>(none) → Digital</dd>" in page
    assert "<dt>Extra recipients</dt>\n  <dd>a@x.example, b@x.example</dd>" in page
    assert "<dt>Nudge enabled</dt>\n  <dd>yes</dd>" in page
    assert '<span class="muted">System</span>' not in page  # the admin is shown as the actor


def test_audit_log_pagination(admin_client, admin):
    same_time = _utc(2025, 1, 1, 12)
    for i in range(55):
        # Many events share a timestamp: the id breaks the tie.
        _event(admin, f"test.e{i:02d}", at=same_time if i % 2 else same_time + timedelta(minutes=i))
    db.session.commit()
    first = admin_client.get("/admin/audit").get_data(as_text=True)
    assert len(_rows(first)) == 50
    assert _next_link(first, "prev") is None
    second = admin_client.get(_next_link(first)).get_data(as_text=True)
    assert len(_rows(second)) == 5
    assert set(_rows(first)) | set(_rows(second)) == {f"test.e{i:02d}" for i in range(55)}
    assert _next_link(second) is None
    back = admin_client.get(_next_link(second, "prev")).get_data(as_text=True)
    assert _rows(back) == _rows(first)


# Send and nudge times: 24-hour text, as the hint says ---------------------------------------------
def test_send_and_nudge_times_are_24_hour_text_fields(admin_client):
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    for name, value in (("send_time", "09:00"), ("nudge_time", "10:00")):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        # <input type=time> shows "09:00 AM" in a 12-hour locale, contradicting the hint.
        assert 'type="text"' in field and f'value="{value}"' in field
        assert 'pattern="([01]?[0-9]|2[0-3]):[0-5][0-9]"' in field
    assert "24-hour time (HH:MM), e.g. 09:00 or 17:30." in page


@pytest.mark.parametrize(
    ("typed", "stored"), [("9:30", "09:30"), (" 17:45 ", "17:45"), ("00:05", "00:05")]
)
def test_send_time_is_saved_as_hh_mm(admin_client, typed, stored):
    response = admin_client.post("/admin/settings",
                                 data={**GOOD_SETTINGS, "send_time": typed, "nudge_time": typed})
    assert response.status_code == 302
    assert get_settings("send_time", "nudge_time") == {"send_time": stored, "nudge_time": stored}
    assert f'value="{stored}"' in admin_client.get("/admin/settings").get_data(as_text=True)


@pytest.mark.parametrize("typed", ["5:30 PM", "9:5", "24:00", "17h30", "1730"])
def test_a_12_hour_or_malformed_time_is_refused_and_kept(admin_client, typed):
    response = admin_client.post("/admin/settings", data={**GOOD_SETTINGS, "send_time": typed})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Use a 24-hour time like 09:00." in page and f'value="{typed}"' in page
    assert 'value="Europe/Paris"' in page  # the other input is kept
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Setting)) == 0
