"""The API's write side through the real stack (token client → API views → services → database →
events and mail outbox): sharing stories and quotes, "my submissions", the review queue and the
decisions with their optimistic lock."""

from __future__ import annotations

import threading
from datetime import date
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AccessToken
from app.models import AuditEvent
from app.models import DomainEvent
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import EventDelivery
from app.models import OutboxMessage
from app.models import Quote
from app.models import Recognition
from app.models import Revision
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Touchpoint
from app.submissions.rules import org_today
from app.submissions.services import snapshot
from app.tokens.services import hash_token
from tests.querycount import count_queries

S = SubmissionStatus
BODY = "Mara noticed the customer's order was stuck and fixed it before he even called."
PROBLEM = "application/problem+json"


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def story_body(**overrides) -> dict:
    data = {"title": "The stuck order that wasn't", "body": BODY,
            "customer_segment": "retail banking"}
    data.update(overrides)
    return data


def quote_body(**overrides) -> dict:
    data = {"text": "You fixed it before I even noticed. Thank you!", "source": "survey",
            "received_on": (date.today() - timedelta(days=1)).isoformat()}
    data.update(overrides)
    return data


def pointers(response) -> list[str]:
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return sorted(e["pointer"] for e in response.get_json()["errors"])


def touchpoint_id(slug: str) -> int:
    return db.session.scalar(sa.select(Touchpoint.id).where(Touchpoint.slug == slug))


def etag_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.headers["ETag"]


# -- sharing -------------------------------------------------------------------------------------


def test_an_api_story_is_stored_exactly_like_a_web_form_story(
    app, make_user, make_team, login_as, api_as
):
    """Same content through the form and through the API: the same rows, events and emails."""
    team = make_team("Contact Centre")
    make_user(Role.EDITOR, display_name="Dana Editor", email="dana@example.com")
    noah = make_user(display_name="Noah Levi", email="noah@example.com")
    web_author = make_user(display_name="Priya Raman", team=team)
    api_author = make_user(display_name="Ravi Shah", team=team)
    db.session.commit()
    phone = touchpoint_id("phone")

    def effects(item_id: int) -> tuple[list, list]:
        """The item's domain events (payload without ids) and the subscribers they reached."""
        events = db.session.scalars(sa.select(DomainEvent).order_by(DomainEvent.id)).all()
        mine = [e for e in events if e.payload.get("item_id") == item_id]
        described = [(e.name, {k: v for k, v in e.payload.items()
                               if k not in ("item_id", "author_id")}) for e in mine]
        reached = sorted(db.session.scalars(sa.select(EventDelivery.subscriber).where(
            EventDelivery.event_id.in_([e.id for e in mine]))).all())
        return described, reached

    response = login_as(web_author).post("/stories/new", data={
        "title": "A late-night call that saved a holiday",
        "body": "Noah stayed on the line **until she boarded**.\x07",
        "colleagues": "noah@example.com", "colleague_names": "Sam from the airline desk",
        "tags": "Going the extra mile, travel", "touchpoint": str(phone), "team": str(team.id),
        "customer_segment": "retail banking", "action": "submit",
    })
    assert response.status_code == 302
    web = db.session.scalars(sa.select(Story).order_by(Story.id.desc())).first()
    mails = count(OutboxMessage)

    client = api_as(api_author, "read submit")
    response = client.post("/api/v1/stories", json={
        "title": "A late-night call that saved a holiday",
        "body": "Noah stayed on the line **until she boarded**.\x07",
        "colleague_ids": [noah.id], "colleague_names": ["Sam from the airline desk"],
        "tags": ["Going the extra mile", "travel"], "touchpoint_id": phone,
        "customer_segment": "retail banking",
    })
    assert response.status_code == 201, response.get_data(as_text=True)
    api = db.session.get(Story, response.get_json()["id"])
    assert response.headers["Location"] == f"/api/v1/submissions/stories/{api.id}"

    assert api.author_id == api_author.id and api.status == S.SUBMITTED
    assert snapshot(api) == snapshot(web)
    assert api.body_html == web.body_html and "\x07" not in api.body_md
    assert api.team_id == team.id  # omitted: the author's team, as the form defaults it
    assert count(Tag) == 2
    for item in (web, api):
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.object_id == item.id,
                                               AuditEvent.object_type == "story")
            .order_by(AuditEvent.id)).all()
        assert actions == ["story.create", "story.submit"]
        assert db.session.scalar(sa.select(sa.func.count(Revision.id)).where(
            Revision.object_type == "story", Revision.object_id == item.id)) == 1
    web_events, api_events = effects(web.id), effects(api.id)
    assert web_events == api_events
    assert [name for name, _ in api_events[0]] == ["submission.submitted"]
    assert count(OutboxMessage) == mails  # sharing emails nobody, through either door

    body = response.get_json()
    assert body["kind"] == "story" and body["status"] == "submitted" and body["version"] >= 1
    assert [c["name"] for c in body["colleagues"]] == ["Noah Levi", "Sam from the airline desk"]
    assert [c["id"] for c in body["colleagues"]] == [noah.id, None]
    assert body["tags"] == ["going the extra mile", "travel"]
    assert "<strong>until she boarded</strong>" in body["body_html"]
    assert body["customer_display"] == "a customer in retail banking"


