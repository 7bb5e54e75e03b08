"""Notification preferences per kind: the profile's switches, the footer's one-click link (no
sign-in), kinds that are off send nothing, essential emails always go, and applause is told at
most once a day per story."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from itsdangerous import Signer

from app.comments.services import post_comment
from app.events import EditionMissed
from app.events import emit
from app.extensions import db
from app.models import AuditEvent
from app.models import DomainEvent
from app.models import EditionStatus
from app.models import NotificationPreference
from app.models import Reaction
from app.models import Role
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow
from app.notifications import messages
from app.notifications import preferences
from app.notifications.applause import run_applause
from app.notifications.kinds import KINDS
from app.notifications.kinds import WEEKLY
from app.notifications.managers import notify_managers
from app.notifications.tokens import SALT
from app.notifications.tokens import make_token
from tests import factories

S = SubmissionStatus
SWITCHABLE = [
    "submission_status", "featured", "team_featured", "applause", "comments", "editor_reminders",
]


def trigger(kind: str, user: User) -> None:
    """Send `user` one notification of `kind`, in a committed transaction."""
    if kind == "submission_status":
        messages.notify_approved(factories.make_story(user, status=S.APPROVED))
    elif kind == "featured":
        story = factories.make_story(status=S.PUBLISHED, colleagues=[user])
        edition = factories.make_edition(status=EditionStatus.SENT, items=[story])
        messages.notify_featured(user, [story], edition)
    elif kind == "team_featured":  # someone `user` manages is featured in an edition
        report = factories.make_user(display_name="Noah Levi")
        report.manager = user
        story = factories.make_story(status=S.PUBLISHED, colleagues=[report])
        edition = factories.make_edition(status=EditionStatus.SENT, items=[story])
        notify_managers(edition.id, [story.id])
    elif kind == "applause":
        story = factories.make_story(user, status=S.PUBLISHED)
        messages.notify_applause(story, ["Ana Lopez"], 1)
    elif kind == "comments":  # told by the CommentPosted subscriber, after the commit below
        story = factories.make_story(user, status=S.PUBLISHED)
        post_comment(story.id, factories.make_user(display_name="Ana Lopez"), "Bravo!")
    else:
        edition = factories.make_edition(status=EditionStatus.SKIPPED)
        messages.notify_edition_missed(user, edition, utcnow() - timedelta(hours=5), utcnow())
    db.session.commit()


def to(outbox, user: User) -> list:
    return [m for m in outbox if m["To"] == user.email]


def off_path(message) -> str:
    """The path of the one-click link, from the List-Unsubscribe header."""
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<http://localhost/") and header.endswith(">"), header
    return header[len("<http://localhost") : -1]


def checkbox(page: str, name: str, *, attribute: str = "name") -> str:
    """ "checked", "checked disabled" or "" for the page's checkbox with that name (or id)."""
    tag = re.search(rf'<input[^>]*\b{attribute}="{name}"[^>]*>', page).group(0)
    return " ".join(flag for flag in ("checked", "disabled") if f" {flag}" in tag)


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


@pytest.fixture
def person(app) -> User:
    """An editor, so every kind applies to them."""
    user = factories.make_user(Role.EDITOR, display_name="Priya Raman", email="priya@example.com")
    db.session.commit()
    return user


# -- the footer link ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SWITCHABLE)
def test_each_kind_can_be_turned_off_from_its_email_without_signing_in(
    app, client, outbox, person, kind
):
    trigger(kind, person)
    [message] = to(outbox, person)
    path = off_path(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    label = KINDS[kind].label.lower()
    assert f"Don't want emails about {label}? Turn them off: http://localhost{path}" in text
    assert f'href="http://localhost{path}"' in html

    page = client.get(path)  # anonymous: the signed link is the permission
    assert page.status_code == 200
    assert "Stop these emails" in page.get_data(as_text=True)
    assert preferences.is_enabled(reload(person), KINDS[kind])  # a GET changes nothing

    done = client.post(path)
    assert done.status_code == 200
    assert "no more of these emails" in done.get_data(as_text=True)
    person = reload(person)
    assert not preferences.is_enabled(person, KINDS[kind])

    trigger(kind, person)
    assert len(to(outbox, person)) == 1  # turned off: nothing more of this kind
    other = next(k for k in SWITCHABLE if k != kind)
    trigger(other, person)
    assert len(to(outbox, person)) == 2  # the other kinds still arrive

    assert "already off" in client.get(path).get_data(as_text=True)


def test_one_click_post_from_the_mail_client(app, client, outbox, person):
    trigger("submission_status", person)
    response = client.post(off_path(outbox[0]), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert not preferences.is_enabled(reload(person), KINDS["submission_status"])
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "user.notifications_off")
    )
    assert event.details == {"kind": "submission_status", "via": "one_click"}


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_link_needs_no_csrf_token(app, client, outbox, person):
    trigger("featured", person)
    assert client.post(off_path(outbox[0])).status_code == 200
    assert not preferences.is_enabled(reload(person), KINDS["featured"])


