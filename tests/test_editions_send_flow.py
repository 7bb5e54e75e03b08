"""From "Send to everyone now" to "sent", through the Flask client and the real sender: the editor
lands on the edition's live progress, the upcoming page shows the edition on its way (never
again "Due now" with "Send now…"), and the test email carries the date, number and subject the
edition will go out with."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from app.editions import services
from app.models import Delivery
from app.models import Edition
from app.models import EditionStatus
from app.models import SubmissionStatus
from app.newsletter import jobs
from app.newsletter import sending
from tests.fixtures.smtp import configure_app_for

S = SubmissionStatus
E = EditionStatus


@pytest.fixture
def lined_up(db, make_user, make_story, make_quote, editor):
    """The upcoming edition with a story and a quote; a few colleagues to send it to."""
    for i in range(3):
        make_user(display_name=f"Reader {i}", email=f"reader{i}@example.com")
    make_story(status=S.APPROVED, title="The umbrella in the rain")
    make_quote(status=S.APPROVED, text="Lovely people.")
    edition = services.ensure_upcoming()
    edition.subject = "Umbrellas and kind words"
    db.session.commit()
    return edition


def _send_now(client, edition):
    return client.post(f"/editions/upcoming/{edition.id}/send",
                       data={"version": edition.version})


def test_send_now_takes_the_editor_to_the_editions_live_progress(editor_client, lined_up, db):
    edition = lined_up
    confirm = editor_client.get(f"/editions/upcoming/{edition.id}/send").get_data(as_text=True)
    assert "<dt>Dated</dt>" in confirm and "(today)" in confirm  # sent now, dated today
    response = _send_now(editor_client, edition)
    assert response.status_code == 302
    assert response.location == f"/editions/{edition.number}"

    page = editor_client.get(response.location).get_data(as_text=True)
    assert "is on its way: sending starts within a minute" in page
    assert "Starting to send" in page and "Not sent yet" not in page
    assert f'data-progress-url="/editions/{edition.number}/progress"' in page
    assert "js/newsletter.js" in page  # the page follows the progress by itself
    progress = editor_client.get(f"/editions/{edition.number}/progress").json
    assert progress["status"] == "scheduled" and progress["done"] is False


def test_the_upcoming_page_shows_the_edition_on_its_way(app, editor_client, lined_up, db):
    edition = lined_up
    first = edition.id
    _send_now(editor_client, edition)

    # Handed to the sender, not yet taken: no "Due now", "Send now…" or "Skip…" for it.
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "Sending — starts within a minute" in page
    assert f'href="/editions/{edition.number}"' in page and "Follow the progress" in page
    assert f"/editions/upcoming/{first}/send" not in page
    assert f"/editions/upcoming/{first}/skip" not in page
    assert "Due now" not in page
    assert "<h1>Untitled edition</h1>" in page  # the page arranges the next edition, #2
    assert "Edition #2 ·" in page
    # Its own tab says it is on its way, and a stale "Send now…" link leads to the progress.
    tab = editor_client.get(f"/editions/upcoming/{first}").get_data(as_text=True)
    assert "Follow the sending" in tab and f"/editions/upcoming/{first}/send" not in tab
    stale = editor_client.get(f"/editions/upcoming/{first}/send")
    assert stale.status_code == 302 and stale.location == f"/editions/{edition.number}"

    # Sending: one delivery out so far.
    app.config["NEWSLETTER_BATCH_SIZE"] = 1
    stops = iter([False, True])
    sending.run_edition(first, should_stop=lambda: next(stops, True))
    db.session.expire_all()
    assert db.session.get(Edition, first).status == E.SENDING
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    total = db.session.scalar(db.select(db.func.count()).select_from(Delivery))
    assert total > 1
    assert f"Sending — 1 of {total} delivered" in page
    assert f'href="/editions/{edition.number}"' in page
    assert f"/editions/upcoming/{first}/send" not in page
    assert f"/editions/upcoming/{first}/skip" not in page
    assert f'data-progress-url="/editions/{edition.number}/progress"' in page

    # Sent: the upcoming page is the next draft as before, with nothing on its way.
    sending.run_edition(first)
    db.session.expire_all()
    assert db.session.get(Edition, first).status == E.SENT
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "Sending —" not in page and "Follow the progress" not in page
    draft = db.session.scalar(db.select(Edition).where(Edition.status == E.DRAFT))
    assert f"/editions/upcoming/{draft.id}/send" in page and f"Edition #{draft.number} ·" in page
    assert editor_client.get(f"/editions/{edition.number}/progress").json["done"] is True


def test_an_edition_the_scheduler_has_not_taken_for_minutes_says_so(editor_client, lined_up,
                                                                     db):
    edition = lined_up
    _send_now(editor_client, edition)
    db.session.expire_all()
    edition = db.session.get(Edition, edition.id)
    edition.scheduled_at -= timedelta(minutes=10)
    db.session.commit()
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "Still waiting for the scheduler" in page
    progress = editor_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert "Still waiting for the scheduler" in progress


# -- the test email is the edition as it will go out ------------------------------------------


SUNDAY = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)  # the editor's "now"
FRIDAY = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)  # the weekly slot (Fridays 09:00, UTC)


def test_the_test_email_carries_the_date_number_and_subject_it_will_go_out_with(
    app, db, smtp_server, login_as, editor, lined_up, monkeypatch
):
    from app.newsletter import compose

    configure_app_for(app, smtp_server)
    edition = lined_up
    edition.created_at = SUNDAY - timedelta(hours=2)  # this week's edition, due on Friday
    db.session.commit()
    monkeypatch.setattr(compose, "utcnow", lambda: SUNDAY)  # what dated the test before
    client = login_as(editor)

    page = client.post(f"/editions/upcoming/{edition.id}/test",
                       data={"version": edition.version},
                       follow_redirects=True).get_data(as_text=True)
    assert "Test sent to dana@example.com" in page
    [test] = smtp_server.messages
    text = test.message.get_body(("plain",)).get_content()
    html = test.message.get_body(("html",)).get_content()
    assert test.message["Subject"] == (
        f"[TEST] Feel Good Fridays #{edition.number}: Umbrellas and kind words")
    for body in (text, html):
        assert "Friday 11 December 2026" in body
        assert "Sunday 6 December" not in body
        assert f"#{edition.number}" in body

    # The real edition, sent by the scheduler at its time, reads the same.
    monkeypatch.undo()
    jobs.tick(FRIDAY + timedelta(seconds=30))
    db.session.commit()
    sent = [m for m in smtp_server.messages[1:] if m.rcpt_tos == ["dana@example.com"]]
    assert len(sent) == 1
    assert "[TEST] " + sent[0].message["Subject"] == test.message["Subject"]
    real = sent[0].message.get_body(("plain",)).get_content()
    assert real.splitlines()[0] == text.splitlines()[0]  # "FEEL GOOD FRIDAYS #1 - Friday 11 …"


def test_every_page_of_an_unsent_edition_carries_the_date_it_will_go_out(
    editor_client, lined_up, db, monkeypatch
):
    from app.newsletter import compose

    edition = lined_up
    edition.created_at = SUNDAY - timedelta(hours=2)
    db.session.commit()
    monkeypatch.setattr(compose, "utcnow", lambda: SUNDAY)
    for path in (f"/editions/{edition.number}", f"/editions/upcoming/{edition.id}/preview",
                 f"/editions/upcoming/{edition.id}/preview/email"):
        page = editor_client.get(path).get_data(as_text=True)
        assert "Friday 11 December 2026" in page, path
        assert "Sunday 6 December" not in page, path


def test_an_empty_edition_can_be_tested_when_it_may_go_out(app, db, editor_client, admin,
                                                           outbox):
    """The placeholder ("no stories this week") goes to everyone under that policy, so the
    editor can see it first; under "skip" there is nothing to test."""
    from app.settings import set_settings

    edition = services.ensure_upcoming()
    db.session.commit()
    refused = editor_client.post(f"/editions/upcoming/{edition.id}/test",
                                 data={"version": edition.version}, follow_redirects=True)
    assert "Add a story or a quote before sending a test." in refused.get_data(as_text=True)
    assert outbox == []
    set_settings({"empty_edition_policy": "send_placeholder"}, actor=admin)
    db.session.commit()
    sent = editor_client.post(f"/editions/upcoming/{edition.id}/test",
                              data={"version": edition.version}, follow_redirects=True)
    assert "Test sent to dana@example.com" in sent.get_data(as_text=True)
    [message] = outbox
    assert "No stories this week" in message.get_body(("plain",)).get_content()


# -- what the editor sees before and after "send now" (walking the journeys) ------------------


def _figures(page: str) -> dict[str, str]:
    """The live progress figures as shown: Recipients, Sent, Failed, Pending."""
    return dict(re.findall(r'data-progress="(\w+)">([^<]*)<', page))


def test_the_progress_page_does_not_say_zero_recipients_before_counting(app, editor_client,
                                                                        lined_up, db):
    edition = lined_up
    _send_now(editor_client, edition)
    page = editor_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    # No delivery rows yet: "—" (not counted), never "0 Recipients".
    assert _figures(page) == {"total": "—", "sent": "—", "failed": "—", "pending": "—"}
    assert "the recipients are counted then" in page

    app.config["NEWSLETTER_BATCH_SIZE"] = 1
    stops = iter([False, True])
    sending.run_edition(edition.id, should_stop=lambda: next(stops, True))
    db.session.expire_all()
    total = db.session.scalar(db.select(db.func.count()).select_from(Delivery))
    page = editor_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert _figures(page) == {"total": str(total), "sent": "1", "failed": "0",
                              "pending": str(total - 1)}


def test_the_progress_page_leads_to_the_next_edition(editor_client, lined_up, db):
    edition = lined_up
    _send_now(editor_client, edition)
    live = editor_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert '<a href="/editions/upcoming">Arrange the next edition' in live
    # The flash's text once it is sent (newsletter.js replaces the stale "on its way").
    assert f'data-progress-done="Edition #{edition.number} has been sent."' in live

    sending.run_edition(edition.id)
    db.session.expire_all()
    sent = editor_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert "Delivery" in sent and '<a href="/editions/upcoming">Arrange the next edition' in sent


def test_an_older_sent_edition_does_not_offer_the_next_one(editor_client, make_edition, db):
    make_edition(status=E.SENT, number=1, subject="Week 1")
    make_edition(status=E.SENT, number=2, subject="Week 2")
    db.session.commit()
    older = editor_client.get("/editions/1").get_data(as_text=True)
    assert "Arrange the next edition" not in older
    assert "Arrange the next edition" in editor_client.get("/editions/2").get_data(as_text=True)


def test_the_default_subject_is_shown_before_the_last_step(editor_client, lined_up, db):
    edition = lined_up
    edition.subject = ""
    db.session.commit()
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "<h1>Untitled edition</h1>" in page
    assert (f"No subject yet: it goes out as “Feel Good Fridays #{edition.number}: This week”."
            ' <a href="#content">Add one below</a>.') in page
    assert 'id="content"' in page

    confirm = editor_client.get(f"/editions/upcoming/{edition.id}/send").get_data(as_text=True)
    assert f"Feel Good Fridays #{edition.number}: This week" in confirm
    assert "(the default: you haven’t written one." in confirm
    assert f'href="/editions/upcoming/{edition.id}#content">Write a subject</a>' in confirm

    edition.subject = "Umbrellas and kind words"
    db.session.commit()
    assert "No subject yet" not in editor_client.get("/editions/upcoming").get_data(as_text=True)
    confirm = editor_client.get(f"/editions/upcoming/{edition.id}/send").get_data(as_text=True)
    assert "Umbrellas and kind words" in confirm and "the default" not in confirm