def test_a_quote_and_drafts(app, employee, api_as, make_story):
    client = api_as(employee, "read submit")
    response = client.post("/api/v1/quotes", json=quote_body(nps_score=9, draft=True))
    assert response.status_code == 201, response.get_data(as_text=True)
    quote = db.session.get(Quote, response.get_json()["id"])
    assert (quote.status, quote.nps_score, quote.source.value) == (S.DRAFT, 9, "survey")
    assert response.headers["Location"] == f"/api/v1/submissions/quotes/{quote.id}"

    # received_on omitted: today (the form's default); submitted straight away.
    response = client.post("/api/v1/quotes", json={"text": "Brilliant people.",
                                                  "source": "email"})
    assert response.status_code == 201
    assert response.get_json()["received_on"] == org_today().isoformat()
    assert response.get_json()["status"] == "submitted"

    response = client.post("/api/v1/stories", json=story_body(draft=True, team_id=None))
    assert response.status_code == 201
    story = db.session.get(Story, response.get_json()["id"])
    assert story.status == S.DRAFT and story.team_id is None and story.submitted_at is None
    assert db.session.scalar(sa.select(sa.func.count(DomainEvent.id)).where(
        DomainEvent.name.ilike("%submitted%"))) == 1  # only the submitted quote


def test_a_future_date_and_someone_elses_draft_are_rule_errors(
    app, employee, make_user, api_as, make_story
):
    other = make_user()
    draft = make_story(other, status=S.DRAFT)
    db.session.commit()
    client = api_as(employee, "submit")
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    response = client.post("/api/v1/quotes",
                           json=quote_body(received_on=tomorrow, story_id=draft.id))
    assert pointers(response) == ["#/received_on", "#/story_id"]
    assert count(Quote) == 0


ODD_STORIES = [
    ({"title": "\x00 NUL title"}, ["#/title"]),
    ({"title": "\x01\x02\x03"}, ["#/title"]),  # only control characters: too short once cleaned
    ({"body": "x" * 100_000}, ["#/body"]),
    ({"title": "", "body": ""}, ["#/body", "#/title"]),
    ({"title": 5}, ["#/title"]),
    ({"colleague_ids": [2**63]}, ["#/colleague_ids/0"]),
    ({"colleague_ids": ["3"]}, ["#/colleague_ids/0"]),
    ({"colleague_ids": [999_999]}, ["#/colleague_ids"]),
    ({"team_id": 999_999}, ["#/team_id"]),
    ({"team_id": 10**30}, ["#/team_id"]),
    ({"team_id": 1.0}, ["#/team_id"]),
    ({"touchpoint_id": 999_999}, ["#/touchpoint_id"]),
    ({"customer_consent": "yes"}, ["#/customer_consent"]),
    ({"tags": ["a/b"]}, ["#/tags"]),
    ({"tags": ["x" * 41]}, ["#/tags/0"]),
    ({"tags": [f"t{i}" for i in range(11)]}, ["#/tags"]),
    ({"colleague_names": [f"N{i}" for i in range(11)]}, ["#/colleague_names"]),
    ({"customer_name": "n" * 121}, ["#/customer_name"]),
    ({"unknown": 1}, ["#/unknown"]),
    ({"draft": None}, ["#/draft"]),
]


