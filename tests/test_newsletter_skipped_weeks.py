"""A skipped week keeps its number, so the archive says so: "#8, #7 no edition this week
(skipped), #6" instead of a silent gap. Its page explains it; the Atom feed lists only what was
emailed (a feed entry is something to read)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC
from datetime import datetime

from app.editions import services
from app.editions.queries import send_times
from app.extensions import db
from app.models import EditionStatus
from tests import factories

E = EditionStatus
ATOM = "{http://www.w3.org/2005/Atom}"


def _text(response) -> str:
    """The page's text, tags removed (dates are <time> elements)."""
    return re.sub(r"<[^>]+>", "", response.get_data(as_text=True))


def _weeks() -> None:
    """#6 sent, #7 skipped in ISO week 2026-W50 (Friday 11 December), #8 sent."""
    factories.make_edition(status=E.SENT, number=6, subject="Six",
                           sent_at=datetime(2026, 12, 4, 9, tzinfo=UTC))
    factories.make_edition(status=E.SKIPPED, number=7, subject="Quiet week",
                           iso_week="2026-W50")
    factories.make_edition(status=E.SENT, number=8, subject="Eight",
                           sent_at=datetime(2026, 12, 18, 9, tzinfo=UTC))
    db.session.commit()


def test_the_archive_shows_a_skipped_week_in_its_place(app, employee_client):
    _weeks()
    page = _text(employee_client.get("/editions"))
    eight, seven, six = (page.index(t) for t in ("Edition #8 ·", "Edition #7 ·", "Edition #6 ·"))
    assert eight < seven < six
    entry = page[seven:six]
    assert "Edition #7 · Friday 11 December 2026" in entry
    assert "Edition #8 · Friday 18 December 2026" in page  # one date format for all entries
    assert "No edition this week (skipped)" in entry
    assert "Quiet week" not in entry  # the subject of what was never sent is not shown
    assert page.count("No edition this week (skipped)") == 1


def test_a_skipped_weeks_page_explains_it_to_every_reader(app, employee_client):
    _weeks()
    response = employee_client.get("/editions/7")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No edition this week (skipped)" in page and "Friday 11 December 2026" in page
    assert 'href="/editions/8" rel="next"' in page and 'href="/editions/6" rel="prev"' in page
    # The sent editions around it link to each other, as before.
    eight = employee_client.get("/editions/8").get_data(as_text=True)
    assert 'href="/editions/6" rel="prev"' in eight


def test_the_feed_lists_only_what_was_emailed(app, employee_client):
    _weeks()
    feed = ET.fromstring(employee_client.get("/editions.atom").data)
    titles = [e.findtext(f"{ATOM}title") for e in feed.iter(f"{ATOM}entry")]
    assert titles == ["Feel Good Fridays #8: Eight", "Feel Good Fridays #6: Six"]


def test_an_edition_the_editor_skips_appears_with_the_day_it_would_have_gone_out(
    app, db, editor_client, employee_client, make_story
):
    from app.models import SubmissionStatus

    make_story(status=SubmissionStatus.APPROVED, title="Rolled over")
    edition = services.ensure_upcoming()
    db.session.commit()
    planned = send_times(None)[edition.id].org_local
    response = editor_client.post(f"/editions/upcoming/{edition.id}/skip",
                                  data={"version": edition.version})
    assert response.status_code == 302
    page = _text(employee_client.get("/editions"))
    day = f"{planned:%A} {planned.day} {planned:%B %Y}"
    assert f"Edition #{edition.number} · {day}" in page
    assert "No edition this week (skipped)" in page
    # Drafts and the next edition stay out of the archive.
    assert f"Edition #{edition.number + 1}" not in page
