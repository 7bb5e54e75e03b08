"""The archive, an edition's page (frozen content, live progress, retry), the Atom feed and the
unsubscribe page (GET asks, POST acts; no login, no CSRF token, only a valid signed token)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.newsletter import sending
from app.newsletter.tokens import make_unsubscribe_token
from tests import factories
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of

ATOM = "{http://www.w3.org/2005/Atom}"


def sent_edition(**kwargs) -> Edition:
    """An edition sent through the real pipeline (memory backend), so its content is frozen."""
    edition = seed_edition(recipients=2, **kwargs)
    db.session.commit()
    sending.run_edition(edition.id)
    db.session.expire_all()
    return db.session.get(Edition, edition.id)


def test_archive_lists_sent_editions_newest_first_with_pages(app, employee_client):
    for number in range(1, 16):
        factories.make_edition(status=EditionStatus.SENT, number=number, subject=f"Week {number}",
                               sent_at=datetime(2026, 1, 2, tzinfo=UTC) + timedelta(weeks=number))
    factories.make_edition(status=EditionStatus.DRAFT, number=16, subject="Not yet")
    db.session.commit()

    first = employee_client.get("/editions").get_data(as_text=True)
    assert first.index("Week 15") < first.index("Week 14")
    assert "Not yet" not in first and "Week 3" not in first
    assert 'href="/editions?page=2"' in first
    second = employee_client.get("/editions?page=2").get_data(as_text=True)
    assert "Week 3" in second and "Week 15" not in second
    assert employee_client.get("/editions?page=9").status_code == 404


def test_archive_and_feed_need_a_signed_in_user(app, client):
    for url in ("/editions", "/editions/1", "/editions.atom"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_edition_page_shows_what_was_emailed_and_counts_views(app, employee_client):
    edition = sent_edition()
    story = story_of(edition)
    story.title = "Rewritten after the send"
    db.session.commit()

    page = employee_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert "A late-night call that saved a family holiday" in page
    assert "Rewritten after the send" not in page
    assert f'id="story-{story.id}"' in page and f'href="#story-{story.id}"' in page
    assert "Noah Levi and Amina Diallo" in page
    assert "Failed deliveries" not in page and "Recipients" not in page  # editors only
    employee_client.get(f"/editions/{edition.number}")
    db.session.expire_all()
    assert db.session.get(Edition, edition.id).web_views == 2


def test_unsent_editions_are_hidden_from_readers(app, employee_client, editor_client):
    edition = seed_edition(status=EditionStatus.DRAFT)
    db.session.commit()
    assert employee_client.get(f"/editions/{edition.number}").status_code == 404
    page = editor_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert "Not sent yet" in page and "Preview" in page
    assert "A late-night call" in page
    assert db.session.get(Edition, edition.id).web_views == 0


def test_editors_see_live_progress(app, editor_client, employee_client):
    factories.make_user(email="broken@localhost")
    edition = seed_edition(recipients=3)
    db.session.commit()
    assert sending.claim_edition(edition.id)
    sending.create_deliveries(edition)
    rows = db.session.scalars(sa.select(Delivery).where(Delivery.edition_id == edition.id)).all()
    rows[0].status = DeliveryStatus.SENT
    rows[1].status = DeliveryStatus.FAILED
    rows[1].last_error = "550 5.1.1 No such user"
    db.session.commit()

    page = editor_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert "data-progress-url" in page and "js/newsletter.js" in page
    assert "1 invalid address was skipped: broken@localhost." in page
    assert "550 5.1.1 No such user" in page
    data = editor_client.get(f"/editions/{edition.number}/progress").get_json()
    assert data == {"status": "sending", "total": len(rows), "sent": 1, "failed": 1,
                    "pending": len(rows) - 2, "percent": int(200 / len(rows)), "done": False}
    assert employee_client.get(f"/editions/{edition.number}/progress").status_code == 403


def test_only_admins_retry_failed_deliveries(app, editor_client, admin_client):
    edition = sent_edition()
    row = db.session.scalars(sa.select(Delivery).where(Delivery.edition_id == edition.id)).first()
    row.status, row.last_error = DeliveryStatus.FAILED, "550 no"
    db.session.commit()

    editor_page = editor_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert "Retry failed deliveries" not in editor_page
    assert editor_client.post(f"/editions/{edition.number}/retry-failed").status_code == 403
    admin_page = admin_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    assert "Retry failed deliveries" in admin_page
    response = admin_client.post(f"/editions/{edition.number}/retry-failed")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Delivery, row.id).status == DeliveryStatus.PENDING
    assert db.session.scalar(sa.select(AuditEvent.action).where(
        AuditEvent.action == "edition.retry_failed")) == "edition.retry_failed"


def test_atom_feed_is_valid(app, employee_client):
    first = sent_edition(subject="Café & <friends>")
    response = employee_client.get("/editions.atom")
    assert response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.data)
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{required}") is not None, required
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == "http://localhost/editions.atom"
    [entry] = root.findall(f"{ATOM}entry")
    assert entry.find(f"{ATOM}id").text == f"http://localhost/editions/{first.number}"
    assert entry.find(f"{ATOM}title").text == f"Feel Good Fridays #{first.number}: Café & <friends>"
    assert entry.find(f"{ATOM}updated").text.endswith("Z")
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html" and "A late-night call" in content.text


# -- unsubscribe ----------------------------------------------------------------------------------


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_unsubscribe_asks_on_get_and_acts_on_post_without_csrf(app, client, employee):
    token = make_unsubscribe_token(user_id=employee.id)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and b"Unsubscribe from Feel Good Fridays?" in page.data
    db.session.expire_all()
    assert not db.session.get(type(employee), employee.id).email_opt_out

    response = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and b"unsubscribed" in response.data
    db.session.expire_all()
    user = db.session.get(type(employee), employee.id)
    assert user.email_opt_out and user.opted_out_at is not None
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "user.email_opt_out")
    )
    assert event.details == {"via": "one_click"}
    # Again: idempotent, the first time stays on record.
    first_time = user.opted_out_at
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    db.session.expire_all()
    assert db.session.get(type(employee), employee.id).opted_out_at == first_time


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_forged_or_foreign_tokens_do_nothing(app, client, employee):
    token = make_unsubscribe_token(user_id=employee.id)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(f"/unsubscribe/{forged}").status_code == 400
    from itsdangerous import Signer

    other_purpose = Signer(app.config["SECRET_KEY"], salt="feelgood.reset").sign(
        f"u{employee.id}").decode()
    assert client.post(f"/unsubscribe/{other_purpose}").status_code == 400
    db.session.expire_all()
    assert not db.session.get(type(employee), employee.id).email_opt_out


def test_distribution_list_unsubscribe_is_recorded_not_applied(app, client):
    token = make_unsubscribe_token(user_id=None, email="all-staff@example.com")
    response = client.post(f"/unsubscribe/{token}")
    assert response.status_code == 200 and b"administrator" in response.data
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "newsletter.unsubscribe_request")
    )
    assert event.details == {"email": "all-staff@example.com"}


def test_a_storys_heading_is_named_by_its_title_alone(app, employee_client):
    """The "#" permalink sits beside the heading, not in it: a screen reader's list of
    headings reads "The title", not "The title Link to “The title”"."""
    import re

    edition = sent_edition()
    page = employee_client.get(f"/editions/{edition.number}").get_data(as_text=True)
    headings = re.findall(r'<h2 class="nl-story__title" id="([^"]+)-title">(.*?)</h2>', page,
                          re.S)
    assert headings
    for anchor, inner in headings:
        assert "<" not in inner and "Link to" not in inner  # the title's text only
        after = page[page.index(f'id="{anchor}-title"'):]
        assert re.search(rf'</h2>\s*<a class="nl-permalink" href="#{anchor}">', after)
