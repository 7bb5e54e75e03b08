"""Issue 16's "Done when", in one chain through real parts: a token-authenticated client shares
a story, an editor's token approves it (If-Match), the edition goes out through the real sender
(SMTP on loopback), and a registered webhook endpoint (a real HTTP server on loopback) receives
an `edition.sent` it verifies with `standardwebhooks`, carrying the story — which the API's
edition shows too."""

from __future__ import annotations

import sqlalchemy as sa

from app.editions import services as editions
from app.extensions import db
from app.models import Edition
from app.models import EditionStatus
from app.models import Story
from app.models import SubmissionStatus
from app.newsletter import sending
from app.webhooks.delivery import wait_for_deliveries
from tests.fixtures.smtp import configure_app_for
from tests.fixtures.webhooks import make_endpoint
from tests.fixtures.webhooks import received
from tests.fixtures.webhooks import verified
from tests.helpers_sender import seed_recipients

STORY = {"title": "The parcel that came back in time",
         "body": "Mara found the lost parcel on Friday evening and drove it to the customer "
                 "herself, so the wedding dress arrived in time.",
         "customer_segment": "retail"}


def test_submit_approve_send_and_a_verified_edition_sent_carries_the_story(
        app, smtp_server, webhook_server, employee, editor, api_as):
    configure_app_for(app, smtp_server)
    webhook_server.expect_request("/hooks", method="POST").respond_with_data("ok")
    endpoint = make_endpoint(webhook_server.url_for("/hooks"), events=["edition.sent"])
    seed_recipients(2)
    db.session.commit()

    # An employee's script shares a story with a `submit` token.
    author = api_as(employee, "submit")
    response = author.post("/api/v1/stories", json=STORY)
    assert response.status_code == 201, response.get_data(as_text=True)
    story_id, location = response.get_json()["id"], response.headers["Location"]
    assert response.get_json()["status"] == "submitted"

    # An editor's token reads it (curate includes read) and approves the version it saw.
    curator = api_as(editor, "curate")
    seen = curator.get(location)
    assert seen.status_code == 200
    response = curator.post(f"{location}/approve", json={},
                            headers={"If-Match": seen.headers["ETag"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    number = response.get_json()["edition"]["number"]

    # The editor sends the upcoming edition now; the real sender sends it.
    edition = db.session.scalar(sa.select(Edition).where(Edition.number == number))
    assert edition.status == EditionStatus.DRAFT
    editions.update_content(edition, subject="A parcel saved", intro_md="", actor=editor,
                            seen_version=edition.version)
    db.session.commit()
    editions.send_now(edition, actor=editor, seen_version=edition.version)
    db.session.commit()
    sending.run_edition(edition.id)
    assert wait_for_deliveries(app, 30)
    db.session.expire_all()
    assert db.session.get(Edition, edition.id).status == EditionStatus.SENT
    assert db.session.get(Story, story_id).status == SubmissionStatus.PUBLISHED

    # The endpoint got one edition.sent, correctly signed, naming the story.
    [request] = received(webhook_server, "/hooks")
    body = verified(request, endpoint.secret)  # raises unless genuine and fresh
    assert body["type"] == "edition.sent"
    assert (body["data"]["id"], body["data"]["number"]) == (edition.id, number)
    assert [s["id"] for s in body["data"]["stories"]] == [story_id]
    assert body["data"]["stories"][0]["title"] == STORY["title"]
    assert body["data"]["api_url"] == f"http://localhost/api/v1/editions/{edition.id}"

    # The API's edition (what the webhook's api_url names) carries it too.
    response = curator.get(f"/api/v1/editions/{edition.id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = response.get_json()
    assert sent["number"] == number
    assert [item["id"] for item in sent["items"] if item["kind"] == "story"] == [story_id]