def test_weekly_edition_links_old_and_new_keep_working(app, client, person):
    from app.newsletter.tokens import make_unsubscribe_token

    path = f"/account/notifications/off/{make_token(person.id, WEEKLY)}"
    assert client.post(path).status_code == 200
    person = reload(person)
    assert person.email_opt_out and not person.receives_email  # the one weekly switch
    person.email_opt_out = False
    db.session.commit()

    old = client.post(f"/unsubscribe/{make_unsubscribe_token(user_id=person.id)}")
    assert old.status_code == 200 and reload(person).email_opt_out


# -- tampering ------------------------------------------------------------------------------------


def test_a_tampered_or_foreign_token_gets_a_friendly_page(app, client, person):
    good = make_token(person.id, KINDS["applause"])
    other_user = f"{person.id + 1}.applause"
    forged_value = good.replace(f"{person.id}.applause", other_user, 1)
    for token in (
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        forged_value,
        "not-a-token",
        "%FF",
    ):
        for method in (client.get, client.post):
            response = method(f"/account/notifications/off/{token}")
            assert response.status_code in (400, 404), token
            if response.status_code == 400:
                assert "This link to stop emails is not valid" in response.get_data(as_text=True)
    assert preferences.is_enabled(reload(person), KINDS["applause"])

    essential = Signer(app.config["SECRET_KEY"], salt=SALT).sign(f"{person.id}.account").decode()
    response = client.post(f"/account/notifications/off/{essential}")
    assert response.status_code == 400
    with pytest.raises(ValueError):
        make_token(person.id, KINDS["account"])

    gone = factories.make_user()
    db.session.commit()
    token = make_token(gone.id, KINDS["featured"])
    db.session.delete(gone)
    db.session.commit()
    response = client.get(f"/account/notifications/off/{token}")
    assert response.status_code == 400
    assert "no longer exists" in response.get_data(as_text=True)


# -- the profile page -----------------------------------------------------------------------------


def test_profile_shows_every_kind(app, login_as, person):
    page = login_as(person).get("/account/").get_data(as_text=True)
    for kind in KINDS.values():
        if kind is not WEEKLY:
            assert kind.label.replace("’", "&#39;") in page or kind.label in page, kind.key
    assert 'name="weekly_email" type="checkbox"' in page  # the weekly edition, in the profile
    for key in SWITCHABLE:
        assert checkbox(page, f"n-{key}") == "checked"
    assert checkbox(page, "kind-account", attribute="id") == "checked disabled"

    employee = factories.make_user()
    db.session.commit()
    page = login_as(employee).get("/account/").get_data(as_text=True)
    assert "n-editor_reminders" not in page  # only editors get reminders


