"""Readership from real sent messages: an edition goes through the sender to a real SMTP server;
the links, the open image and the applause link parsed out of each received message are
followed with an HTTP client, in both privacy modes."""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Delivery
from app.models import EditionStatus
from app.models import Reaction
from app.models import User
from app.models.engagement import EngagementEvent
from app.newsletter import sending
from app.newsletter.links import edition_url
from app.settings import set_settings
from tests.fixtures.smtp import configure_app_for
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of

TRACKED = re.compile(r"http://localhost/r/[A-Za-z0-9_.-]+/[A-Za-z0-9._~-]+")
IMAGE = re.compile(r'<img\b[^>]*\ssrc="(http://localhost/o/[^"]+)"')
APPLAUSE = re.compile(r'href="(http://localhost/a/\d+/[A-Za-z0-9._~-]+)"')


def _send(app, smtp_server, recipients: int = 3):
    configure_app_for(app, smtp_server)
    edition = seed_edition(status=EditionStatus.SCHEDULED, recipients=recipients)
    db.session.commit()
    result = sending.run_edition(edition.id)
    assert result.finished
    received = [m for m in smtp_server.messages if m.message["List-Id"]]
    assert len(received) == recipients + 3  # the seeded people and the story's three
    return edition, received


def _parts(message) -> tuple[str, str]:
    return (message.get_body(("html",)).get_content(),
            message.get_body(("plain",)).get_content())


def _events() -> list[EngagementEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(EngagementEvent).order_by(EngagementEvent.id)))


@pytest.mark.parametrize("mode", ["aggregate", "person"])
def test_clicks_and_opens_from_real_messages(app, smtp_server, client, mode):
    set_settings({"analytics_mode": mode}, actor=None)
    edition, received = _send(app, smtp_server)
    story = story_of(edition)
    tags = set()
    for item in received:
        html, text = _parts(item.message)
        html_links = [html_lib.unescape(u) for u in TRACKED.findall(html)]
        text_links = TRACKED.findall(text)
        assert html_links and text_links and set(text_links) <= set(html_links)
        tag = html_links[0].rsplit("/", 1)[1]
        assert {u.rsplit("/", 1)[1] for u in html_links + text_links} == {tag}  # one per message
        tags.add(tag)
        # The unsubscribe link stays direct, in both parts.
        footer = text.split("Unsubscribe")[-1]
        assert "http://localhost/unsubscribe/" in footer and "/r/" not in footer
        for url in set(html_links):
            response = client.get(urlsplit(url).path)
            assert response.status_code == 302
            assert response.headers["Location"].startswith(("http://localhost/", "https://"))
        [image] = IMAGE.findall(html)
        assert client.get(urlsplit(html_lib.unescape(image)).path).status_code == 200
        client.get(urlsplit(html_lib.unescape(image)).path, headers={"User-Agent": "Mozilla/5.0"})
    assert len(tags) == len(received)  # each message its own tag
    events = _events()
    opens = [e for e in events if e.kind == "open"]
    proxy = [e for e in events if e.kind == "proxy_open"]
    clicks = [e for e in events if e.kind == "click"]
    assert len({e.tag for e in opens}) == len({e.tag for e in proxy}) == len(received)
    assert len({e.tag for e in clicks}) == len(received)
    story_clicks = {e.tag for e in clicks if (e.item_kind, e.item_id) == ("story", story.id)}
    assert len(story_clicks) == len(received)
    web = [e for e in clicks if e.item_id is None]
    assert web, "the edition's own links (read on the web, share a story) are counted too"
    deliveries = {d.id: d.user_id for d in db.session.scalars(
        sa.select(Delivery).where(Delivery.edition_id == edition.id))}
    if mode == "aggregate":
        assert all(e.user_id is None and e.tag.startswith("r") for e in events)
    else:
        assert all(e.tag.startswith("d") for e in events)
        assert {e.user_id for e in events} == set(deliveries.values())
        assert all(deliveries[int(e.tag[1:])] == e.user_id for e in events)


def test_the_read_on_the_web_link_goes_to_the_edition(app, smtp_server, client):
    edition, received = _send(app, smtp_server, recipients=1)
    html, _ = _parts(received[0].message)
    targets = {client.get(urlsplit(html_lib.unescape(u)).path).headers["Location"]
               for u in TRACKED.findall(html)}
    assert edition_url(edition.number) in targets
    assert f"{edition_url(edition.number)}#story-{story_of(edition).id}" in targets


def test_applause_from_a_real_message(app, smtp_server, client):
    edition, received = _send(app, smtp_server, recipients=1)
    story = story_of(edition)
    item = next(m for m in received if m.rcpt_tos[0].startswith("staff"))
    html, text = _parts(item.message)
    [link] = set(APPLAUSE.findall(html))
    assert link in text  # the plain-text part has it too, untracked
    path = urlsplit(link).path
    assert client.get(path).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Reaction.id))) == 0  # a GET never applauds
    assert client.post(path).status_code == 200
    reader = db.session.scalar(sa.select(User).where(User.email == item.rcpt_tos[0]))
    assert db.session.scalars(sa.select(Reaction.user_id).where(
        Reaction.story_id == story.id)).all() == [reader.id]


def test_nothing_is_tracked_when_both_counters_are_off(app, smtp_server):
    set_settings({"track_clicks": False, "track_opens": False}, actor=None)
    _, received = _send(app, smtp_server, recipients=1)
    for item in received:
        html, text = _parts(item.message)
        assert "/r/" not in html + text and "/o/" not in html
