"""End to end through the Flask client, with every email caught by a real SMTP server (aiosmtpd):
an editor takes the week's submissions from the queue to an ordered, previewed, test-sent
upcoming edition; skips a week; sends the next one now; the author learns what was edited."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from app.editions.queries import ordered_items
from app.extensions import db as _db
from app.models import AuditEvent
from app.models import Edition
from app.models import EditionStatus
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from tests.fixtures.smtp import configure_app_for

pytestmark = pytest.mark.slow  # whole journeys, with a real SMTP server
S = SubmissionStatus
E = EditionStatus


def _subjects(server) -> list[str]:
    return [m.message["Subject"] for m in server.messages]


def _to(server, address: str) -> list:
    return [m for m in server.messages if address in m.rcpt_tos]


def _text(received) -> str:
    return received.message.get_body(("plain",)).get_content()


def _version(edition_id: int) -> int:
    _db.session.expire_all()
    return _db.session.get(Edition, edition_id).version


@pytest.fixture
def week(db, make_user, make_team, make_story, make_quote):
    """The week's submissions, oldest first, from two colleagues."""
    team = make_team("Contact Centre")
    priya = make_user(display_name="Priya Raman", email="priya@example.com", team=team)
    lucas = make_user(display_name="Lucas Ferreira", email="lucas@example.com")
    noah = make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    now = datetime.now(UTC)
    items = {
        "call": make_story(priya, status=S.SUBMITTED, title="A late-night call",
                           body="Noah stayed on the line until she boarded, delighted.",
                           colleagues=[noah], tags=["travel"],
                           submitted_at=now - timedelta(days=3)),
        "cake": make_story(lucas, status=S.SUBMITTED, title="Birthday cake at the till",
                           body="Grace noticed it was his birthday and the whole shop sang.",
                           names=["Grace Kim"], submitted_at=now - timedelta(days=2)),
        "quote": make_quote(priya, status=S.SUBMITTED, text="You made my week!",
                            submitted_at=now - timedelta(days=2) + timedelta(hours=1)),
        "rough": make_story(lucas, status=S.SUBMITTED, title="Draft idea",
                            body="Not quite a story yet, but something happened in store.",
                            submitted_at=now - timedelta(days=1)),
        "dup": make_quote(lucas, status=S.SUBMITTED, text="Great service as always.",
                          submitted_at=now - timedelta(hours=5)),
        "fix": make_story(priya, status=S.SUBMITTED, title="The forgotten umbrella",
                          body="Amina ran after a customer in the rain to return her umbrella.",
                          submitted_at=now - timedelta(hours=2)),
    }
    db.session.commit()
    return items


def _edit_form(story, **changes) -> dict:
    """What the editor's edit page posts: every field as it shows the stored story."""
    _db.session.refresh(story)
    data = {
        "version": story.version, "title": story.title, "body": story.body_md,
        "colleagues": ", ".join(r.user.email for r in story.recognitions if r.user),
        "colleague_names": "\n".join(r.name for r in story.recognitions if r.name),
        "team": str(story.team_id or ""), "touchpoint": str(story.touchpoint_id or ""),
        "tags": ", ".join(t.name for t in story.tags),
        "customer_name": story.customer_name or "",
        "customer_organization": story.customer_organization or "",
        "customer_segment": story.customer_segment or "",
        "cover_image_alt": story.cover_image_alt or "",
    }
    if story.customer_consent:
        data["customer_consent"] = "y"
    return {**data, **changes}