@pytest.mark.parametrize("kind", SWITCHABLE)
def test_each_kind_can_be_turned_off_on_the_profile(app, login_as, outbox, person, kind):
    client = login_as(person)
    data = {f"n-{k}": "y" for k in SWITCHABLE if k != kind}
    response = client.post("/account/notifications", data=data)
    assert response.status_code == 302
    assert "Email settings saved." in client.get("/account/").get_data(as_text=True)
    person = reload(person)
    assert preferences.preferences_for(person) == {**dict.fromkeys(KINDS, True), kind: False}

    trigger(kind, person)
    assert to(outbox, person) == []
    for other in SWITCHABLE:
        if other != kind:
            trigger(other, person)
    assert len(to(outbox, person)) == len(SWITCHABLE) - 1

    client.post("/account/notifications", data={f"n-{k}": "y" for k in SWITCHABLE})
    assert preferences.is_enabled(reload(person), KINDS[kind])  # and back on


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_profile_switches_need_the_csrf_token(app, login_as, person):
    client = login_as(person)
    assert client.post("/account/notifications", data={}).status_code == 400
    assert preferences.is_enabled(reload(person), KINDS["featured"])
    page = client.get("/account/").get_data(as_text=True)
    token = re.search(r'name="n-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"n-csrf_token": token, **{f"n-{k}": "y" for k in SWITCHABLE if k != "featured"}}
    assert client.post("/account/notifications", data=data).status_code == 302
    assert not preferences.is_enabled(reload(person), KINDS["featured"])


def test_a_crafted_form_cannot_change_what_it_does_not_show(app, login_as):
    employee = factories.make_user()
    db.session.commit()
    login_as(employee).post("/account/notifications", data={"n-submission_status": "y"})
    rows = db.session.scalars(sa.select(NotificationPreference.kind)).all()
    # editor reminders: not theirs to set
    assert sorted(rows) == ["applause", "comments", "featured", "team_featured"]


# -- essential emails -----------------------------------------------------------------------------


def test_invitations_and_password_resets_are_always_sent(app, outbox, person):
    from app.admin.services import invite
    from app.auth.services import request_password_reset

    for key in SWITCHABLE:
        preferences.set_preference(person, KINDS[key], False)
    preferences.set_preference(person, WEEKLY, False)
    db.session.commit()

    admin = factories.make_user(Role.ADMIN)
    db.session.commit()
    with app.test_request_context():  # as from the admin's and the reset pages
        invite(
            "new.person@example.com", "New Person", role=Role.EMPLOYEE, team_id=None, actor=admin
        )
        db.session.commit()
        request_password_reset(person.email)
        db.session.commit()

    assert sorted(m["To"] for m in outbox) == ["new.person@example.com", "priya@example.com"]
    assert all(m["List-Unsubscribe"] is None for m in outbox)  # nothing to turn off
    assert "person.invited" in db.session.scalars(sa.select(DomainEvent.name)).all()


def test_editor_reminders_follow_each_editors_choice(app, outbox, person):
    other = factories.make_user(Role.EDITOR, email="dana@example.com")
    preferences.set_preference(person, KINDS["editor_reminders"], False)
    edition = factories.make_edition()
    db.session.commit()
    emit(
        EditionMissed(
            edition_id=edition.id,
            number=edition.number,
            due_at=utcnow().isoformat(),
            noticed_at=utcnow().isoformat(),
        )
    )
    db.session.commit()
    assert [m["To"] for m in outbox] == [other.email]
    assert "was not sent" in str(outbox[0]["Subject"])


# -- applause -------------------------------------------------------------------------------------


def applaud(story, *names: str) -> list[User]:
    people = [factories.make_user(display_name=name) for name in names]
    for user in people:
        db.session.add(Reaction(story_id=story.id, user_id=user.id))
    db.session.commit()
    return people


def test_applause_is_told_at_most_once_a_day_per_story(app, outbox, person):
    story = factories.make_story(person, status=S.PUBLISHED, title="Holiday saved")
    other = factories.make_story(person, status=S.PUBLISHED, title="A calm voice")
    db.session.add(Reaction(story_id=story.id, user_id=person.id))  # the author's own
    db.session.commit()
    applaud(story, "Ana Lopez", "Ben Ode")
    start = utcnow()

    assert run_applause(start) == 1
    [message] = outbox
    assert message["Subject"] == "Ana Lopez and Ben Ode applauded “Holiday saved”"
    text = message.get_body(("plain",)).get_content()
    assert 'Ana Lopez and Ben Ode applauded "Holiday saved" (3 applause in all).' in text
    assert "Priya" not in message["Subject"]

    _cy, dee = applaud(story, "Cy Park", "Dee Wu")
    db.session.execute(sa.delete(Reaction).where(Reaction.user_id == dee.id))  # taken back
    db.session.commit()
    applaud(other, "Eve Stone")
    assert run_applause(start + timedelta(hours=1)) == 1  # the other story: its first email
    assert outbox[-1]["Subject"] == "Eve Stone applauded “A calm voice”"
    assert run_applause(start + timedelta(hours=23)) == 0  # this story: not before a day
    assert len(outbox) == 2

    assert run_applause(start + timedelta(hours=24, minutes=1)) == 1
    assert outbox[-1]["Subject"] == "Cy Park applauded “Holiday saved”"  # only the new one
    assert run_applause(start + timedelta(days=5)) == 0  # nothing new: nothing sent
    assert len(outbox) == 3


def test_applause_turned_off_sends_nothing_and_is_not_saved_up(app, outbox, person):
    story = factories.make_story(person, status=S.PUBLISHED)
    preferences.set_preference(person, KINDS["applause"], False)
    db.session.commit()
    applaud(story, "Ana Lopez")
    assert run_applause() == 1
    assert outbox == []
    preferences.set_preference(reload(person), KINDS["applause"], True)
    db.session.commit()
    assert run_applause(utcnow() + timedelta(days=2)) == 0  # Ana was not saved for later
    applaud(story, "Ben Ode")
    run_applause(utcnow() + timedelta(days=2))
    assert [m["Subject"] for m in outbox] == [f"Ben Ode applauded “{story.title}”"]


def test_many_applauders_are_summed_up(app, outbox, person):
    story = factories.make_story(person, status=S.PUBLISHED, title="Big day")
    applaud(story, *[f"Person {n}" for n in range(8)])
    run_applause()
    assert outbox[0]["Subject"] == (
        "Person 0, Person 1, Person 2, Person 3, Person 4 and 3 others applauded “Big day”"
    )