@pytest.mark.parametrize(("change", "expected"), ODD_STORIES)
def test_odd_stories_are_422_with_pointers_and_write_nothing(
    app, employee, api_as, change, expected
):
    client = api_as(employee, "submit")
    before = [count(m) for m in (Story, Tag, Recognition, AuditEvent, DomainEvent,
                                 OutboxMessage)]
    response = client.post("/api/v1/stories", json=story_body(**change))
    assert pointers(response) == expected
    after = [count(m) for m in (Story, Tag, Recognition, AuditEvent, DomainEvent, OutboxMessage)]
    assert after == before


@pytest.mark.parametrize(("payload", "expected"), [
    ({"title": "A title"}, ["#/body"]),  # missing field
    ({"body": BODY}, ["#/title"]),
])
def test_missing_fields(app, employee, api_as, payload, expected):
    assert pointers(api_as(employee, "submit").post("/api/v1/stories", json=payload)) == expected
    assert count(Story) == 0


ODD_QUOTES = [
    ({"source": "fax"}, ["#/source"]),
    ({"nps_score": 11}, ["#/nps_score"]),
    ({"nps_score": True}, ["#/nps_score"]),
    ({"nps_score": "9"}, ["#/nps_score"]),
    ({"received_on": 1700000000}, ["#/received_on"]),
    ({"received_on": "yesterday"}, ["#/received_on"]),
    ({"text": "\x00\x00\x00\x00\x00"}, ["#/text"]),
    ({"text": "  \x07  "}, ["#/text"]),
    ({"text": "q" * 2_001}, ["#/text"]),
    ({"story_id": 2**31}, ["#/story_id"]),
    ({"story_id": 424242}, ["#/story_id"]),
]


@pytest.mark.parametrize(("change", "expected"), ODD_QUOTES)
def test_odd_quotes_are_422_with_pointers_and_write_nothing(
    app, employee, api_as, change, expected
):
    response = api_as(employee, "submit").post("/api/v1/quotes", json=quote_body(**change))
    assert pointers(response) == expected
    assert (count(Quote), count(AuditEvent), count(DomainEvent)) == (0, 0, 0)


@pytest.mark.parametrize(("data", "content_type", "status"), [
    (b"[1, 2]", "application/json", 422),
    (b"{not json", "application/json", 400),
    (b"\xff\xfe", "application/json", 400),
    (b"title=x", "application/x-www-form-urlencoded", 415),
])
def test_bodies_that_are_not_a_json_object(app, employee, api_as, data, content_type, status):
    response = api_as(employee, "submit").post(
        "/api/v1/stories", data=data, headers={"Content-Type": content_type})
    assert response.status_code == status and response.mimetype == PROBLEM
    assert count(Story) == 0


# -- scopes and who sees what --------------------------------------------------------------------


def test_scopes(app, employee, editor, api_as, make_story):
    story = make_story(employee, status=S.SUBMITTED)
    db.session.commit()
    reader = api_as(employee, "read")
    assert reader.post("/api/v1/stories", json=story_body()).status_code == 403
    assert count(Story) == 1
    # An employee's token cannot curate even when `curate` is among its scopes (role rule).
    pretender = api_as(employee, "read submit curate")
    assert pretender.get("/api/v1/submissions/stories").status_code == 403
    response = pretender.post(f"/api/v1/submissions/stories/{story.id}/approve",
                              json={"version": story.version})
    assert response.status_code == 403 and response.mimetype == PROBLEM
    # An editor's token without `curate` cannot either.
    assert api_as(editor, "read submit").post(
        f"/api/v1/submissions/stories/{story.id}/approve", json={"version": story.version}
    ).status_code == 403
    db.session.refresh(story)
    assert story.status == S.SUBMITTED
    assert api_as(editor, "read").get("/api/v1/submissions/stories").status_code == 403
    assert db.session.get(Story, story.id).status == S.SUBMITTED
    assert api_as(employee, "submit").get("/api/v1/me/submissions").status_code == 403


