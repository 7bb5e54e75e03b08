"""Sharing stories and quotes through the Flask client: the "Done when" flow, validation that
keeps what people typed, the draft / submit / edit / withdraw workflow, authorization,
"My submissions", and the JSON helpers behind the live preview and the colleague picker."""

from __future__ import annotations

from datetime import date
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from app.errors import Conflict
from app.errors import IllegalTransition
from app.errors import PermissionDenied
from app.extensions import db
from app.models import AuditEvent
from app.models import EditionStatus
from app.models import Quote
from app.models import Revision
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Touchpoint
from app.submissions import rules
from app.submissions import services
from app.submissions.rules import InvalidInput
from app.submissions.rules import QuoteInput
from app.submissions.rules import StoryInput
from tests.factories import DEFAULT_PASSWORD
from tests.factories import make_tag
from tests.querycount import count_queries

S = SubmissionStatus


def story_errors(data, author, story=None) -> dict[str, str]:
    """Every content rule `data` breaks (app.submissions.rules), by form field."""
    return rules.check_story(data, author, story).errors


def quote_errors(data, author, quote=None) -> dict[str, str]:
    return rules.check_quote(data, author, quote).errors


BODY = "Mara noticed the customer's order was stuck and fixed it before he even called."


# -- helpers shared by the other test_submissions*/test_xss files ----------------------------------


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None]):
        self.tag = tag
        self.attrs = attrs
        self.text = ""


