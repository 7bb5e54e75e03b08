"""The upcoming edition's services: one draft created on demand (also under a race), approved
items placed in approval order, order / pin / remove / move later / add back, subject and intro,
send-time override, skip with roll-over, send now, and the audit trail of each change."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest

from app.editions import queries
from app.editions import services
from app.errors import Conflict
from app.errors import IllegalTransition
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import db as _db
from app.models import AuditEvent
from app.models import Edition
from app.models import EditionStatus
from app.models import Role
from app.models import SubmissionStatus
from app.models import utcnow

S = SubmissionStatus
E = EditionStatus


@pytest.fixture
def dana(db, make_user):
    user = make_user(Role.EDITOR, display_name="Dana Whitfield")
    db.session.commit()
    return user


@pytest.fixture
def lined_up(db, make_story, make_quote):
    """The draft edition with story, quote, story (in approval order)."""
    now = utcnow()
    items = [
        make_story(status=S.APPROVED, title="One", approved_at=now - timedelta(hours=3)),
        make_quote(status=S.APPROVED, text="Two", approved_at=now - timedelta(hours=2)),
        make_story(status=S.APPROVED, title="Three", approved_at=now - timedelta(hours=1)),
    ]
    edition = services.ensure_upcoming()
    db.session.commit()
    return edition, items


def _contents(edition: Edition) -> list:
    return [e.content for e in queries.ordered_items(edition)]


def _actions(db) -> list[str]:
    return list(db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)))


# -- the one draft -------------------------------------------------------------------------------


def test_ensure_upcoming_creates_the_next_number_once(db, make_edition):
    make_edition(status=E.SENT, number=41)
    first = services.ensure_upcoming()
    assert (first.number, first.status) == (42, E.DRAFT)
    assert services.ensure_upcoming() is first
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Edition)) == 2
    assert "edition.create" in _actions(db)


def test_a_new_edition_takes_waiting_approved_items_in_approval_order(lined_up):
    edition, items = lined_up
    assert _contents(edition) == items


def test_ensure_upcoming_survives_a_concurrent_creator(app, db, monkeypatch):
    """Both requests see no draft, both insert: the index refuses one, which reads the other's."""
    real = queries.draft_edition
    barrier = threading.Barrier(2, timeout=10)
    results, errors, waited = [], [], set()

    def racing_draft_edition():
        found = real()
        name = threading.current_thread().name
        if found is None and name.startswith("racer") and name not in waited:
            waited.add(name)  # only the first look (on SQLite the second waits for the lock)
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return found

    monkeypatch.setattr(services, "draft_edition", racing_draft_edition)

    def racer() -> None:
        try:
            with app.app_context():
                edition = services.open_upcoming()
                _db.session.commit()
                results.append(edition.id)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=racer, name=f"racer-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert len(results) == 2 and results[0] == results[1]
    assert db.session.scalar(db.select(db.func.count()).select_from(Edition)) == 1


def test_insert_refused_by_the_index_reads_the_winner(db, monkeypatch):
    winner = services.ensure_upcoming()
    db.session.commit()
    calls = []

    def stale_check():
        calls.append(1)
        return None if len(calls) == 1 else queries.draft_edition()

    monkeypatch.setattr(services, "draft_edition", stale_check)
    assert services.ensure_upcoming() is winner


# -- placing approved items ----------------------------------------------------------------------


def test_add_approved_item_appends_and_is_idempotent(db, lined_up, make_story):
    edition, items = lined_up
    story = make_story(status=S.APPROVED)
    entry = services.add_approved_item(story)
    assert entry.edition is edition and entry.position == 3
    assert services.add_approved_item(story) is entry
    with pytest.raises(IllegalTransition):
        services.add_approved_item(make_story(status=S.SUBMITTED))


def test_approving_into_a_closed_edition_is_refused(db, make_story, make_edition):
    sent = make_edition(status=E.SENT)
    with pytest.raises(Conflict, match="can no longer be changed"):
        services.add_approved_item(make_story(status=S.APPROVED), sent)


# -- arranging -----------------------------------------------------------------------------------


def test_move_up_and_down(db, lined_up, dana):
    edition, (one, two, three) = lined_up
    ids = [e.id for e in queries.ordered_items(edition)]
    assert services.move_item(edition, ids[2], "up", actor=dana, seen_version=edition.version)
    assert _contents(edition) == [one, three, two]
    assert not services.move_item(edition, ids[0], "up", actor=dana,
                                  seen_version=edition.version)
    with pytest.raises(ValidationError):
        services.move_item(edition, ids[0], "sideways", actor=dana, seen_version=edition.version)
    with pytest.raises(NotFound):
        services.move_item(edition, 999999, "up", actor=dana, seen_version=edition.version)


