"""The upcoming-edition pages through the Flask client: arranging (forms and the JSON the script
uses), subject and intro, schedule, skip and send-now confirmations, preview with its sandboxed
email frame, test sends, access, and a constant number of queries."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from app.editions import services
from app.models import AuditEvent
from app.models import Edition
from app.models import EditionStatus
from app.models import Role
from app.models import SubmissionStatus
from tests.querycount import count_queries

S = SubmissionStatus
E = EditionStatus


@pytest.fixture
def lined_up(db, make_user, make_story, make_quote, editor):
    """The upcoming edition with two stories and a quote, approved in that order."""
    noah = make_user(display_name="Noah Levi")
    items = [
        make_story(status=S.APPROVED, title="First story", colleagues=[noah]),
        make_quote(status=S.APPROVED, text="Lovely people."),
        make_story(status=S.APPROVED, title="Second story", names=["Ana Souza", "noah levi"]),
    ]
    edition = services.ensure_upcoming()
    db.session.commit()
    return edition, items


def _titles(page: str, *titles: str) -> list[int]:
    return [page.index(t) for t in titles]


def _entry_ids(edition) -> list[int]:
    from app.editions.queries import ordered_items

    return [e.id for e in ordered_items(edition)]


def test_upcoming_page_shows_order_counts_and_schedule(editor_client, lined_up):
    edition, _ = lined_up
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    a, b, c = _titles(page, "First story", "Lovely people.", "Second story")
    assert a < b < c
    assert 'data-count="stories">2<' in page and 'data-count="quotes">1<' in page
    # Noah as an account and as a typed name is one colleague; Ana is the second.
    assert 'data-count="colleagues">2<' in page
    assert "Fridays at 09:00" in page
    assert f"Edition #{edition.number}" in page


def test_upcoming_page_creates_the_draft_on_demand(editor_client, db):
    assert db.session.scalar(db.select(db.func.count()).select_from(Edition)) == 0
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "Nothing in this edition yet" in page
    assert db.session.scalar(db.select(Edition.number)) == 1


def test_move_up_and_down_without_javascript(editor_client, lined_up, db):
    edition, _ = lined_up
    first, second, third = _entry_ids(edition)
    response = editor_client.post(f"/editions/upcoming/{edition.id}/items/{third}/move",
                                  data={"version": edition.version, "direction": "up"})
    assert response.status_code == 302 and response.location.endswith(f"#entry-{third}")
    db.session.expire_all()
    assert _entry_ids(edition) == [first, third, second]
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert _titles(page, "First story", "Second story", "Lovely people.") == sorted(
        _titles(page, "First story", "Second story", "Lovely people."))


def test_reorder_json_for_drag_and_drop(editor_client, lined_up, db):
    edition, _ = lined_up
    first, second, third = _entry_ids(edition)
    seen = edition.version
    response = editor_client.post(f"/editions/upcoming/{edition.id}/reorder",
                                  json={"version": seen, "order": [third, first, second]})
    assert response.status_code == 200
    assert response.json["order"] == [third, first, second]
    assert response.json["version"] == seen + 1
    stale = editor_client.post(f"/editions/upcoming/{edition.id}/reorder",
                               json={"version": seen, "order": [first, second, third]},
                               headers={"Accept": "application/json"})
    assert stale.status_code == 409
    assert "was changed by Dana Editor at" in stale.json["error"]


def test_pin_remove_later_and_add_back(editor_client, lined_up, db):
    edition, (story, quote, story2) = lined_up
    first, second, third = _entry_ids(edition)

    def post(path, **data):
        db.session.expire_all()
        return editor_client.post(f"/editions/upcoming/{edition.id}{path}",
                                  data={"version": edition.version, **data},
                                  follow_redirects=True)

    assert "Featured at the top." in post(f"/items/{third}/pin", pinned="1").get_data(
        as_text=True)
    db.session.expire_all()
    assert _entry_ids(edition)[0] == third
    page = post(f"/items/{second}/remove").get_data(as_text=True)
    assert "waits in the approved pool" in page and "Held back" in page
    page = post(f"/items/{first}/later").get_data(as_text=True)
    assert "Moved “First story” to the next edition" in page and "Next edition</span>" in page
    page = post("/add", item=f"quote:{quote.id}").get_data(as_text=True)
    assert "Added “Lovely people.”" in page
    db.session.expire_all()
    assert [e.content for e in edition.items] == [story2, quote]


def test_content_form_saves_and_renders_markdown(editor_client, lined_up, db):
    edition, _ = lined_up
    response = editor_client.post(f"/editions/upcoming/{edition.id}/content", data={
        "version": edition.version, "subject": "Kindness everywhere",
        "intro_md": "Hello **everyone** <script>alert(1)</script>"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Subject and intro saved." in page
    assert "Hello <strong>everyone</strong> &lt;script&gt;" in page
    db.session.expire_all()
    assert edition.full_subject == f"Feel Good Fridays #{edition.number}: Kindness everywhere"


def test_content_conflict_keeps_the_text(app, login_as, make_user, lined_up, db):
    edition, _ = lined_up
    dana = make_user(Role.EDITOR, display_name="Dana Whitfield")
    sam = make_user(Role.EDITOR)
    db.session.commit()
    version = edition.version
    login_as(dana).post(f"/editions/upcoming/{edition.id}/content",
                        data={"version": version, "subject": "Dana's subject"})
    response = login_as(sam).post(f"/editions/upcoming/{edition.id}/content",
                                  data={"version": version, "subject": "Sam's subject"})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "was changed by Dana Whitfield at" in page and 'value="Sam&#39;s subject"' in page
    db.session.expire_all()
    assert edition.subject == "Dana's subject"


def test_schedule_override_in_the_editors_own_zone(app, login_as, make_user, lined_up, db):
    from app.settings import set_settings

    set_settings({"timezone": "Europe/Paris"}, actor=None)
    editor = make_user(Role.EDITOR, timezone="America/New_York")
    db.session.commit()
    client = login_as(editor)
    edition, _ = lined_up
    page = client.get("/editions/upcoming").get_data(as_text=True)
    assert "Europe/Paris" in page and "America/New_York" in page and "your time" in page
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    response = client.post(f"/editions/upcoming/{edition.id}/schedule", data={
        "version": edition.version, "day": day.isoformat(), "clock": "08:30", "zone": "mine",
        "action": "override"}, follow_redirects=True)
    assert "New send time saved" in response.get_data(as_text=True)
    db.session.expire_all()
    local = edition.scheduled_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert (local.date(), local.hour, local.minute) == (day, 8, 30)
    assert edition.status == E.DRAFT
    response = client.post(f"/editions/upcoming/{edition.id}/schedule", data={
        "version": edition.version, "action": "weekly"}, follow_redirects=True)
    assert "Back to the weekly schedule." in response.get_data(as_text=True)
    db.session.expire_all()
    assert edition.scheduled_at is None
    events = db.session.scalars(db.select(AuditEvent.action).where(
        AuditEvent.action == "edition.reschedule")).all()
    assert len(events) == 2


def test_schedule_refuses_the_past(editor_client, lined_up):
    edition, _ = lined_up
    page = editor_client.post(f"/editions/upcoming/{edition.id}/schedule", data={
        "version": edition.version, "day": "2020-01-03", "clock": "09:00", "zone": "org",
        "action": "override"}, follow_redirects=True).get_data(as_text=True)
    assert "at least 5 minutes from now" in page


def test_skip_needs_confirmation_and_rolls_items_over(editor_client, lined_up, db):
    edition, items = lined_up
    confirm = editor_client.get(f"/editions/upcoming/{edition.id}/skip").get_data(as_text=True)
    assert "Skip edition #1?" in confirm and "to the top of edition #2" in confirm
    assert db.session.get(Edition, edition.id).status == E.DRAFT  # the GET changed nothing
    response = editor_client.post(f"/editions/upcoming/{edition.id}/skip",
                                  data={"version": edition.version}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Edition #1 is skipped. Its items moved to edition #2" in page
    db.session.expire_all()
    assert edition.status == E.SKIPPED and edition.items == []
    assert _titles(page, "First story", "Lovely people.", "Second story") == sorted(
        _titles(page, "First story", "Lovely people.", "Second story"))


def test_send_now_needs_confirmation(app, editor_client, lined_up, db):
    edition, _ = lined_up
    confirm = editor_client.get(f"/editions/upcoming/{edition.id}/send").get_data(as_text=True)
    assert "Send edition #1 now?" in confirm and "Send to everyone now" in confirm
    db.session.expire_all()
    assert db.session.get(Edition, edition.id).status == E.DRAFT
    response = editor_client.post(f"/editions/upcoming/{edition.id}/send",
                                  data={"version": edition.version}, follow_redirects=True)
    assert "is on its way" in response.get_data(as_text=True)
    db.session.expire_all()
    assert edition.status == E.SCHEDULED
    # The next edition is now the upcoming one; the scheduled one is still listed first.
    page = editor_client.get("/editions/upcoming").get_data(as_text=True)
    assert "#1 Scheduled" in page and "#2 Draft" in page


def test_send_now_of_an_empty_edition_is_refused(editor_client, db):
    edition = services.ensure_upcoming()
    db.session.commit()
    page = editor_client.post(f"/editions/upcoming/{edition.id}/send",
                              data={"version": edition.version},
                              follow_redirects=True).get_data(as_text=True)
    assert "is empty" in page
    db.session.expire_all()
    assert edition.status == E.DRAFT


def test_preview_shows_email_text_and_web_page(editor_client, lined_up):
    edition, _ = lined_up
    page = editor_client.get("/editions/upcoming/preview")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"Feel Good Fridays #{edition.number}" in html
    assert f'src="/editions/upcoming/{edition.id}/preview/email"' in html
    assert 'sandbox=""' in html
    assert "First story" in html  # web version and plain text are on the page
    assert "%%FGF" not in html  # personalised: no markers left


def test_email_frame_has_its_own_strict_policy(editor_client, lined_up):
    edition, _ = lined_up
    response = editor_client.get(f"/editions/upcoming/{edition.id}/preview/email")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert "script-src" not in csp
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    body = response.get_data(as_text=True)
    assert "Hi Dana" in body or "Dana" in body
    assert "First story" in body and "%%FGF" not in body


def test_send_me_a_test(editor_client, lined_up, outbox, editor):
    edition, _ = lined_up
    response = editor_client.post(f"/editions/upcoming/{edition.id}/test",
                                  data={"version": edition.version}, follow_redirects=True)
    assert f"Test sent to {editor.email}" in response.get_data(as_text=True)
    assert len(outbox) == 1
    assert outbox[0]["Subject"].startswith("[TEST] Feel Good Fridays #1")
    assert outbox[0]["To"].endswith(f"<{editor.email}>") or outbox[0]["To"] == editor.email


def test_employees_are_refused_everywhere(employee_client, lined_up):
    edition, _ = lined_up
    entry = _entry_ids(edition)[0]
    for path in ("/editions/upcoming", "/editions/upcoming/preview",
                 f"/editions/upcoming/{edition.id}", f"/editions/upcoming/{edition.id}/skip",
                 f"/editions/upcoming/{edition.id}/send",
                 f"/editions/upcoming/{edition.id}/preview/email"):
        assert employee_client.get(path).status_code == 403, path
    for path in (f"/items/{entry}/move", f"/items/{entry}/pin", f"/items/{entry}/remove",
                 f"/items/{entry}/later", "/reorder", "/add", "/content", "/schedule", "/skip",
                 "/send", "/test"):
        response = employee_client.post(f"/editions/upcoming/{edition.id}{path}",
                                        data={"version": edition.version})
        assert response.status_code == 403, path


def test_closed_edition_redirects_to_the_upcoming_one(editor_client, make_edition, db):
    sent = make_edition(status=E.SENT)
    db.session.commit()
    response = editor_client.get(f"/editions/upcoming/{sent.id}", follow_redirects=True)
    assert f"Edition #{sent.number} is sent" in response.get_data(as_text=True)


def _line_up(make_user, make_story, make_quote, n: int) -> None:
    colleague = make_user()
    for i in range(n):
        author = make_user()
        if i % 3 == 2:
            make_quote(author, status=S.APPROVED)
        else:
            make_story(author, status=S.APPROVED, tags=["kindness"], colleagues=[colleague],
                       names=["A Friend"])


def test_upcoming_page_issues_a_constant_number_of_queries(
    app, db, login_as, make_user, make_story, make_quote
):
    editor = make_user(Role.EDITOR)
    _line_up(make_user, make_story, make_quote, 5)
    services.ensure_upcoming()
    # A held item and a waiting one in the pool, so the pool's queries run in both rounds.
    _line_up(make_user, make_story, make_quote, 3)
    db.session.commit()
    client = login_as(editor)
    client.get("/editions/upcoming")
    db.session.commit()
    with count_queries() as small:
        assert client.get("/editions/upcoming").status_code == 200
    edition = services.ensure_upcoming()
    for _ in range(195):
        story = make_story(make_user(), status=S.APPROVED, tags=["kindness"],
                           colleagues=[make_user()], names=["Someone"])
        services.add_approved_item(story, edition)
    _line_up(make_user, make_story, make_quote, 40)  # a bigger pool too
    db.session.commit()
    with count_queries() as large:
        page = client.get("/editions/upcoming")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('class="edition-item') >= 200
    assert large.count == small.count, (small.statements, large.statements)