def test_from_the_queue_to_a_test_sent_edition(app, db, smtp_server, login_as, make_user,
                                              week):
    configure_app_for(app, smtp_server)
    dana = make_user(Role.EDITOR, display_name="Dana Whitfield", email="dana@example.com")
    db.session.commit()
    client = login_as(dana)
    call, cake, quote, rough, dup, fix = (week[k] for k in
                                           ("call", "cake", "quote", "rough", "dup", "fix"))

    # The queue: everything waiting, oldest first, with the count in the navigation.
    page = client.get("/review").get_data(as_text=True)
    assert "6 items waiting" in page
    assert '<span class="count-badge">6<' in page
    positions = [page.index(t) for t in ("A late-night call", "Birthday cake", "You made my week",
                                         "Draft idea", "Great service", "forgotten umbrella")]
    assert positions == sorted(positions)

    # Approve one from its review page: the author's email arrives.
    review = client.get(f"/review/story/{call.id}").get_data(as_text=True)
    assert "As it will appear in the newsletter" in review and "Celebrating" in review
    assert client.post(f"/review/story/{call.id}/approve", data={"version": 1}).status_code == 302
    assert any("was approved" in s for s in _subjects(smtp_server))
    assert _to(smtp_server, "priya@example.com")

    # Request changes (with a note) and reject (with a reason): both reach the author.
    client.post(f"/review/story/{rough.id}/request-changes",
                data={"version": 1, "note": "Tell us what the colleague did, step by step."})
    client.post(f"/review/quote/{dup.id}/reject",
                data={"version": 1, "reason": "We featured this customer last week."})
    lucas_mail = [_text(m) for m in _to(smtp_server, "lucas@example.com")]
    assert any("step by step" in body for body in lucas_mail)
    assert any("featured this customer last week" in body for body in lucas_mail)

    # Bulk approve the rest of the queue.
    response = client.post("/review/bulk-approve", data={"items": [
        f"story:{cake.id}:1", f"quote:{quote.id}:1", f"story:{fix.id}:1"]},
        follow_redirects=True)
    assert "Approved 3 of 3 selected items" in response.get_data(as_text=True)
    assert "All caught up" in client.get("/review").get_data(as_text=True)

    # Edit an approved story: kept as a revision with a readable diff on its page.
    client.post(f"/review/story/{call.id}/edit", data=_edit_form(
        call, title="The late-night call that saved a holiday",
        body=call.body_md.replace("delighted", "overjoyed"), tags="travel"))
    history = client.get(f"/review/story/{call.id}").get_data(as_text=True)
    assert "[removed: </span>delighted" in history and "[added: </span>overjoyed" in history

    # The upcoming edition: approval order, then arranged by the editor.
    edition = db.session.scalar(db.select(Edition).where(Edition.status == E.DRAFT))
    page = client.get("/editions/upcoming").get_data(as_text=True)
    assert [page.index(t) for t in ("The late-night call that saved", "Birthday cake",
                                    "You made my week", "forgotten umbrella")] == sorted(
        page.index(t) for t in ("The late-night call that saved", "Birthday cake",
                                "You made my week", "forgotten umbrella"))
    assert 'data-count="stories">3<' in page and 'data-count="colleagues">2<' in page
    entries = {e.content: e.id for e in edition.items}
    # Drag and drop (the script's JSON), then a keyboard "Up", then pin the umbrella story.
    order = [entries[quote], entries[call], entries[cake], entries[fix]]
    reply = client.post(f"/editions/upcoming/{edition.id}/reorder",
                        json={"version": _version(edition.id), "order": order})
    assert reply.status_code == 200 and reply.json["order"] == order
    client.post(f"/editions/upcoming/{edition.id}/items/{entries[cake]}/move",
                data={"version": _version(edition.id), "direction": "up"})
    client.post(f"/editions/upcoming/{edition.id}/items/{entries[fix]}/pin",
                data={"version": _version(edition.id), "pinned": "1"})
    db.session.expire_all()
    assert [e.content for e in ordered_items(edition)] == [fix, quote, cake, call]
    # Remove one (held in the pool), then add it back at the end.
    client.post(f"/editions/upcoming/{edition.id}/items/{entries[quote]}/remove",
                data={"version": _version(edition.id)})
    assert "Held back" in client.get("/editions/upcoming").get_data(as_text=True)
    client.post(f"/editions/upcoming/{edition.id}/add",
                data={"version": _version(edition.id), "item": f"quote:{quote.id}"})
    db.session.expire_all()
    assert [e.content for e in ordered_items(edition)] == [fix, cake, call, quote]

    # Subject and intro.
    client.post(f"/editions/upcoming/{edition.id}/content", data={
        "version": _version(edition.id), "subject": "Umbrellas, cake and a late-night call",
        "intro_md": "Three stories that made our **week**."})

    # Preview: the web page, the email in its sandbox and the plain text.
    preview = client.get("/editions/upcoming/preview").get_data(as_text=True)
    assert "Feel Good Fridays #1: Umbrellas, cake and a late-night call" in preview
    assert preview.index("The forgotten umbrella") < preview.index("Birthday cake")
    frame = client.get(f"/editions/upcoming/{edition.id}/preview/email")
    assert "default-src 'none'" in frame.headers["Content-Security-Policy"]
    assert "The forgotten umbrella" in frame.get_data(as_text=True)

    # Send me a test: the real email, to the editor only, "[TEST]" in the subject.
    before = len(smtp_server.messages)
    page = client.post(f"/editions/upcoming/{edition.id}/test",
                       data={"version": _version(edition.id)},
                       follow_redirects=True).get_data(as_text=True)
    assert "Test sent to dana@example.com" in page
    test_mails = smtp_server.messages[before:]
    assert len(test_mails) == 1
    test = test_mails[0]
    assert test.rcpt_tos == ["dana@example.com"]
    assert test.message["Subject"] == (
        "[TEST] Feel Good Fridays #1: Umbrellas, cake and a late-night call")
    text = _text(test)
    assert text.index("The forgotten umbrella") < text.index("Birthday cake") < text.index(
        "The late-night call that saved a holiday")
    assert test.message.get_body(("html",)) is not None

    # Every step left an audit event.
    actions = set(db.session.scalars(db.select(AuditEvent.action)))
    assert {"story.approve", "story.request_changes", "quote.reject", "story.editor_edit",
            "edition.reorder", "edition.move_item", "edition.pin", "edition.update",
            "quote.remove_from_edition", "quote.add_to_edition",
            "edition.test_send"} <= actions