def test_who_may_read_a_submission(app, employee, editor, make_user, make_story, make_quote,
                                   api_as):
    other = make_user()
    own_draft = make_story(employee, status=S.DRAFT)
    others_submitted = make_story(other, status=S.SUBMITTED)
    others_draft = make_story(other, status=S.DRAFT)
    others_quote = make_quote(other, status=S.SUBMITTED)
    db.session.commit()
    me = api_as(employee, "read")
    assert me.get(f"/api/v1/submissions/stories/{own_draft.id}").status_code == 200
    for url in (f"/api/v1/submissions/stories/{others_submitted.id}",
                f"/api/v1/submissions/stories/{others_draft.id}",
                f"/api/v1/submissions/quotes/{others_quote.id}",
                "/api/v1/submissions/stories/999999",
                "/api/v1/submissions/stories/99999999999999999999"):
        assert me.get(url).status_code == 404, url
    curator = api_as(editor, "read curate")
    assert curator.get(f"/api/v1/submissions/stories/{others_submitted.id}").status_code == 200
    assert curator.get(f"/api/v1/submissions/quotes/{others_quote.id}").status_code == 200
    assert curator.get(f"/api/v1/submissions/stories/{others_draft.id}").status_code == 404
    # An editor's token without `curate` reads as the person only.
    plain = api_as(editor, "read")
    assert plain.get(f"/api/v1/submissions/stories/{others_submitted.id}").status_code == 404


def test_scope_implications(app, employee, editor, admin, make_user, make_story, api_as):
    """`curate` includes `read` (a curator reads the item they decide on); `admin` is every
    scope its person's role allows; `submit` alone reads nothing."""
    story = make_story(make_user(), status=S.SUBMITTED)
    db.session.commit()
    item = f"/api/v1/submissions/stories/{story.id}"
    curator = api_as(editor, "curate")
    assert curator.get("/api/v1/me").get_json()["token"]["scopes"] == ["read", "curate"]
    tag = etag_of(curator, item)
    assert curator.post(f"{item}/approve", json={}, headers={"If-Match": tag}).status_code == 200
    assert curator.post("/api/v1/stories", json=story_body()).status_code == 403
    assert api_as(employee, "submit").get(item).status_code == 403

    administrator = api_as(admin, "admin")
    assert administrator.get("/api/v1/me").get_json()["token"]["scopes"] == [
        "read", "submit", "curate", "admin"]
    assert administrator.get("/api/v1/submissions/stories?status=approved").status_code == 200
    assert administrator.get("/api/v1/insights").status_code == 200
    assert administrator.post("/api/v1/stories", json=story_body()).status_code == 201


def test_a_decision_through_the_api_is_audited_as_made_through_the_api(
        app, editor, make_user, make_story, api_as, api_token, login_as):
    through_api, on_the_web = (make_story(make_user(), status=S.SUBMITTED) for _ in range(2))
    db.session.commit()
    secret = api_token(editor, "curate")
    token_id = db.session.scalar(sa.select(AccessToken.id).where(
        AccessToken.token_hash == hash_token(secret)))
    response = app.test_client().post(
        f"/api/v1/submissions/stories/{through_api.id}/approve",
        json={"version": through_api.version}, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    response = login_as(editor).post(f"/review/story/{on_the_web.id}/approve",
                                     data={"version": str(on_the_web.version)})
    assert response.status_code == 302

    def approval(story: Story) -> AuditEvent:
        return db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.object_type == "story", AuditEvent.object_id == story.id,
            AuditEvent.action.like("%approve%"))).one()

    api_event, web_event = approval(through_api), approval(on_the_web)
    assert api_event.actor_id == web_event.actor_id == editor.id
    assert (api_event.details["via"], api_event.details["token_id"]) == ("api", token_id)
    assert "via" not in web_event.details and "token_id" not in web_event.details


# -- my submissions ------------------------------------------------------------------------------