def test_reorder_checks_the_item_set_and_the_version(db, lined_up, dana):
    edition, (one, two, three) = lined_up
    ids = [e.id for e in queries.ordered_items(edition)]
    seen = edition.version
    assert services.reorder(edition, [ids[2], ids[0], ids[1]], actor=dana, seen_version=seen)
    db.session.commit()
    assert _contents(edition) == [three, one, two] and edition.version == seen + 1
    assert not services.reorder(edition, [ids[2], ids[0], ids[1]], actor=dana,
                                seen_version=edition.version)
    with pytest.raises(Conflict, match="gained or lost items"):
        services.reorder(edition, ids[:2], actor=dana, seen_version=edition.version)
    with pytest.raises(Conflict, match="was changed by Dana Whitfield at"):
        services.reorder(edition, ids, actor=dana, seen_version=seen)


def test_the_featured_story_stays_on_top(db, lined_up, dana):
    edition, (one, two, three) = lined_up
    ids = {e.content: e.id for e in edition.items}
    services.set_pinned(edition, ids[three], True, actor=dana, seen_version=edition.version)
    assert _contents(edition) == [three, one, two]
    with pytest.raises(ValidationError, match="Only a story"):
        services.set_pinned(edition, ids[two], True, actor=dana, seen_version=edition.version)
    with pytest.raises(ValidationError, match="stays at the top"):
        services.move_item(edition, ids[three], "down", actor=dana, seen_version=edition.version)
    assert not services.move_item(edition, ids[one], "up", actor=dana,
                                  seen_version=edition.version)
    services.reorder(edition, [ids[two], ids[one], ids[three]], actor=dana,
                     seen_version=edition.version)
    assert _contents(edition) == [three, two, one]
    services.set_pinned(edition, ids[one], True, actor=dana, seen_version=edition.version)
    assert [e.pinned for e in queries.ordered_items(edition)] == [True, False, False]
    assert _contents(edition)[0] is one


def test_remove_holds_the_item_in_the_pool(db, lined_up, dana):
    edition, (one, two, three) = lined_up
    entry = next(e for e in edition.items if e.content is two)
    assert services.remove_item(edition, entry.id, actor=dana,
                                seen_version=edition.version) is two
    db.session.commit()
    pool = queries.approved_pool()
    assert [(p.item, p.held) for p in pool] == [(two, True)]
    # The next edition does not take held items...
    edition.status = E.SENT
    db.session.flush()
    nxt = services.ensure_upcoming()
    assert _contents(nxt) == []
    # ...until an editor adds it again.
    services.add_from_pool(nxt, "quote", two.id, actor=dana, seen_version=nxt.version)
    assert _contents(nxt) == [two]
    with pytest.raises(Conflict, match="already in edition"):
        services.add_from_pool(nxt, "quote", two.id, actor=dana, seen_version=nxt.version)


def test_move_later_from_the_draft_opens_the_next_edition(db, lined_up, dana):
    edition, (one, two, three) = lined_up
    entry = next(e for e in edition.items if e.content is one)
    item, target = services.move_to_later(edition, entry.id, actor=dana,
                                          seen_version=edition.version)
    assert (item, target) == (one, None)
    assert [(p.item, p.held) for p in queries.approved_pool()] == [(one, False)]
    edition.status = E.SENT
    db.session.flush()
    nxt = services.ensure_upcoming()
    assert nxt.number == edition.number + 1 and _contents(nxt) == [one]


def test_move_later_from_a_scheduled_edition_goes_to_the_draft(db, lined_up, dana):
    edition, (one, two, three) = lined_up
    edition.status = E.SCHEDULED
    db.session.commit()
    entry = next(e for e in edition.items if e.content is two)
    item, target = services.move_to_later(edition, entry.id, actor=dana,
                                          seen_version=edition.version)
    assert target.status == E.DRAFT and target.number == edition.number + 1
    assert _contents(target) == [two] and _contents(edition) == [one, three]


# -- subject, intro, time ------------------------------------------------------------------------


def test_subject_and_intro(db, lined_up, dana):
    edition, _ = lined_up
    assert services.update_content(edition, subject=" Kindness\neverywhere ",
                                   intro_md="Hi <b>all</b> **team**", actor=dana,
                                   seen_version=edition.version)
    assert edition.subject == "Kindness everywhere"
    assert edition.intro_html == "<p>Hi &lt;b&gt;all&lt;/b&gt; <strong>team</strong></p>"
    assert not services.update_content(edition, subject="Kindness everywhere",
                                       intro_md="Hi <b>all</b> **team**", actor=dana,
                                       seen_version=edition.version)
    with pytest.raises(ValidationError) as caught:
        services.update_content(edition, subject="x" * 121, intro_md="y" * 5001, actor=dana,
                                seen_version=edition.version)
    assert set(caught.value.errors) == {"subject", "intro_md"}


