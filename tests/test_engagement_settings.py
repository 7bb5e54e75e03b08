"""Admin → Settings → Readership, the profile page's notice, and the retention job: per-person
data is anonymized when its days are up or at once when the admin leaves per-person mode, and
the counts never change."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.engagement.subscribers import anonymize_expired
from app.extensions import db
from app.jobs import registered_jobs
from app.models import AuditEvent
from app.models import EditionStatus
from app.models import Role
from app.models import utcnow
from app.models.engagement import EngagementEvent
from app.settings import get_settings
from app.settings import set_settings
from tests import factories

URL = "/admin/settings/readership"
VALID = {"track_clicks": "y", "track_opens": "y", "analytics_mode": "aggregate",
         "engagement_person_days": "90"}


def _events() -> list[EngagementEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(EngagementEvent).order_by(EngagementEvent.id)))


def _counts() -> tuple:
    """What a report counts: events, unique messages per kind, per item."""
    db.session.expire_all()
    e = EngagementEvent
    return (
        db.session.scalar(sa.select(sa.func.count(e.id))),
        sorted(db.session.execute(
            sa.select(e.edition_id, e.kind, sa.func.count(sa.distinct(e.tag)))
            .group_by(e.edition_id, e.kind)).all()),
        sorted(db.session.execute(
            sa.select(e.edition_id, e.item_id, sa.func.count(sa.distinct(e.tag)))
            .where(e.kind == "click").group_by(e.edition_id, e.item_id)).all(), key=str),
    )


# -- the page -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [
    (None, 302), (Role.EMPLOYEE, 403), (Role.EDITOR, 403), (Role.ADMIN, 200)])
def test_only_admins_open_the_readership_settings(app, login_as, client, role, status):
    if role is not None:
        client = login_as(factories.make_user(role))
    for method in ("GET", "POST"):
        response = client.open(URL, method=method, data=VALID)
        expected = 302 if (status == 200 and method == "POST") else status
        assert response.status_code == expected, (role, method)
        if role is None:
            assert "/login" in response.headers["Location"]
    if role is None or role != Role.ADMIN:
        assert get_settings("analytics_mode")["analytics_mode"] == "aggregate"


def test_the_page_explains_the_modes_and_the_limits_of_open_counting(admin_client):
    page = admin_client.get(URL).get_data(as_text=True)
    assert "Apple Mail Privacy Protection" in page and "Images blocked" in page
    assert "Aggregate only" in page and "Per person" in page
    assert "profile page" in page  # what staff are told
    assert 'aria-current="page">Readership</a>' in page


def test_saving_settings(admin_client, admin):
    response = admin_client.post(URL, data={**VALID, "track_opens": "", "analytics_mode": "person",
                                            "engagement_person_days": "30"})
    assert response.status_code == 302
    assert get_settings("track_clicks", "track_opens", "analytics_mode",
                        "engagement_person_days") == {
        "track_clicks": True, "track_opens": False, "analytics_mode": "person",
        "engagement_person_days": 30}
    page = admin_client.get(URL).get_data(as_text=True)
    assert "Readership settings saved." in page
    audit = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "settings.update"))
    assert audit.actor_id == admin.id


@pytest.mark.parametrize(("field", "value", "message"), [
    ("engagement_person_days", "0", "between 1 and 730"),
    ("engagement_person_days", "731", "between 1 and 730"),
    ("engagement_person_days", "-5", "between 1 and 730"),
    ("engagement_person_days", "ten", "Not a valid integer value"),
    ("engagement_person_days", "9" * 40, "too large"),
    ("engagement_person_days", "", "Enter a number of days"),
    ("analytics_mode", "everyone", "Not a valid choice"),
    ("analytics_mode", "", "Choose what editors can see"),
])
def test_invalid_input_is_explained_and_kept(admin_client, field, value, message):
    response = admin_client.post(URL, data={**VALID, "analytics_mode": "person", field: value})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    if field == "engagement_person_days" and value:
        assert f'value="{value}"' in page  # what was typed stays
    assert get_settings("analytics_mode")["analytics_mode"] == "aggregate"  # nothing saved


def _person_rows(editions, users, *, at=None) -> None:
    """Per-person events: each user opened and clicked (twice) each edition."""
    at = at or utcnow()
    for edition in editions:
        for n, user in enumerate(users, start=1):
            tag = f"d{edition.id * 1000 + n}"
            for kind, item in (("open", None), ("click", 7), ("click", 7), ("click", None)):
                db.session.add(EngagementEvent(edition_id=edition.id, kind=kind, tag=tag,
                                               user_id=user.id, item_kind=item and "story",
                                               item_id=item, at=at))
        db.session.add(EngagementEvent(edition_id=edition.id, kind="open", tag="rAnonymousAAAAAAA",
                                       at=at))
    db.session.flush()


def test_leaving_per_person_mode_asks_then_anonymizes_everything_at_once(admin_client):
    set_settings({"analytics_mode": "person"}, actor=None)
    editions = [factories.make_edition(status=EditionStatus.SENT) for _ in range(2)]
    users = [factories.make_user() for _ in range(3)]
    _person_rows(editions, users)
    db.session.commit()
    before = _counts()
    page = admin_client.get(URL).get_data(as_text=True)
    assert "Per-person data is held now for 6 messages" in page

    asked = admin_client.post(URL, data=VALID)
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "anonymizes the per-person reading data of 6 messages at once" in page
    assert 'name="confirmed" type="hidden" value="yes"' in page  # the next submit confirms
    assert re.search(r'<input[^>]*\bchecked[^>]*value="aggregate"', page)  # as typed
    assert get_settings("analytics_mode")["analytics_mode"] == "person"  # not yet
    assert all(e.user_id for e in _events() if e.tag.startswith("d"))

    done = admin_client.post(URL, data={**VALID, "confirmed": "yes"}, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Per-person reading data of 6 messages anonymized" in page
    assert get_settings("analytics_mode")["analytics_mode"] == "aggregate"
    events = _events()
    assert all(e.user_id is None and not e.tag.startswith("d") for e in events)
    assert _counts() == before


def test_other_changes_in_per_person_mode_do_not_ask(admin_client):
    set_settings({"analytics_mode": "person"}, actor=None)
    _person_rows([factories.make_edition(status=EditionStatus.SENT)], [factories.make_user()])
    db.session.commit()
    response = admin_client.post(URL, data={**VALID, "analytics_mode": "person",
                                            "engagement_person_days": "10"})
    assert response.status_code == 302
    assert all(e.user_id for e in _events() if e.tag.startswith("d"))


# -- the profile notice ---------------------------------------------------------------------------


def _sentence(page: str) -> str:
    """The privacy sentence a page shows (the element marked data-privacy-sentence)."""
    match = re.search(r"data-privacy-sentence>(?:Staff are told now, on their profile page: “)?"
                      r"([^<”]+)", page)
    assert match, page
    return html.unescape(match.group(1)).strip()


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, "Opens and clicks in the weekly email are counted in aggregate only: editors see totals "
         "per edition and per story, and nobody’s own reading is recorded."),
    ({"analytics_mode": "person", "engagement_person_days": 45},
     "Opens and clicks in the weekly email are counted per person: for 45 days they are linked "
     "to the reader, so editors can see how each team read an edition (never who: teams of "
     "fewer than 5 are grouped); after that they count only in the totals."),
    ({"analytics_mode": "person", "engagement_person_days": 1, "track_opens": False},
     "Clicks in the weekly email are counted per person: for 1 day they are linked to the "
     "reader, so editors can see how each team read an edition (never who: teams of fewer "
     "than 5 are grouped); after that they count only in the totals."),
    ({"track_clicks": False, "track_opens": False},
     "Opens and clicks in the weekly email are not counted."),
])
def test_profile_settings_and_report_tell_the_same_privacy_sentence(app, login_as, settings,
                                                                    expected):
    """One sentence, word for word, wherever reading data is explained: staff, admins and
    editors can never be told different things."""
    set_settings(settings, actor=None)
    edition = factories.make_edition(status=EditionStatus.SENT, sent_at=utcnow())
    db.session.commit()
    profile = login_as(factories.make_user(Role.EMPLOYEE)).get("/account/")
    admin = login_as(factories.make_user(Role.ADMIN)).get(URL)
    report = login_as(factories.make_user(Role.EDITOR)).get(f"/editions/{edition.number}")
    pages = [r.get_data(as_text=True) for r in (profile, admin, report)]
    assert [_sentence(page) for page in pages] == [expected] * 3
    for page in pages:  # none of the old, contradicting promises
        assert "whether you opened" not in page and "who opened and clicked" not in page


def test_the_profile_page_says_which_mode_is_on(employee_client):
    page = employee_client.get("/account/").get_data(as_text=True)
    assert 'data-readership="aggregate"' in page
    set_settings({"analytics_mode": "person", "engagement_person_days": 45}, actor=None)
    db.session.commit()
    page = employee_client.get("/account/").get_data(as_text=True)
    assert 'data-readership="person"' in page and "for 45 days" in page


# -- retention ------------------------------------------------------------------------------------


def test_the_retention_job_is_scheduled(app):
    job = next(j for j in registered_jobs() if j.run is anonymize_expired)
    assert job.every == "SCHEDULER_ENGAGEMENT_SECONDS"


def test_retention_anonymizes_old_per_person_rows_and_keeps_the_counts(app):
    set_settings({"analytics_mode": "person", "engagement_person_days": 30}, actor=None)
    editions = [factories.make_edition(status=EditionStatus.SENT) for _ in range(2)]
    users = [factories.make_user() for _ in range(4)]
    now = utcnow()
    _person_rows(editions[:1], users, at=now - timedelta(days=31))
    _person_rows(editions[1:], users, at=now - timedelta(days=29))
    # A message whose first open is old and its last click recent: anonymized as a whole, so
    # it still counts as one message.
    straddling = EngagementEvent(edition_id=editions[1].id, kind="click",
                                 tag=f"d{editions[1].id * 1000 + 1}",
                                 user_id=users[0].id, at=now - timedelta(days=40))
    db.session.add(straddling)
    db.session.commit()
    before = _counts()
    assert anonymize_expired(lambda: False) == 4 + 1
    after = _events()
    assert _counts() == before
    old = [e for e in after if e.edition_id == editions[0].id]
    assert all(e.user_id is None and not e.tag.startswith("d") for e in old)
    recent = [e for e in after if e.edition_id == editions[1].id and e.tag.startswith("d")]
    assert len(recent) == 3 * 4 and all(e.user_id for e in recent)  # three users untouched
    # New tags: one per message, random (not derived from the old tag), never reused.
    new_tags = {e.tag for e in old if e.tag != "rAnonymousAAAAAAA"}
    assert len(new_tags) == 4
    assert all(t.startswith("a") and len(t) == 17 for t in new_tags)
    assert anonymize_expired(lambda: False) == 0  # idempotent


def test_retention_stops_between_batches_when_asked(app):
    editions = [factories.make_edition(status=EditionStatus.SENT)]
    users = [factories.make_user() for _ in range(5)]
    _person_rows(editions, users, at=utcnow() - timedelta(days=400))
    db.session.commit()
    calls = iter([False, True])
    assert anonymize_expired(lambda: next(calls), batch=2) == 2
    assert anonymize_expired(lambda: False, batch=2) == 3
    assert all(e.user_id is None for e in _events())