def test_my_submissions_newest_first_with_feedback_and_pages(
    app, employee, make_user, make_story, make_quote, api_as
):
    other = make_user()
    make_story(other, status=S.SUBMITTED)
    items = [
        make_story(employee, status=S.DRAFT, title="Draft one"),
        make_quote(employee, status=S.SUBMITTED),
        make_story(employee, status=S.CHANGES_REQUESTED, title="Needs work",
                   editor_note="Add the customer's words."),
        make_story(employee, status=S.REJECTED, title="Not this one",
                   editor_note="Too internal."),
        make_story(employee, status=S.APPROVED, title="Approved", editor_note="old"),
    ]
    db.session.commit()
    client = api_as(employee, "read")
    seen, cursor = [], None
    for _ in range(10):
        url = "/api/v1/me/submissions?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_json()
        assert len(page["data"]) <= 2
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = sorted(items, key=lambda i: (i.created_at, i.kind, i.id), reverse=True)
    assert [(r["kind"], r["id"]) for r in seen] == [(i.kind, i.id) for i in expected]
    by_title = {r["title"]: r for r in seen}
    assert by_title["Needs work"]["status"] == "changes_requested"
    assert by_title["Needs work"]["feedback"] == "Add the customer's words."
    assert by_title["Not this one"]["feedback"] == "Too internal."
    assert by_title["Approved"]["feedback"] is None
    assert by_title["Draft one"]["url"] == f"/api/v1/submissions/stories/{items[0].id}"

    response = client.get("/api/v1/me/submissions?kind=quote")
    assert [r["id"] for r in response.get_json()["data"]] == [items[1].id]
    response = client.get("/api/v1/me/submissions?status=changes_requested&kind=story")
    assert [r["title"] for r in response.get_json()["data"]] == ["Needs work"]
    first = client.get("/api/v1/me/submissions?limit=1").get_json()["next_cursor"]
    refused = client.get(f"/api/v1/me/submissions?limit=1&kind=story&cursor={first}")
    assert refused.status_code == 422 and refused.mimetype == PROBLEM
    for bad in ("status=nonsense", "kind=poem", "limit=0", "limit=99999999999999"):
        assert client.get(f"/api/v1/me/submissions?{bad}").status_code == 422, bad
    assert api_as(make_user(), "read").get("/api/v1/me/submissions").get_json() == {
        "data": [], "next_cursor": None}


# -- the review queue ----------------------------------------------------------------------------


def test_review_queue_oldest_first_by_status(app, editor, make_story, make_quote, api_as):
    stories = [make_story(status=S.SUBMITTED) for _ in range(3)]
    rejected = make_story(status=S.REJECTED, editor_note="No.")
    make_story(status=S.DRAFT)
    quote = make_quote(status=S.SUBMITTED)
    db.session.commit()
    client = api_as(editor, "read curate")
    seen, cursor = [], None
    while True:
        url = "/api/v1/submissions/stories?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).get_json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    oldest_first = sorted(stories, key=lambda s: (s.submitted_at, s.id))
    assert [s["id"] for s in seen] == [s.id for s in oldest_first]
    assert all(s["status"] == "submitted" for s in seen)
    page = client.get("/api/v1/submissions/stories?status=rejected").get_json()
    assert [s["id"] for s in page["data"]] == [rejected.id]
    assert page["data"][0]["editor_note"] == "No."
    page = client.get("/api/v1/submissions/quotes").get_json()
    assert [q["id"] for q in page["data"]] == [quote.id]
    assert client.get("/api/v1/submissions/stories?status=draft").status_code == 422


# -- decisions and the optimistic lock -----------------------------------------------------------


def test_if_match_flows(app, editor, make_story, api_as):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    client = api_as(editor, "read curate")
    url = f"/api/v1/submissions/stories/{story.id}"
    tag = etag_of(client, url)
    seen = story.version
    assert tag == f'"story-{story.id}-v{seen}"'
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304

    # Neither If-Match nor version: 428, nothing changes.
    response = client.post(f"{url}/reject", json={"reason": "Not for us."})
    assert response.status_code == 428 and response.mimetype == PROBLEM
    # A stale If-Match: 412.
    stale = f'"story-{story.id}-v{story.version - 1 if story.version > 1 else 99}"'
    response = client.post(f"{url}/reject", json={"reason": "Not for us."},
                           headers={"If-Match": stale})
    assert response.status_code == 412
    # A stale version in the body: the service's conflict, 409.
    response = client.post(f"{url}/reject", json={"reason": "Not for us.",
                                                  "version": story.version + 5})
    assert response.status_code == 409
    # An empty note is the rule's 422, pointing at the field.
    response = client.post(f"{url}/request-changes", json={"note": " \x07 "},
                           headers={"If-Match": tag})
    assert pointers(response) == ["#/note"]
    db.session.refresh(story)
    assert story.status == S.SUBMITTED
    assert count(DomainEvent) == 0

    response = client.post(f"{url}/request-changes", json={"note": "Add what she said."},
                           headers={"If-Match": tag})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "changes_requested" and body["editor_note"] == "Add what she said."
    assert body["version"] > seen
    # An illegal transition with a fresh version: 409.
    fresh = etag_of(client, url)
    response = client.post(f"{url}/approve", json={}, headers={"If-Match": fresh})
    assert response.status_code == 409 and response.mimetype == PROBLEM
    db.session.refresh(story)
    assert story.status == S.CHANGES_REQUESTED
    assert count(EditionItem) == 0


