"""Unredacted originals: kept only while an admin says so and for as long as they say
(app/voice/retention.py, the scheduler's "voice" job), and the Customer voice settings that
decide it (Admin → Settings, through the test client)."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.jobs import registered_jobs
from app.models import AuditEvent
from app.models import Origin
from app.models import QuoteSource
from app.models import Setting
from app.models import Verbatim
from app.settings import get_settings
from app.settings import set_settings
from app.voice import redact
from app.voice import retention
from app.voice.services import email_source

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _verbatim(db, age: timedelta, original: str | None = "Call Ana on 06 12 34 56 78") -> Verbatim:
    verbatim = Verbatim(
        source_id=email_source().id, origin=Origin.EMAIL, text="Call Ana on [phone]",
        original_text=original, redactions=1, channel=QuoteSource.EMAIL,
        received_on=date(2026, 11, 1), created_at=NOW - age,
    )
    db.session.add(verbatim)
    db.session.flush()
    return verbatim


def _keep(db, keep: bool, days: int = 30) -> None:
    set_settings({"voice_keep_original": keep, "voice_original_days": days}, actor=None)
    db.session.commit()


def _originals(db) -> dict[int, str | None]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(Verbatim.id, Verbatim.original_text)).all())


def _purge_events(db) -> list[dict]:
    return list(db.session.scalars(
        sa.select(AuditEvent.details).where(AuditEvent.action == retention.PURGED)
        .order_by(AuditEvent.id)
    ))


def test_originals_older_than_the_setting_are_purged(db):
    _keep(db, True, days=30)
    exactly = _verbatim(db, timedelta(days=30))
    just_over = _verbatim(db, timedelta(days=30, seconds=1))
    recent = _verbatim(db, timedelta(days=1))
    ancient = _verbatim(db, timedelta(days=400))
    never_kept = _verbatim(db, timedelta(days=400), original=None)
    db.session.commit()

    assert retention.purge_originals(NOW) == 2

    originals = _originals(db)
    assert originals[exactly.id] == originals[recent.id] == "Call Ana on 06 12 34 56 78"
    assert originals[just_over.id] is None and originals[ancient.id] is None
    assert originals[never_kept.id] is None
    assert db.session.get(Verbatim, just_over.id).text == "Call Ana on [phone]"  # text stays
    assert _purge_events(db) == [{"count": 2, "kept_days": 30}]

    # The next run finds nothing more and records nothing.
    assert retention.purge_originals(NOW) == 0
    assert len(_purge_events(db)) == 1
    # A second later, the one exactly 30 days old is due.
    assert retention.purge_originals(NOW + timedelta(seconds=1)) == 1


def test_one_day_keeps_a_day(db):
    _keep(db, True, days=1)
    _verbatim(db, timedelta(hours=23))
    _verbatim(db, timedelta(hours=25))
    db.session.commit()
    assert retention.purge_originals(NOW) == 1


def test_originals_not_kept_are_all_purged_at_once(db):
    _keep(db, False)
    for age in (timedelta(0), timedelta(minutes=5), timedelta(days=3)):
        _verbatim(db, age)
    db.session.commit()

    assert retention.purge_originals(NOW) == 3
    assert set(_originals(db).values()) == {None}
    assert _purge_events(db) == [{"count": 3}]


def test_the_default_is_not_to_keep(db):
    _verbatim(db, timedelta(0))
    db.session.commit()
    assert retention.purge_originals(NOW) == 1


def test_purges_in_batches_with_one_audit_entry(db, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 3)
    _keep(db, False)
    for _ in range(7):
        _verbatim(db, timedelta(days=2))
    db.session.commit()

    assert retention.purge_originals(NOW) == 7
    assert _purge_events(db) == [{"count": 7}]
    assert set(_originals(db).values()) == {None}


def test_a_stopping_scheduler_ends_the_run_between_batches(db, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 3)
    _keep(db, False)
    for _ in range(7):
        _verbatim(db, timedelta(days=2))
    db.session.commit()
    batches = iter([False, True])

    assert retention.purge_originals(NOW, should_stop=lambda: next(batches)) == 3
    assert list(_originals(db).values()).count(None) == 3
    assert retention.purge_originals(NOW) == 4  # the next run goes on
    assert _purge_events(db) == [{"count": 3}, {"count": 4}]


def test_the_scheduler_job_purges(db):
    job = next(j for j in registered_jobs() if j.id == "voice")
    assert job.every == "SCHEDULER_VOICE_SECONDS"
    _verbatim(db, timedelta(days=1))
    db.session.commit()
    assert job.run(lambda: False) == 1
    assert set(_originals(db).values()) == {None}


# Admin → Settings → Customer voice ---------------------------------------------------------------
SETTINGS = {
    "timezone": "UTC",
    "send_weekday": "4",
    "send_time": "09:00",
    "reminder_hours_before": "24",
    "missed_run_grace_hours": "6",
    "empty_edition_policy": "skip",
    "nudge_weekday": "2",
    "nudge_time": "10:00",
    "sender": "Feel Good Fridays <fgf@example.com>",
    "extra_recipients": "",
    "voice_keep_original": "y",
    "voice_original_days": "90",
    "voice_redact_patterns": "order: ORD-[0-9]{6}\r\naccount id: ACC[0-9]{8}\r\n",
}


def _post(client, **changes):
    return client.post("/admin/settings", data={**SETTINGS, **changes})


def test_settings_page_shows_the_customer_voice_section(admin_client):
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "Customer voice" in page
    checkbox = page.split('name="voice_keep_original"')[1].split(">")[0]
    assert "checked" not in checkbox
    assert 'name="voice_original_days"' in page and 'value="30"' in page
    assert "Only admins see originals" in page
    assert "unredacted originals are stored now" not in page  # none yet
    # Enter in any field saves: the preview button comes after "Save settings".
    assert page.index("Save settings") < page.index("Preview redaction")


def test_settings_save_the_customer_voice(admin_client, db):
    response = _post(admin_client)
    assert response.status_code == 302
    stored = get_settings("voice_keep_original", "voice_original_days", "voice_redact_patterns")
    assert stored == {
        "voice_keep_original": True,
        "voice_original_days": 90,
        "voice_redact_patterns": [
            {"label": "order", "pattern": "ORD-[0-9]{6}"},
            {"label": "account id", "pattern": "ACC[0-9]{8}"},
        ],
    }
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "order: ORD-[0-9]{6}\naccount id: ACC[0-9]{8}</textarea>" in page
    assert 'value="90"' in page


def test_turning_originals_off_purges_them_on_save(admin_client, db):
    _keep(db, True, days=30)
    _verbatim(db, timedelta(days=1))
    _verbatim(db, timedelta(days=2))
    db.session.commit()
    assert "save. 2 unredacted originals are stored now." in admin_client.get(
        "/admin/settings").get_data(as_text=True)

    response = _post(admin_client, voice_keep_original="", voice_original_days="30")
    assert response.status_code == 302
    assert set(_originals(db).values()) == {None}
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "2 unredacted originals deleted under the new retention." in page
    assert _purge_events(db) == [{"count": 2}]


def test_shortening_the_days_purges_the_older_originals_on_save(admin_client, db):
    _keep(db, True, days=30)
    now = datetime.now(UTC)
    for days in (2, 10, 20):
        _verbatim(db, timedelta(days=days) - (NOW - now))
    db.session.commit()
    _post(admin_client, voice_original_days="5")
    assert list(_originals(db).values()).count(None) == 2


@pytest.mark.parametrize(
    ("changes", "message", "kept"),
    [
        ({"voice_redact_patterns": "order: ORD-(0-9"}, "Line 1: the pattern is not valid", None),
        ({"voice_redact_patterns": "order: x*"}, "Line 1: the pattern matches empty text", None),
        ({"voice_redact_patterns": "\n".join(f"p: P{i}X" for i in range(21))},
         "Use at most 20 patterns.", None),
        ({"voice_redact_patterns": "Order Number!: ORD-1"}, "Line 1: write `label: pattern`",
         None),
        ({"voice_redact_patterns": "ok: A1\nno colon here"}, "Line 2: write `label: pattern`",
         None),
        ({"voice_redact_patterns": "long: " + "a" * 201}, "longer than 200 characters", None),
        ({"voice_redact_patterns": "x: a" * 2000}, "cannot be longer than", None),
        ({"voice_original_days": "0"}, "between 1 and 365", "0"),
        ({"voice_original_days": "366"}, "between 1 and 365", "366"),
        ({"voice_original_days": ""}, "Not a valid integer value", ""),
        ({"voice_original_days": "ten"}, "Not a valid integer value", "ten"),
        ({"voice_original_days": "9" * 30}, "too large", None),
    ],
)
def test_invalid_customer_voice_settings_keep_the_text_and_save_nothing(
    admin_client, db, changes, message, kept
):
    response = _post(admin_client, **changes)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert "There’s a problem" in page
    if "voice_redact_patterns" in changes and len(changes["voice_redact_patterns"]) < 4800:
        typed = changes["voice_redact_patterns"].replace("&", "&amp;").replace("<", "&lt;")
        assert typed.replace("'", "&#39;").replace('"', "&#34;") + "</textarea>" in page
    if kept is not None:
        assert f'value="{kept}"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Setting)) == 0


def test_control_characters_are_dropped_from_patterns(admin_client, db):
    _post(admin_client, voice_redact_patterns="order: ORD\x00-[0-9]{6}\x07")
    assert get_settings("voice_redact_patterns")["voice_redact_patterns"] == [
        {"label": "order", "pattern": "ORD-[0-9]{6}"}]


def test_a_form_without_the_voice_fields_keeps_them(admin_client, db):
    """An older form (or a client) posting only the schedule fields changes nothing else."""
    _keep(db, True, days=45)
    form = {k: v for k, v in SETTINGS.items() if not k.startswith("voice_")}
    form["voice_keep_original"] = "y"  # a checkbox is absent when unticked; ticked here
    assert admin_client.post("/admin/settings", data=form).status_code == 302
    assert get_settings("voice_original_days")["voice_original_days"] == 45


def test_only_admins_reach_the_settings(editor_client):
    assert editor_client.post("/admin/settings", data=SETTINGS).status_code == 403


def test_preview_shows_the_redaction_and_saves_nothing(admin_client, db):
    response = _post(
        admin_client, preview="1",
        voice_sample="Order ORD-123456, call 06 12 34 56 78\n<b>ana@example.com</b>",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "What editors would see" in page
    assert "Order [order], call [phone]<br>&lt;b&gt;[email]&lt;/b&gt;" in page
    assert "3 redactions." in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Setting)) == 0
    assert "order: ORD-[0-9]{6}" in page  # the typed patterns are kept


def test_preview_with_an_invalid_pattern_shows_the_error(admin_client, db):
    page = _post(admin_client, preview="1", voice_sample="x",
                 voice_redact_patterns="order: ORD-(").get_data(as_text=True)
    assert "the pattern is not valid" in page and "What editors would see" not in page


def test_preview_refuses_a_sample_beyond_the_comment_limit(admin_client, db):
    page = _post(admin_client, preview="1", voice_sample="x" * 10_001).get_data(as_text=True)
    assert "cannot be longer than 10000 characters" in page


def test_preview_explains_a_pattern_that_takes_too_long(admin_client, db, monkeypatch):
    monkeypatch.setattr(redact, "PATTERN_TIMEOUT", 0.01)
    page = _post(admin_client, preview="1", voice_sample="a" * 60 + "!",
                 voice_redact_patterns="slow: (a|aa)+$").get_data(as_text=True)
    assert "[withheld]" in page and "took too long on this comment" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Setting)) == 0