def test_send_time_override_and_back(db, lined_up, dana):
    edition, _ = lined_up
    now = utcnow()
    with pytest.raises(ValidationError, match="5 minutes"):
        services.set_send_time(edition, now, actor=dana, seen_version=edition.version, now=now)
    with pytest.raises(ValidationError, match="six months"):
        services.set_send_time(edition, now + timedelta(days=365), actor=dana,
                               seen_version=edition.version, now=now)
    when = (now + timedelta(days=2)).replace(microsecond=0)
    services.set_send_time(edition, when, actor=dana, seen_version=edition.version, now=now)
    db.session.commit()
    assert edition.scheduled_at == when and edition.status == E.DRAFT
    due = queries.send_times(dana)[edition.id]
    assert due.at == when and due.is_override
    services.set_send_time(edition, None, actor=dana, seen_version=edition.version)
    assert edition.scheduled_at is None and not queries.send_times(dana)[edition.id].is_override


def test_local_times_that_do_not_exist_are_refused():
    from datetime import date
    from datetime import time
    from zoneinfo import ZoneInfo

    with pytest.raises(ValidationError, match="does not exist"):
        queries.local_to_utc(date(2026, 3, 29), time(2, 30), ZoneInfo("Europe/Paris"))
    utc = queries.local_to_utc(date(2026, 10, 25), time(2, 30), ZoneInfo("Europe/Paris"))
    assert utc.hour == 0  # clocks go back: the first 02:30 (UTC+2)


# -- skip and send -------------------------------------------------------------------------------


def test_skip_rolls_the_items_over_in_order_with_the_featured_story(db, lined_up, dana):
    edition, (one, two, three) = lined_up
    ids = {e.content: e.id for e in edition.items}
    services.set_pinned(edition, ids[three], True, actor=dana, seen_version=edition.version)
    due = queries.send_times(dana)[edition.id].at
    target = services.skip(edition, actor=dana, seen_version=edition.version)
    db.session.commit()
    assert edition.status == E.SKIPPED and edition.items == []
    assert edition.iso_week == queries.weekly_slot().week_of(due)
    assert target.status == E.DRAFT and target.number == edition.number + 1
    assert _contents(target) == [three, one, two]
    assert queries.ordered_items(target)[0].pinned
    # The next edition goes out in a later week than the skipped one would have.
    assert queries.send_times(dana)[target.id].at > due
    actions = _actions(db)
    assert "edition.skip" in actions and actions.count("story.roll_over") == 2


def test_skip_a_scheduled_edition_rolls_into_the_existing_draft(db, lined_up, dana, make_story):
    edition, (one, two, three) = lined_up
    edition.status = E.SCHEDULED
    db.session.commit()
    later_story = make_story(status=S.APPROVED)
    draft = services.ensure_upcoming()
    services.add_approved_item(later_story, draft)
    db.session.commit()
    target = services.skip(edition, actor=dana, seen_version=edition.version)
    assert target is draft
    assert _contents(draft) == [one, two, three, later_story]


def test_send_now_hands_over_to_the_newsletter(db, lined_up, dana):
    edition, _ = lined_up
    services.send_now(edition, actor=dana, seen_version=edition.version)
    db.session.commit()
    assert edition.status == E.SCHEDULED
    assert "edition.send_now" in _actions(db)
    with pytest.raises(Conflict):
        services.send_now(edition, actor=dana, seen_version=edition.version - 1)


def test_every_editor_change_is_audited_and_bumps_the_version(db, lined_up, dana):
    edition, _ = lined_up
    ids = [e.id for e in queries.ordered_items(edition)]
    versions = [edition.version]
    steps = [
        lambda v: services.move_item(edition, ids[1], "down", actor=dana, seen_version=v),
        lambda v: services.reorder(edition, ids, actor=dana, seen_version=v),
        lambda v: services.set_pinned(edition, ids[0], True, actor=dana, seen_version=v),
        lambda v: services.update_content(edition, subject="S", intro_md="", actor=dana,
                                          seen_version=v),
        lambda v: services.set_send_time(edition, utcnow() + timedelta(days=1), actor=dana,
                                         seen_version=v),
        lambda v: services.remove_item(edition, ids[2], actor=dana, seen_version=v),
    ]
    for step in steps:
        step(edition.version)
        db.session.commit()
        versions.append(edition.version)
    assert versions == sorted(set(versions))  # strictly increasing
    actions = _actions(db)
    for action in ("edition.move_item", "edition.reorder", "edition.pin", "edition.update",
                   "edition.reschedule"):
        assert action in actions, action
    assert any(a.endswith(".remove_from_edition") for a in actions)
