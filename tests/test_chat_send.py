"""End to end: sending an edition through the real sender (SMTP on loopback) posts exactly one
"edition sent" to a Slack webhook and one to a Teams workflow on a loopback server, and the
email send, the edition's other subscribers and the sender never wait for or suffer from a chat
service that hangs or fails."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from werkzeug import Response

from app.chat.delivery import wait_for_posts
from app.extensions import db
from app.models import ChatPost
from app.models import ChatPostStatus
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.models import OutboxMessage
from app.models import OutboxStatus
from app.newsletter import sending
from tests.fixtures.chat import bodies
from tests.fixtures.chat import card
from tests.fixtures.chat import check_slack
from tests.fixtures.chat import check_teams
from tests.fixtures.chat import make_destination
from tests.fixtures.chat import slack_texts
from tests.fixtures.chat import teams_runs
from tests.fixtures.smtp import configure_app_for
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of

RECIPIENTS = 4


@pytest.fixture
def edition(app, smtp_server, chat_server):
    configure_app_for(app, smtp_server)
    edition = seed_edition(recipients=RECIPIENTS)
    make_destination(chat_server.url_for("/slack"), kind="slack", name="Slack #general")
    make_destination(chat_server.url_for("/teams"), kind="teams", name="Teams General")
    db.session.commit()
    return edition


def _state(edition_id: int):
    db.session.commit()
    edition = db.session.get(Edition, edition_id)
    deliveries = db.session.scalars(sa.select(Delivery.status).where(
        Delivery.edition_id == edition_id)).all()
    notifications = db.session.scalars(sa.select(OutboxMessage.status)).all()
    return edition, deliveries, notifications


def test_sending_an_edition_posts_once_to_slack_and_once_to_teams(app, edition, chat_server,
                                                                 smtp_server):
    chat_server.expect_request("/slack", method="POST").respond_with_data("ok")
    chat_server.expect_request("/teams", method="POST").respond_with_data("", status=202)
    story = story_of(edition)

    sending.run_edition(edition.id)
    assert wait_for_posts(app, 30)
    sending.run_edition(edition.id)  # a second pass over a sent edition announces nothing
    assert wait_for_posts(app, 30)

    [slack] = bodies(chat_server, "/slack")
    [teams] = bodies(chat_server, "/teams")
    check_slack(slack)
    check_teams(teams)
    url = f"http://localhost/editions/{edition.number}"
    title = f"Feel Good Fridays #{edition.number}: A holiday saved"
    texts = "\n".join(slack_texts(slack))
    assert slack["blocks"][0]["text"]["text"] == title
    assert f"*<http://localhost/stories/{story.id}|{story.title}>*" in texts
    assert "With Noah Levi and Amina Diallo" in texts
    assert "1 story and 1 customer quote in this edition" in texts
    assert slack["blocks"][-1]["elements"][0]["url"] == url
    runs = teams_runs(teams)
    assert runs[0] == title and story.title in runs and "With Noah Levi and Amina Diallo" in runs
    assert card(teams)["actions"][0]["url"] == url

    posts = db.session.scalars(sa.select(ChatPost)).all()
    assert [(p.event, p.status, p.attempts) for p in posts] == [
        ("edition_sent", ChatPostStatus.SENT, 1)] * 2
    sent, deliveries, _notifications = _state(edition.id)
    assert sent.status is EditionStatus.SENT
    assert deliveries.count(DeliveryStatus.SENT) == len(deliveries) >= RECIPIENTS


@pytest.mark.app_config(CHAT_TIMEOUT_SECONDS=30)  # longer than the asserts below
def test_a_hanging_or_failing_chat_service_never_touches_the_send(app, edition, chat_server,
                                                                  smtp_server):
    entered, release = threading.Event(), threading.Event()

    def hang(_request):
        entered.set()
        release.wait(25)
        return Response("ok")

    chat_server.expect_request("/slack").respond_with_handler(hang)
    chat_server.expect_request("/teams").respond_with_data("workflow failed", status=500)
    try:
        result = sending.run_edition(edition.id)
        # The Slack post is in flight, and stays blocked until this test lets it go: the
        # send finished without waiting for it.
        assert entered.wait(20)
        assert not release.is_set() and result.finished
        sent, deliveries, notifications = _state(edition.id)
        assert sent.status is EditionStatus.SENT
        assert deliveries.count(DeliveryStatus.SENT) == len(deliveries) >= RECIPIENTS
        # The edition's other subscribers ran: authors and colleagues were emailed.
        assert notifications and set(notifications) == {OutboxStatus.SENT}
        newsletter = [m for m in smtp_server.messages if "A holiday saved" in
                      str(m.message["Subject"])]
        assert len(newsletter) == len(deliveries)
    finally:
        release.set()
    assert wait_for_posts(app, 30)

    db.session.commit()
    posts = {p.destination.name: p for p in db.session.scalars(sa.select(ChatPost))}
    assert posts["Slack #general"].status is ChatPostStatus.SENT
    teams = posts["Teams General"]
    assert (teams.status, teams.attempts, teams.response_code, teams.response_text) == (
        ChatPostStatus.PENDING, 1, 500, "workflow failed")  # retried by the scheduler
    assert len(bodies(chat_server, "/teams")) == 1