def test_skip_then_send_now_and_the_author_learns_what_changed(app, db, smtp_server, login_as,
                                                               make_user, week):
    from app.newsletter import jobs

    configure_app_for(app, smtp_server)
    dana = make_user(Role.EDITOR, display_name="Dana Whitfield", email="dana@example.com")
    db.session.commit()
    client = login_as(dana)
    call, cake = week["call"], week["cake"]
    client.post("/review/bulk-approve", data={"items": [f"story:{call.id}:1",
                                                        f"story:{cake.id}:1"]})
    client.post(f"/review/story/{call.id}/edit", data=_edit_form(
        call, title="A late-night call that saved a holiday", tags="travel"))
    first = db.session.scalar(db.select(Edition).where(Edition.status == E.DRAFT))

    # Override this edition's time, then skip the week: the items roll over in order.
    day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    client.post(f"/editions/upcoming/{first.id}/schedule", data={
        "version": _version(first.id), "day": day, "clock": "10:15", "zone": "org",
        "action": "override"})
    assert "its own time" in client.get("/editions/upcoming").get_data(as_text=True)
    assert "Skip edition #1?" in client.get(f"/editions/upcoming/{first.id}/skip").get_data(
        as_text=True)
    client.post(f"/editions/upcoming/{first.id}/skip", data={"version": _version(first.id)})
    db.session.expire_all()
    second = db.session.scalar(db.select(Edition).where(Edition.status == E.DRAFT))
    assert first.status == E.SKIPPED and second.number == 2
    assert [e.content for e in ordered_items(second)] == [call, cake]

    # Send now, after the confirmation page.
    confirm = client.get(f"/editions/upcoming/{second.id}/send").get_data(as_text=True)
    assert "Send edition #2 now?" in confirm
    client.post(f"/editions/upcoming/{second.id}/send", data={"version": _version(second.id)})
    db.session.expire_all()
    assert second.status == E.SCHEDULED

    # The newsletter's scheduler sends it; the author hears what the editor changed.
    jobs.tick(datetime.now(UTC) + timedelta(seconds=5))
    db.session.commit()
    db.session.expire_all()
    assert second.status == E.SENT
    assert db.session.get(Story, call.id).status == S.PUBLISHED
    newsletter = [m for m in smtp_server.messages
                  if m.message["Subject"].startswith("Feel Good Fridays #2")]
    assert newsletter, _subjects(smtp_server)
    published = [m for m in _to(smtp_server, "priya@example.com")
                 if re.search(r"Feel Good Fridays #2", m.message["Subject"] or "")
                 and "newsletter" not in (m.message.get("List-Id") or "")]
    bodies = "\n".join(_text(m) for m in published)
    assert "What the editor changed" in bodies
    assert "“A late-night call” became “A late-night call that saved a holiday”" in bodies