def test_reject_then_approve_is_an_illegal_transition(app, editor, employee, make_quote,
                                                      api_as):
    quote = make_quote(employee, status=S.SUBMITTED)
    db.session.commit()
    client = api_as(editor, "curate")
    url = f"/api/v1/submissions/quotes/{quote.id}"
    response = client.post(f"{url}/reject", json={"reason": "Duplicate.",
                                                  "version": quote.version})
    assert response.status_code == 200 and response.get_json()["status"] == "rejected"
    version = response.get_json()["version"]
    response = client.post(f"{url}/approve", json={"version": version})
    assert response.status_code == 409
    db.session.refresh(quote)
    assert quote.status == S.REJECTED and quote.editor_note == "Duplicate."
    mine = api_as(employee, "read").get("/api/v1/me/submissions").get_json()["data"]
    assert (mine[0]["status"], mine[0]["feedback"]) == ("rejected", "Duplicate.")
    for bad in ({"version": 0}, {"version": 2**40}, {"version": "1"}, {"reason": "x" * 2001,
                                                                      "version": version}):
        response = client.post(f"{url}/reject", json=bad)
        assert response.status_code == 422, bad
    assert client.post("/api/v1/submissions/quotes/999999/approve",
                       json={"version": 1}).status_code == 404


def _approve_in_thread(app, secret, url, version, barrier, outcomes) -> None:
    client = app.test_client()
    barrier.wait()
    response = client.post(url, json={"version": version},
                           headers={"Authorization": f"Bearer {secret}"})
    outcomes.append(response.status_code)


@pytest.mark.parametrize("use_if_match", [False, True])
def test_two_curators_racing_one_wins(app, make_user, make_story, api_token, use_if_match):
    editors = [make_user(Role.EDITOR), make_user(Role.ADMIN)]
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    url = f"/api/v1/submissions/stories/{story.id}/approve"
    secrets = [api_token(e, "read curate") for e in editors]
    if use_if_match:  # sequential: the second one's ETag is stale
        outcomes, read = [], f'"story-{story.id}-v{story.version}"'  # both read this one
        for secret in secrets:
            response = app.test_client().post(url, json={}, headers={
                "Authorization": f"Bearer {secret}", "If-Match": read})
            outcomes.append(response.status_code)
        assert outcomes == [200, 412]
    else:
        version = story.version
        db.session.rollback()
        barrier, outcomes = threading.Barrier(2), []
        threads = [threading.Thread(target=_approve_in_thread,
                                    args=(app, s, url, version, barrier, outcomes))
                   for s in secrets]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(outcomes) == [200, 409], outcomes
    db.session.rollback()
    assert db.session.get(Story, story.id).status == S.APPROVED
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "story.approve")) == 1
    assert count(EditionItem) == 1


# -- the "Done when" flow, up to approval --------------------------------------------------------


def test_a_token_shares_a_story_an_editors_token_approves_it_into_the_upcoming_edition(
    app, employee, editor, api_as
):
    author = api_as(employee, "read submit")
    response = author.post("/api/v1/stories", json=story_body(tags=["Kindness"]))
    assert response.status_code == 201
    location = response.headers["Location"]

    curator = api_as(editor, "read curate")
    queue = curator.get("/api/v1/submissions/stories").get_json()["data"]
    assert [s["id"] for s in queue] == [response.get_json()["id"]]
    tag = etag_of(curator, location)
    response = curator.post(f"{location}/approve", json={}, headers={"If-Match": tag})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "approved" and body["edition"]["sent"] is False
    assert etag_of(curator, location) == f'"story-{body["id"]}-v{body["version"]}"' != tag

    upcoming = db.session.scalar(sa.select(Edition).where(Edition.status == EditionStatus.DRAFT))
    assert upcoming is not None and body["edition"]["number"] == upcoming.number
    entries = db.session.scalars(sa.select(EditionItem).where(
        EditionItem.edition_id == upcoming.id)).all()
    assert [e.story_id for e in entries] == [body["id"]]
    assert curator.get("/api/v1/submissions/stories").get_json()["data"] == []
    mine = author.get("/api/v1/me/submissions").get_json()["data"]
    assert mine[0]["status"] == "approved" and mine[0]["edition"]["number"] == upcoming.number