class Page(HTMLParser):
    """A flat list of elements with their attributes, plus textarea/option text, from HTML."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.text_parts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag in ("textarea", "option", "title", "script", "style", "h1", "h2", "strong", "p"):
            self._open.append(element)

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        self.text_parts.append(data)
        for element in self._open:
            element.text += data

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def by_id(self, element_id: str) -> Element:
        return next(e for e in self.elements if e.attrs.get("id") == element_id)

    def value(self, element_id: str) -> str:
        element = self.by_id(element_id)
        if element.tag == "textarea":
            # Browsers drop one newline right after <textarea> (WTForms writes one).
            text = element.text
            return text[2:] if text.startswith("\r\n") else text.removeprefix("\n")
        return element.attrs.get("value") or ""

    def checked(self, element_id: str) -> bool:
        return "checked" in self.by_id(element_id).attrs

    def selected(self, element_id: str) -> str | None:
        """Value of the selected <option> of the select with `element_id`."""
        elements = self.elements
        start = elements.index(self.by_id(element_id))
        for element in elements[start + 1 :]:
            if element.tag != "option":
                break
            if "selected" in element.attrs:
                return element.attrs.get("value")
        return None


def story_form(**overrides) -> dict:
    data = {
        "title": "The stuck order that wasn't",
        "body": BODY,
        "colleagues": "",
        "colleague_names": "",
        "tags": "",
        "customer_segment": "retail banking",
        "action": "draft",
    }
    data.update(overrides)
    return data


def quote_form(**overrides) -> dict:
    data = {
        "text": "You fixed it before I even noticed. Thank you!",
        "source": "survey",
        "nps_score": "",
        "received_on": (date.today() - timedelta(days=1)).isoformat(),
        "action": "draft",
    }
    data.update(overrides)
    return data


def story_input(**overrides) -> StoryInput:
    values = {"title": "A title", "body_md": BODY}
    values.update(overrides)
    return StoryInput(**values)


def quote_input(**overrides) -> QuoteInput:
    values = {
        "text": "Brilliant people.",
        "source": "email",
        "received_on": date.today() - timedelta(days=2),
    }
    values.update(overrides)
    return QuoteInput(**values)


def latest(model):
    return db.session.scalars(sa.select(model).order_by(model.id.desc())).first()


# -- the "Done when" flow --------------------------------------------------------------------------


def test_share_preview_draft_submit_quote_and_see_both(app, client, make_user, make_team):
    team = make_team("Contact Centre")
    author = make_user(display_name="Priya Raman", email="priya@example.com", team=team)
    make_user(display_name="Noah Levi", email="noah@example.com")
    db.session.commit()

    # Sign in through the real login form.
    response = client.post(
        "/login", data={"email": "priya@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302

    page = Page(client.get("/stories/new").get_data(as_text=True))
    assert page.selected("team") == str(team.id)  # defaults to the author's team
    assert "What makes a story shine" in page.text

    form = story_form(
        title="A late-night call that saved a holiday",
        body="Noah stayed on the line **until she boarded**.\n\n- verified\n- unblocked",
        colleagues="noah@example.com",
        colleague_names="Sam from the airline desk",
        tags="Going the extra mile, travel",
        touchpoint=str(
            db.session.scalar(sa.select(Touchpoint.id).where(Touchpoint.slug == "phone"))
        ),
        team=str(team.id),
    )

    # Preview: re-rendered with the server's HTML, nothing saved, everything kept.
    response = client.post("/stories/new", data={**form, "action": "preview"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<strong>until she boarded</strong>" in html
    assert "<li>verified</li>" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Story)) == 0
    page = Page(html)
    assert page.value("title") == form["title"]
    assert page.value("colleague_names") == "Sam from the airline desk"

    # Save as a draft.
    response = client.post("/stories/new", data={**form, "action": "draft"})
    assert response.status_code == 302
    story = latest(Story)
    assert response.headers["Location"].endswith(f"/my/stories/{story.id}")
    assert story.status == S.DRAFT
    names = [r.display_name for r in story.recognitions]
    assert names == ["Noah Levi", "Sam from the airline desk"]
    assert [r.user_id is not None for r in story.recognitions] == [True, False]
    assert [t.name for t in story.tags] == ["going the extra mile", "travel"]
    assert "<strong>until she boarded</strong>" in story.body_html

    page = Page(client.get(f"/my/stories/{story.id}").get_data(as_text=True))
    assert "Only you can see this draft" in page.text
    assert "Noah Levi" in page.text and "Sam from the airline desk" in page.text
    assert "For a customer in retail banking" in page.text

    # Submit it from the edit form.
    edit = Page(client.get(f"/stories/{story.id}/edit").get_data(as_text=True))
    assert edit.value("colleagues") == "noah@example.com"
    response = client.post(
        f"/stories/{story.id}/edit",
        data={**form, "action": "submit", "version": edit.value("version")},
    )
    assert response.status_code == 302
    db.session.refresh(story)
    assert story.status == S.SUBMITTED and story.submitted_at is not None

    # Share a quote with an NPS score, straight into review.
    response = client.post(
        "/quotes/new", data=quote_form(nps_score="9", action="submit", story_id=str(story.id))
    )
    assert response.status_code == 302
    quote = latest(Quote)
    assert (quote.status, quote.nps_score, quote.story_id) == (S.SUBMITTED, 9, story.id)

    # Both on "My submissions", with their status.
    page = Page(client.get("/my/submissions").get_data(as_text=True))
    assert "A late-night call that saved a holiday" in page.text
    assert "You fixed it before I even noticed" in page.text
    assert page.text.count("Submitted") >= 2
    assert "NPS 9" in page.text

    actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    # Submitted from the form unchanged: not an edit (editors read the history).
    assert actions == ["story.create", "story.submit", "quote.create", "quote.submit"]
    assert author.id == story.author_id == quote.author_id


def test_navigation_offers_sharing_and_my_submissions(employee_client):
    html = employee_client.get("/my/submissions").get_data(as_text=True)
    assert 'href="/stories/new"' in html
    assert 'href="/quotes/new"' in html
    assert 'href="/my/submissions"' in html


# -- validation ------------------------------------------------------------------------------------


def test_validation_errors_keep_everything_typed(employee_client, make_user):
    make_user(email="cara@example.com")
    db.session.commit()
    form = story_form(
        title="Hi",
        body="Too short",
        colleagues="cara@example.com, ghost@example.com",
        colleague_names="Bob Builder\nAnna",
        tags=", ".join(f"tag{i}" for i in range(11)),
        customer_name="Hannah",
        customer_organization="Big Bank",
        customer_consent="y",
        customer_segment="retail banking",
    )
    response = employee_client.post("/stories/new", data=form)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = Page(html)
    assert "Give your story a title of at least 3 characters." in page.text
    assert "the story needs at least 20 characters" in page.text
    assert "We couldn't find an account for ghost@example.com" in page.text
    assert "Add at most 10 tags (you added 11)." in page.text
    for field in ("title", "colleagues", "tags", "customer_name", "customer_organization"):
        assert page.value(field) == form[field], field
    assert page.value("body") == "Too short"
    assert page.value("colleague_names") == "Bob Builder\nAnna"
    assert page.checked("customer_consent")
    assert 'aria-invalid="true"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Story)) == 0


def test_quote_validation_errors_keep_everything_typed(employee_client):
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    form = quote_form(
        text="Hey", received_on=tomorrow, customer_name="Ann", customer_role="CFO", source=""
    )
    response = employee_client.post("/quotes/new", data=form)
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "The quote needs at least 5 characters." in page.text
    assert "The date can't be in the future." in page.text
    assert "Choose where the quote came from." in page.text
    assert page.value("text") == "Hey"
    assert page.value("received_on") == tomorrow
    assert page.value("customer_role") == "CFO"


def test_bad_date_and_nps_are_explained(employee_client):
    response = employee_client.post(
        "/quotes/new", data=quote_form(received_on="31/02/2024", nps_score="11")
    )
    text = Page(response.get_data(as_text=True)).text
    assert "Enter the date as day, month and year." in text
    assert response.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Quote)) == 0


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("title", "abc", True),
        ("title", "ab", False),
        ("title", "x" * 150, True),
        ("title", "x" * 151, False),
        ("title", "   ab   ", False),
        ("body_md", "x" * 20, True),
        ("body_md", "x" * 19, False),
        ("body_md", "x" * 20_000, True),
        ("body_md", "x" * 20_001, False),
        ("body_md", " " * 30 + "x" * 19, False),
    ],
)
def test_story_length_limits(employee, field, value, ok):
    errors = story_errors(story_input(**{field: value}), employee)
    assert (errors == {}) is ok, errors


@pytest.mark.parametrize(
    ("text", "ok"), [("abcde", True), ("abcd", False), ("x" * 2000, True), ("x" * 2001, False)]
)
def test_quote_length_limits(employee, text, ok):
    assert (quote_errors(quote_input(text=text), employee) == {}) is ok


@pytest.mark.parametrize("score", [None, 0, 10])
def test_nps_range_accepted(employee, score):
    assert quote_errors(quote_input(nps_score=score), employee) == {}


@pytest.mark.parametrize("score", [-1, 11, True])
def test_nps_range_refused(employee, score):
    assert "nps_score" in quote_errors(quote_input(nps_score=score), employee)


def test_received_today_is_fine_tomorrow_is_not(employee):
    today = rules.latest_today(employee)
    assert quote_errors(quote_input(received_on=today), employee) == {}
    errors = quote_errors(quote_input(received_on=today + timedelta(days=1)), employee)
    assert errors == {"received_on": "The date can't be in the future."}


def test_at_most_ten_colleagues_and_tags(employee, make_user):
    users = [make_user() for _ in range(6)]
    names = [f"Person {i}" for i in range(5)]
    data = story_input(colleague_ids=[u.id for u in users], colleague_names=names)
    assert "up to 10 colleagues" in story_errors(data, employee)["colleagues"]
    data = story_input(colleague_ids=[u.id for u in users], colleague_names=names[:4])
    assert story_errors(data, employee) == {}
    data = story_input(tags=[f"t{i}" for i in range(10)] + ["T1", " #t2 "])  # duplicates fold
    assert story_errors(data, employee) == {}
    assert "tags" in story_errors(story_input(tags=[f"t{i}" for i in range(11)]), employee)


@pytest.mark.parametrize(
    ("tag", "problem"),
    [("a/b", "slashes"), ("???", "letter or number"), ("x" * 41, "at most 40")],
)
def test_bad_tags_are_explained(employee, tag, problem):
    assert problem in story_errors(story_input(tags=[tag]), employee)["tags"]


def test_inactive_colleague_cannot_be_added_but_can_stay(employee, make_user):
    gone = make_user(active=False)
    assert "colleagues" in story_errors(story_input(colleague_ids=[gone.id]), employee)
    story = services.create_story(employee, story_input(), submit=False)
    story.recognitions[:] = []
    from app.models import Recognition

    story.recognitions.append(Recognition(user=gone, position=0))
    db.session.flush()
    data = story_input(colleague_ids=[gone.id])
    assert story_errors(data, employee, story) == {}


def test_service_raises_all_errors_at_once(employee):
    with pytest.raises(InvalidInput) as caught:
        services.create_story(employee, story_input(title="", body_md=""), submit=False)
    assert set(caught.value.errors) == {"title", "body"}


def test_cover_picture_needs_a_description(employee, app):
    from app.submissions.uploads import NAME_RE

    assert NAME_RE.pattern  # the name check itself is covered in test_submissions_uploads
    errors = story_errors(story_input(cover_image="nope.png"), employee)
    assert "no longer available" in errors["cover_image"]


# -- tags, colleagues, text hygiene ----------------------------------------------------------------


def test_tags_reuse_existing_and_create_new_lowercased(employee):
    existing = make_tag("loyalty")
    story = services.create_story(
        employee, story_input(tags=["Loyalty", "  #Above and  Beyond "]), submit=False
    )
    assert sorted(t.name for t in story.tags) == ["above and beyond", "loyalty"]
    assert existing in story.tags
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tag)) == 2


def test_recognitions_can_be_reordered_and_replaced(employee, make_user):
    a, b, c = make_user(), make_user(), make_user()
    story = services.create_story(
        employee, story_input(colleague_ids=[a.id, b.id], colleague_names=["Zed"]), submit=False
    )
    db.session.commit()
    services.update_story(
        story,
        employee,
        story_input(colleague_ids=[b.id, c.id, a.id], colleague_names=["Zed", "Yu"]),
        expected_version=story.version,
        submit=False,
    )
    db.session.commit()
    db.session.expire_all()
    assert [r.display_name for r in story.recognitions] == [
        b.display_name,
        c.display_name,
        a.display_name,
        "Zed",
        "Yu",
    ]


def test_control_characters_and_line_breaks_are_cleaned(employee):
    story = services.create_story(
        employee,
        story_input(
            title="Line\none\x00\ttwo", body_md="\n\nBody\x00 text\r\nwith CRLF lines   \n"
        ),
        submit=False,
    )
    assert story.title == "Line one two"
    assert story.body_md == "Body text\nwith CRLF lines"


def test_customer_is_anonymous_without_consent(employee_client, employee):
    data = story_form(customer_name="Hannah Smith", customer_organization="Big Bank")
    employee_client.post("/stories/new", data=data)
    story = latest(Story)
    html = employee_client.get(f"/my/stories/{story.id}").get_data(as_text=True)
    assert "For a customer in retail banking" in html
    assert "Hannah Smith" not in Page(html).text.replace("\n", " ").split("How it will look")[1]

    version = story.version
    employee_client.post(
        f"/stories/{story.id}/edit",
        data={**data, "customer_consent": "y", "version": str(version)},
    )
    html = employee_client.get(f"/my/stories/{story.id}").get_data(as_text=True)
    assert "For Hannah Smith, Big Bank" in html


# -- workflow --------------------------------------------------------------------------------------


def test_editing_a_submitted_story_keeps_it_in_review(employee_client, employee, make_story):
    story = make_story(employee, status=S.SUBMITTED)
    db.session.commit()
    page = Page(employee_client.get(f"/stories/{story.id}/edit").get_data(as_text=True))
    assert "Save changes" in page.text and "Save draft" not in page.text
    response = employee_client.post(
        f"/stories/{story.id}/edit",
        data=story_form(title="Better title", action="submit", version=page.value("version")),
    )
    assert response.status_code == 302
    db.session.refresh(story)
    assert (story.status, story.title) == (S.SUBMITTED, "Better title")


def test_changes_requested_can_be_saved_then_resubmitted(employee_client, employee, make_story):
    story = make_story(employee, status=S.CHANGES_REQUESTED, editor_note="Add the customer's words")
    db.session.commit()
    html = employee_client.get(f"/stories/{story.id}/edit").get_data(as_text=True)
    assert "Add the customer&#39;s words" in html and "Resubmit for review" in html
    employee_client.post(
        f"/stories/{story.id}/edit", data=story_form(version=str(story.version))
    )
    db.session.refresh(story)
    assert story.status == S.CHANGES_REQUESTED
    employee_client.post(
        f"/stories/{story.id}/edit", data=story_form(action="submit", version=str(story.version))
    )
    db.session.refresh(story)
    assert story.status == S.SUBMITTED and story.editor_note is None
    assert (
        db.session.scalar(sa.select(AuditEvent.action).order_by(AuditEvent.id.desc()))
        == "story.resubmit"
    )


def test_submitting_records_a_revision_for_editors(employee):
    story = services.create_story(employee, story_input(), submit=False)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Revision)) == 0
    services.update_story(
        story, employee, story_input(title="Now in review"), expected_version=story.version,
        submit=True,
    )
    revision = latest(Revision)
    assert (revision.object_type, revision.object_id, revision.number) == ("story", story.id, 1)
    assert revision.data["title"] == "Now in review" and revision.author_notified


@pytest.mark.parametrize("status", [S.APPROVED, S.REJECTED, S.PUBLISHED, S.WITHDRAWN])
def test_decided_items_are_not_editable(employee_client, employee, make_story, status):
    story = make_story(employee, status=status)
    db.session.commit()
    response = employee_client.get(f"/stories/{story.id}/edit")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/my/stories/{story.id}")
    with pytest.raises(IllegalTransition):
        services.update_story(
            story, employee, story_input(), expected_version=story.version, submit=False
        )


def test_stale_version_is_a_conflict_and_the_form_keeps_the_text(
    employee_client, employee, make_story
):
    story = make_story(employee)
    db.session.commit()
    old = story.version
    services.update_story(story, employee, story_input(title="From tab one"),
                          expected_version=old, submit=False)
    db.session.commit()
    response = employee_client.post(
        f"/stories/{story.id}/edit",
        data=story_form(title="From tab two", version=str(old)),
    )
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "was changed somewhere else" in page.text
    assert page.value("title") == "From tab two"
    db.session.refresh(story)
    assert story.title == "From tab one"
    with pytest.raises(Conflict):
        services.update_story(story, employee, story_input(), expected_version=old, submit=False)


def test_withdraw_confirm_then_post(employee_client, employee, make_quote):
    quote = make_quote(employee, status=S.SUBMITTED)
    db.session.commit()
    page = employee_client.get(f"/quotes/{quote.id}/withdraw").get_data(as_text=True)
    assert "Withdraw your quote?" in page
    response = employee_client.post(f"/quotes/{quote.id}/withdraw")
    assert response.status_code == 302 and response.headers["Location"].endswith("/my/submissions")
    db.session.refresh(quote)
    assert quote.status == S.WITHDRAWN
    # Nothing more to withdraw or edit.
    assert employee_client.post(f"/quotes/{quote.id}/withdraw").status_code == 302
    assert employee_client.get(f"/quotes/{quote.id}/edit").status_code == 302


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_withdraw_needs_the_csrf_token(employee_client, employee, make_story):
    story = make_story(employee)
    db.session.commit()
    response = employee_client.post(f"/stories/{story.id}/withdraw")
    assert response.status_code == 400
    db.session.refresh(story)
    assert story.status == S.DRAFT


def test_quote_edit_round_trip(employee_client, employee, make_story):
    own = make_story(employee)
    db.session.commit()
    employee_client.post("/quotes/new", data=quote_form(
        customer_name="Ann", customer_role="CFO", customer_organization="Acme",
        customer_consent="y", nps_score="0", story_id=str(own.id),
    ))
    quote = latest(Quote)
    page = Page(employee_client.get(f"/quotes/{quote.id}/edit").get_data(as_text=True))
    assert page.value("customer_role") == "CFO"
    assert page.selected("nps_score") == "0"
    assert page.selected("story_id") == str(own.id)
    assert page.checked("customer_consent") and not page.checked("anonymous")
    response = employee_client.post(
        f"/quotes/{quote.id}/edit",
        data=quote_form(anonymous="y", nps_score="", version=page.value("version")),
    )
    assert response.status_code == 302
    db.session.refresh(quote)
    assert quote.anonymous and quote.nps_score is None and quote.story_id is None
    detail = employee_client.get(f"/my/quotes/{quote.id}").get_data(as_text=True)
    assert "A customer (Survey / NPS)" in detail


def test_a_quote_links_own_or_published_stories_only(employee, make_story, make_user):
    other = make_user()
    theirs = make_story(other, status=S.SUBMITTED)
    published = make_story(other, status=S.PUBLISHED)
    assert "story_id" in quote_errors(quote_input(story_id=theirs.id), employee)
    assert quote_errors(quote_input(story_id=published.id), employee) == {}


# -- authorization ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED])
def test_another_employee_cannot_edit_or_withdraw_by_id(
    login_as, make_user, make_story, make_quote, status
):
    author, intruder = make_user(), make_user()
    story = make_story(author, status=status, title="Mine")
    quote = make_quote(author, status=status)
    db.session.commit()
    client = login_as(intruder)
    for url in (
        f"/stories/{story.id}/edit",
        f"/stories/{story.id}/withdraw",
        f"/quotes/{quote.id}/edit",
        f"/quotes/{quote.id}/withdraw",
    ):
        assert client.get(url).status_code == 403, url
        response = client.post(url, data=story_form(title="Hijacked", action="submit"))
        assert response.status_code == 403, url
    db.session.refresh(story)
    assert (story.title, story.status) == ("Mine", status)
    with pytest.raises(PermissionDenied):
        services.update_story(story, intruder, story_input(), expected_version=story.version,
                              submit=False)
    with pytest.raises(PermissionDenied):
        services.withdraw(quote, intruder)


def test_editors_cannot_edit_through_the_author_form(login_as, editor, make_story):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    assert login_as(editor).get(f"/stories/{story.id}/edit").status_code == 403


def test_drafts_are_visible_to_their_author_only(login_as, make_user, make_story, make_quote,
                                                 editor, admin):
    author, colleague = make_user(), make_user()
    draft = make_story(author, status=S.DRAFT)
    draft_quote = make_quote(author, status=S.DRAFT)
    withdrawn_draft = make_story(author, status=S.WITHDRAWN)
    withdrawn_draft.submitted_at = None  # withdrawn while still a draft
    submitted = make_story(author, status=S.SUBMITTED)
    db.session.commit()
    assert login_as(author).get(f"/my/stories/{draft.id}").status_code == 200
    for viewer in (colleague, editor, admin):
        client = login_as(viewer)
        assert client.get(f"/my/stories/{draft.id}").status_code == 404
        assert client.get(f"/my/quotes/{draft_quote.id}").status_code == 404
        assert client.get(f"/my/stories/{withdrawn_draft.id}").status_code == 404
    assert login_as(colleague).get(f"/my/stories/{submitted.id}").status_code == 404
    page = login_as(editor).get(f"/my/stories/{submitted.id}").get_data(as_text=True)
    assert "Story by" in page and "Edit story" not in page
    assert login_as(author).get("/my/stories/999999").status_code == 404


def test_my_submissions_lists_only_my_items(login_as, make_user, make_story):
    me, other = make_user(), make_user()
    make_story(me, title="My own story")
    make_story(other, title="Someone else's story", status=S.SUBMITTED)
    db.session.commit()
    text = Page(login_as(me).get("/my/submissions").get_data(as_text=True)).text
    assert "My own story" in text and "Someone else" not in text


def test_anonymous_visitors_are_sent_to_login(client, make_story):
    story = make_story()
    db.session.commit()
    for url in ("/stories/new", f"/my/stories/{story.id}", "/my/submissions", "/quotes/new"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- My submissions --------------------------------------------------------------------------------


def test_feedback_status_and_edition_on_my_submissions(
    app, employee_client, employee, make_story, make_quote, make_edition
):
    make_story(employee, title="Needs work", status=S.CHANGES_REQUESTED,
               editor_note="Could you add\nwhat the customer said?")
    make_quote(employee, status=S.REJECTED, editor_note="We can't use this one: no consent.")
    published = make_story(employee, title="In the newsletter", status=S.PUBLISHED)
    approved = make_story(employee, title="Waiting for Friday", status=S.APPROVED)
    make_story(employee, title="A plain draft")
    make_edition(number=7, status=EditionStatus.SENT, items=[published])
    make_edition(number=8, status=EditionStatus.DRAFT, items=[approved])
    db.session.commit()

    html = employee_client.get("/my/submissions").get_data(as_text=True)
    page = Page(html)
    assert "Could you add" in page.text and "what the customer said?" in page.text
    assert "We can't use this one: no consent." in page.text
    assert "Appeared in" in page.text and "edition #7" in page.text
    assert "Lined up for" in page.text and "edition #8" in page.text
    for label in ("Changes requested", "Rejected", "Published", "Approved", "Draft"):
        assert label in page.text
    if "newsletter.edition" in app.view_functions:
        from flask import url_for

        with app.test_request_context():
            assert f'href="{url_for("newsletter.edition", number=7)}"' in html


def test_empty_my_submissions_invites_a_first_story(employee_client):
    text = Page(employee_client.get("/my/submissions").get_data(as_text=True)).text
    assert "Nothing shared yet" in text and "Share your first story" in text


def test_my_submissions_uses_a_constant_number_of_queries(
    employee_client, employee, make_story, make_quote, make_user, make_edition
):
    def add(n):
        for _ in range(n):
            story = make_story(employee, colleagues=[make_user()], names=["X"], tags=["t"],
                               status=S.PUBLISHED)
            make_edition(status=EditionStatus.SENT, items=[story, make_quote(employee)])
        db.session.commit()

    add(2)
    with count_queries() as few:
        assert employee_client.get("/my/submissions").status_code == 200
    add(8)
    with count_queries() as many:
        assert employee_client.get("/my/submissions").status_code == 200
    assert many.count == few.count, many.statements


def test_story_view_uses_a_constant_number_of_queries(employee_client, employee, make_story,
                                                       make_user):
    small = make_story(employee, colleagues=[make_user()], tags=["a"])
    big = make_story(employee, colleagues=[make_user() for _ in range(6)], names=["N"] * 1,
                     tags=["a", "b", "c", "d"])
    db.session.commit()
    employee_client.get("/my/submissions")  # warm up: the signed-in user is loaded once
    db.session.expire_all()
    with count_queries() as one:
        employee_client.get(f"/my/stories/{small.id}")
    db.session.expire_all()
    with count_queries() as six:
        employee_client.get(f"/my/stories/{big.id}")
    assert one.count == six.count


# -- JSON helpers ----------------------------------------------------------------------------------


def test_preview_renders_with_the_story_renderer(employee_client):
    from app.richtext import render_markdown

    markdown = "Hi **there** <script>alert(1)</script> [x](javascript:alert(1))"
    response = employee_client.post("/api/preview", json={"markdown": markdown})
    assert response.status_code == 200
    assert response.json["html"] == str(render_markdown(markdown))
    assert "<script" not in response.json["html"] and "javascript:" not in response.json["html"]


@pytest.mark.parametrize("payload", [None, {}, {"markdown": 3}, ["x"]])
def test_preview_refuses_bad_payloads(employee_client, payload):
    response = employee_client.post("/api/preview", json=payload)
    assert response.status_code == 400 and "error" in response.json


def test_preview_refuses_huge_input(employee_client):
    response = employee_client.post("/api/preview", json={"markdown": "x" * 40_001})
    assert response.status_code == 413


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_preview_needs_the_csrf_header(employee_client):
    response = employee_client.post("/api/preview", json={"markdown": "hi"})
    assert response.status_code == 400
    html = employee_client.get("/stories/new").get_data(as_text=True)
    token = next(
        e.attrs["content"] for e in Page(html).elements if e.attrs.get("name") == "csrf-token"
    )
    response = employee_client.post(
        "/api/preview", json={"markdown": "hi"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200 and response.json["html"] == "<p>hi</p>"


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_story_form_with_csrf_enabled(employee_client):
    html = employee_client.get("/stories/new").get_data(as_text=True)
    token = Page(html).value("csrf_token")
    assert employee_client.post("/stories/new", data=story_form()).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Story)) == 0
    response = employee_client.post("/stories/new", data=story_form(csrf_token=token))
    assert response.status_code == 302


def test_colleague_search(employee_client, make_user, make_team):
    team = make_team("Logistics")
    make_user(display_name="Sofia Marquez", email="sofia@example.com", team=team)
    make_user(display_name="Maria Zed", email="mz@example.com")
    make_user(display_name="Sam Okafor", email="sam@example.com")
    make_user(display_name="Sara Gone", email="sara@example.com", active=False)
    make_user(display_name="Percent 100%", email="pct@example.com")
    for i in range(12):
        make_user(display_name=f"Zed {i:02}", email=f"zed{i}@example.com")
    db.session.commit()

    def names(q):
        response = employee_client.get("/api/colleagues", query_string={"q": q})
        assert response.status_code == 200
        return [r["name"] for r in response.json["results"]]

    assert names("sa") == ["Sam Okafor"]  # Sara's account is deactivated
    assert names("mar") == ["Maria Zed", "Sofia Marquez"]  # names starting with it come first
    assert names("SOFIA@EXAMPLE") == ["Sofia Marquez"]
    assert names("%") == ["Percent 100%"]  # wildcards are literal
    assert names("_") == []
    assert names("") == []
    assert len(names("zed")) == 10
    result = employee_client.get("/api/colleagues?q=sofia").json["results"][0]
    assert result == {"id": result["id"], "name": "Sofia Marquez", "email": "sofia@example.com",
                      "team": "Logistics"}


def test_only_active_accounts_can_be_recognized_through_the_form(employee_client, make_user):
    make_user(email="gone@example.com", active=False)
    db.session.commit()
    response = employee_client.post("/stories/new", data=story_form(colleagues="gone@example.com"))
    assert response.status_code == 200
    assert "no longer have an active account" in response.get_data(as_text=True)


def test_deactivated_author_cannot_save(make_user):
    author = make_user(active=False)
    with pytest.raises(PermissionDenied):
        services.create_story(author, story_input(), submit=False)


def test_editor_role_can_share_too(login_as, make_user):
    client = login_as(make_user(Role.EDITOR))
    assert client.post("/stories/new", data=story_form(action="submit")).status_code == 302


def test_control_characters_in_lookups_are_harmless(employee_client):
    response = employee_client.get("/api/colleagues", query_string={"q": "a\x00b\x07"})
    assert response.status_code == 200 and response.json["results"] == []
    response = employee_client.post("/stories/new", data=story_form(colleagues="x\x00@y.z"))
    assert response.status_code == 200
    assert "We couldn't find an account for x@y.z" in Page(response.get_data(as_text=True)).text


@pytest.mark.parametrize("version", ["", "abc", "-1", "１"])
def test_a_missing_or_garbled_version_is_treated_as_stale(employee_client, employee, make_story,
                                                          version):
    story = make_story(employee)
    db.session.commit()
    response = employee_client.post(f"/stories/{story.id}/edit", data=story_form(version=version))
    assert response.status_code == 200
    assert "was changed somewhere else" in Page(response.get_data(as_text=True)).text