@pytest.mark.parametrize("decision", ["approve", "request-changes", "reject"])
def test_a_decision_through_the_api_has_the_web_decisions_effects(
    app, make_user, make_story, login_as, api_as, decision
):
    """The same decision on two stories, one on the review page and one through the API: the
    same state, audit trail, events and emails to the author."""
    editor = make_user(Role.EDITOR)
    web_story = make_story(make_user(email="web-author@example.com"), status=S.SUBMITTED,
                           title="Same title")
    api_story = make_story(make_user(email="api-author@example.com"), status=S.SUBMITTED,
                           title="Same title")
    db.session.commit()
    field = {"approve": {}, "request-changes": {"note": "Name the customer's team."},
             "reject": {"reason": "We ran it last week."}}[decision]

    response = login_as(editor).post(f"/review/story/{web_story.id}/{decision}",
                                     data={"version": str(web_story.version), **field})
    assert response.status_code == 302, response.get_data(as_text=True)
    response = api_as(editor, "curate").post(
        f"/api/v1/submissions/stories/{api_story.id}/{decision}",
        json={"version": api_story.version, **field})
    assert response.status_code == 200, response.get_data(as_text=True)

    def effects(story: Story):
        db.session.refresh(story)
        actions = db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.object_type == "story", AuditEvent.object_id == story.id)
            .order_by(AuditEvent.id)).all()
        events = [(e.name, {k: v for k, v in e.payload.items() if k != "item_id"})
                  for e in db.session.scalars(sa.select(DomainEvent).order_by(DomainEvent.id))
                  if e.payload.get("item_id") == story.id]
        mails = db.session.execute(sa.select(OutboxMessage.template, OutboxMessage.subject)
                                   .where(OutboxMessage.to_addr == story.author.email)).all()
        entries = len(story.edition_items)
        return story.status, story.editor_note, actions, events, sorted(mails), entries

    web, api = effects(web_story), effects(api_story)
    assert web == api
    assert api[0] == {"approve": S.APPROVED, "request-changes": S.CHANGES_REQUESTED,
                      "reject": S.REJECTED}[decision]
    assert len(api[4]) == 1  # the author is told, once
    assert api[5] == (1 if decision == "approve" else 0)


def test_lists_use_a_constant_number_of_queries(
    app, editor, make_user, make_team, make_story, make_quote, make_edition, api_as
):
    author = make_user(team=make_team())
    curator = api_as(editor, "read curate")
    mine = api_as(author, "read")

    def add(n: int) -> None:
        for _ in range(n):
            writer = make_user(team=make_team())
            make_story(writer, status=S.SUBMITTED, colleagues=[make_user()], names=["X"],
                       tags=["t"])
            make_quote(writer, status=S.SUBMITTED)
            story = make_story(author, status=S.PUBLISHED)
            make_edition(status=EditionStatus.SENT, items=[story, make_quote(author)])
        db.session.commit()

    urls = ("/api/v1/submissions/stories", "/api/v1/submissions/quotes")
    add(2)
    for client in (curator, mine):  # a token's first use records it (not counted below)
        assert client.get("/api/v1/me").status_code == 200
    with count_queries() as few:
        for url in urls:
            assert len(curator.get(url).get_json()["data"]) == 2
        assert len(mine.get("/api/v1/me/submissions").get_json()["data"]) == 4
    add(6)
    with count_queries() as many:
        for url in urls:
            assert len(curator.get(url).get_json()["data"]) == 8
        assert len(mine.get("/api/v1/me/submissions").get_json()["data"]) == 16
    assert many.count == few.count, many.statements
