"""The redirect (/r/) and the open image (/o/): what they record in each privacy mode, what they
refuse, and what they cost."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from app.engagement import tokens
from app.engagement.links import open_image_url
from app.engagement.recipients import RecipientKeys
from app.engagement.subscribers import anonymize_expired
from app.extensions import db
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import User
from app.models import utcnow
from app.models.engagement import EngagementEvent
from app.settings import set_settings
from tests import factories
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of
from tests.querycount import count_queries

URL = "https://example.com/read?a=1&b=%C3%A9"
GIF = b"GIF89a"
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]*")


def _events() -> list[EngagementEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(EngagementEvent).order_by(EngagementEvent.id)))


def _link(edition_id: int, url: str = URL, item: tuple[str, int] | None = None) -> str:
    kind, item_id = item or (None, None)
    return tokens.make_link_token(tokens.LinkTarget(edition_id, kind, item_id, url))


def _delivery(edition, user) -> Delivery:
    row = Delivery(edition_id=edition.id, email=user.email, user_id=user.id,
                   status=DeliveryStatus.SENT, message_id=f"<{user.id}@x>")
    db.session.add(row)
    db.session.flush()
    return row


def _tag(edition_id: int) -> str:
    """A genuine aggregate-only tag (signed random), as a sent message carries."""
    return RecipientKeys(edition_id).track(None, None)


def _person_mode(days: int = 90) -> None:
    set_settings({"analytics_mode": "person", "engagement_person_days": days}, actor=None)
    db.session.commit()


# -- the redirect ---------------------------------------------------------------------------------


def test_a_click_in_aggregate_mode_is_counted_for_nobody(app, client, make_user):
    edition = seed_edition()
    story = story_of(edition)
    user = make_user()
    delivery = _delivery(edition, user)
    db.session.commit()
    tag = RecipientKeys(edition.id).track(delivery.id, user.id)
    assert re.fullmatch(r"r[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{27}", tag)
    response = client.get(f"/r/{_link(edition.id, item=('story', story.id))}/{tag}")
    assert response.status_code == 302
    assert response.headers["Location"] == URL
    assert response.headers["Cache-Control"].startswith("no-store")
    [event] = _events()
    assert (event.edition_id, event.kind, event.tag, event.user_id) == (
        edition.id, "click", tag.split(".")[0], None)  # the signature is not stored
    assert (event.item_kind, event.item_id) == ("story", story.id)
    assert not event.tag.startswith("d")  # nothing ties it to the message


def test_a_click_in_person_mode_names_the_reader(app, client, make_user):
    _person_mode()
    edition = seed_edition()
    user = make_user()
    delivery = _delivery(edition, user)
    db.session.commit()
    tag = RecipientKeys(edition.id).track(delivery.id, user.id)
    assert tag.startswith(f"d{delivery.id}.") and URL_SAFE.fullmatch(tag) and len(tag) <= 40
    assert client.get(f"/r/{_link(edition.id)}/{tag}").status_code == 302
    [event] = _events()
    assert (event.kind, event.tag, event.user_id, event.item_kind) == (
        "click", f"d{delivery.id}", user.id, None)


def test_a_forged_or_foreign_person_tag_is_not_attributed(app, client, make_user):
    _person_mode()
    edition = seed_edition()
    other_edition = factories.make_edition(number=99)
    user = make_user()
    delivery = _delivery(edition, user)
    foreign = _delivery(other_edition, make_user())
    db.session.commit()
    genuine = RecipientKeys(edition.id).track(delivery.id, user.id)
    signature = genuine.split(".", 1)[1]
    forged = [
        f"d{foreign.id}.{signature}",  # someone else's delivery, this message's signature
        f"d{delivery.id}.{'A' * 27}",  # a made-up signature
        f"d{delivery.id}",  # unsigned
        RecipientKeys(other_edition.id).track(foreign.id, None),  # genuine, other edition
        f"d{delivery.id}.{signature}x",
        "..", "<script>", "d0." + "A" * 27, "x" * 500, "-",
    ]
    link = _link(edition.id)
    for tag in forged:
        response = client.get(f"/r/{link}/{tag}")
        assert response.status_code == 302 and response.headers["Location"] == URL, tag
    assert _events() == []


def test_a_forged_aggregate_tag_records_nothing(app, client):
    edition = seed_edition()
    other = factories.make_edition(number=98)
    db.session.commit()
    genuine = _tag(edition.id)
    random, signature = genuine.split(".")
    other_signature = _tag(edition.id).split(".")[1]
    person_signature = tokens.FastSigner(tokens.LINK_SALT).sign(random).split(".")[1]
    forged = [
        random,  # unsigned: what anyone could make up by the thousand
        f"rAAAAAAAAAAAAAAAA.{signature}",  # a made-up tag with a real signature
        f"{random}.{other_signature}",  # another message's signature
        f"{random}.{person_signature}",  # signed with another salt
        f"{random}.{'A' * 27}", f"{random}.{signature}x", f"{random}x.{signature}",
        f"r{'A' * 15}.{signature}",
    ]
    link = _link(edition.id)
    for tag in forged:
        assert client.get(f"/r/{link}/{tag}").status_code == 302, tag
        client.get(_image_path(edition.id, tag))
    assert _events() == []
    assert client.get(f"/r/{link}/{genuine}").status_code == 302
    client.get(_image_path(other.id, genuine))  # genuine tags are not tied to an edition
    assert [(e.kind, e.tag) for e in _events()] == [("click", random), ("open", random)]


def test_a_person_tag_read_after_switching_to_aggregate_names_nobody(app, client, make_user):
    _person_mode()
    edition = seed_edition()
    user = make_user()
    delivery = _delivery(edition, user)
    db.session.commit()
    tag = RecipientKeys(edition.id).track(delivery.id, user.id)  # sent in per-person mode
    set_settings({"analytics_mode": "aggregate"}, actor=None)
    db.session.commit()
    client.get(f"/r/{_link(edition.id)}/{tag}")
    [event] = _events()
    assert event.user_id is None and not event.tag.startswith("d")
    assert re.fullmatch(r"x[A-Za-z0-9_-]{16}", event.tag)


def test_a_read_after_anonymization_adds_no_new_distinct_message(app, client, make_user):
    """Past retention a message's rows carry a new random tag; a later read stored as d<id>
    would make it count twice, so a per-person read of an edition past retention is not
    recorded. Within retention it still is."""
    _person_mode(days=30)
    edition = seed_edition()
    user = make_user()
    delivery = _delivery(edition, user)
    db.session.commit()
    tag = RecipientKeys(edition.id).track(delivery.id, user.id)
    link = _link(edition.id)
    client.get(f"/r/{link}/{tag}")
    long_ago = utcnow() - timedelta(days=31)
    edition.sending_started_at = edition.sent_at = long_ago
    db.session.execute(sa.update(EngagementEvent).values(at=long_ago))
    db.session.commit()
    assert anonymize_expired(lambda: False) == 1
    [anonymized] = _events()
    assert anonymized.user_id is None and anonymized.tag.startswith("a")
    assert client.get(f"/r/{link}/{tag}").headers["Location"] == URL  # still goes through
    client.get(_image_path(edition.id, tag))
    assert [(e.tag, e.user_id) for e in _events()] == [(anonymized.tag, None)]
    edition.sending_started_at = edition.sent_at = utcnow() - timedelta(days=29)
    db.session.commit()
    client.get(f"/r/{link}/{tag}")  # within retention: attributed as before
    assert [(e.tag, e.user_id) for e in _events()][1:] == [(f"d{delivery.id}", user.id)]


def test_a_tampered_token_gets_the_friendly_404_and_records_nothing(app, client):
    edition = seed_edition()
    db.session.commit()
    token = _link(edition.id)
    payload, signature = token.rsplit(".", 1)
    evil = URLSafeSerializer("not the secret", salt=tokens.LINK_SALT).dumps(
        [edition.id, None, None, "https://evil.example/"])
    for bad in (
        f"{payload}.{'B' if signature[0] != 'B' else 'C'}{signature[1:]}",  # signature changed
        token[:-1],  # cut short
        f"{payload[:-3]}abc.{signature}",  # payload changed
        evil,  # signed with another key
        "x", "..", "-",
    ):
        response = client.get(f"/r/{bad}/{_tag(edition.id)}")
        assert response.status_code == 404, bad
        assert "Location" not in response.headers
        page = response.get_data(as_text=True)
        assert "This link doesn’t lead anywhere" in page and "evil.example" not in page
    assert _events() == []


def test_the_redirect_only_ever_goes_to_a_signed_http_url(app, client):
    edition = seed_edition()
    db.session.commit()
    serializer = tokens.link_serializer()
    with pytest.raises(ValueError):
        tokens.make_link_token(tokens.LinkTarget(edition.id, None, None, "javascript:alert(1)"))
    # Even a token signed with the real key for another scheme or shape is refused.
    for payload in (
        [edition.id, None, None, "javascript:alert(1)"],
        [edition.id, None, None, "JAVASCRIPT:alert(1)"],
        [edition.id, None, None, "//evil.example/"],
        [edition.id, None, None, "data:text/html,hi"],
        [edition.id, "story", None, URL],
        [edition.id, "user", 1, URL],
        ["1", None, None, URL],
        [edition.id, None, None],
        {"url": URL},
    ):
        response = client.get(f"/r/{serializer.dumps(payload)}/-")
        assert response.status_code == 404, payload
    # Another salt's signed value (the open image's edition token) is no link token either.
    assert client.get(f"/r/{tokens.make_edition_token(edition.id)}/-").status_code == 404


def test_previews_and_head_requests_redirect_without_counting(app, client):
    edition = seed_edition()
    db.session.commit()
    link = _link(edition.id)
    assert client.get(f"/r/{link}/-").headers["Location"] == URL
    assert client.head(f"/r/{link}/{_tag(edition.id)}").status_code == 302
    assert _events() == []


@pytest.mark.parametrize("mode", ["aggregate", "person"])
def test_a_sent_edition_keeps_counting_after_counting_is_switched_off(app, client, make_user,
                                                                      mode):
    """The frozen email decides: its report says clicks and opens were measured, so switching
    counting off afterwards must not leave its counts silently short."""
    set_settings({"analytics_mode": mode}, actor=None)
    edition = seed_edition()
    user = make_user()
    delivery = _delivery(edition, user)
    db.session.commit()
    tag = RecipientKeys(edition.id).track(delivery.id, user.id)  # at send time
    set_settings({"track_clicks": False, "track_opens": False}, actor=None)
    db.session.commit()
    assert RecipientKeys(edition.id).track(delivery.id, user.id) == "-"  # new editions: off
    assert client.get(f"/r/{_link(edition.id)}/{tag}").status_code == 302
    client.get(_image_path_unchecked(edition.id, tag))
    assert [e.kind for e in _events()] == ["click", "open"]
    assert {e.tag for e in _events()} == {tag.split(".")[0]}


def test_a_click_for_a_deleted_edition_still_redirects(app, client):
    edition = seed_edition()
    db.session.commit()
    link = _link(edition.id)
    db.session.delete(edition)
    db.session.commit()
    response = client.get(f"/r/{link}/{_tag(edition.id)}")
    assert response.status_code == 302 and _events() == []


def test_a_click_costs_a_settings_read_and_one_insert(app, client, make_user):
    edition = seed_edition()
    user = make_user()
    delivery = _delivery(edition, user)
    db.session.commit()
    link = _link(edition.id)
    aggregate_tag = RecipientKeys(edition.id).track(delivery.id, user.id)
    with count_queries() as queries:
        client.get(f"/r/{link}/{aggregate_tag}")
    assert queries.count == 2, queries.statements
    _person_mode()
    person_tag = RecipientKeys(edition.id).track(delivery.id, user.id)
    with count_queries() as queries:
        client.get(f"/r/{link}/{person_tag}")
    assert queries.count == 2, queries.statements
    assert [e.user_id for e in _events()] == [None, user.id]


def test_recording_is_rate_limited_per_message_and_address_but_the_reader_gets_through(
        app, client):
    """Readers behind one address (a company proxy, NAT, Gmail's or Apple's image proxy) are
    each counted up to the limit: the limit is per message and address, not per address."""
    app.config["ENGAGEMENT_RATE_LIMIT"] = "3 per minute"
    edition = seed_edition()
    db.session.commit()
    link = _link(edition.id)
    readers = [_tag(edition.id) for _ in range(5)]  # five messages, one shared address
    for tag in readers:
        for _ in range(6):
            response = client.get(f"/r/{link}/{tag}")
            assert response.status_code == 302 and response.headers["Location"] == URL
        image = client.get(_image_path(edition.id, tag))
        assert image.status_code == 200 and image.get_data().startswith(GIF)
    events = _events()
    clicks = [e.tag for e in events if e.kind == "click"]
    assert len(clicks) == 5 * 3  # each message up to the limit, then no more
    assert {clicks.count(t.split(".")[0]) for t in readers} == {3}
    assert len([e for e in events if e.kind == "open"]) == 0  # the limit counts both kinds
    other = client.get(f"/r/{link}/{readers[0]}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 302 and len(_events()) == 5 * 3 + 1


# -- the open image -------------------------------------------------------------------------------


def _image_path(edition_id: int, tag: str) -> str:
    return urlsplit(open_image_url(edition_id, tag)).path


def test_the_open_image_is_a_transparent_gif_that_is_never_cached(app, client):
    edition = seed_edition()
    db.session.commit()
    tag = _tag(edition.id)
    response = client.get(_image_path(edition.id, tag))
    assert response.status_code == 200
    assert response.mimetype == "image/gif"
    body = response.get_data()
    assert body.startswith(GIF) and len(body) < 64
    assert body[6:10] == b"\x01\x00\x01\x00"  # 1×1
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Pragma"] == "no-cache" and response.headers["Expires"] == "0"
    [event] = _events()
    assert (event.kind, event.tag, event.user_id, event.item_id) == (
        "open", tag.split(".")[0], None, None)


@pytest.mark.parametrize(("agent", "kind"), [
    ("Mozilla/5.0", "proxy_open"),  # Apple Mail Privacy Protection's pre-fetch
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
     "open"),  # Gmail fetches when the reader opens the message
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
     "open"),
    ("", "open"),
])
def test_privacy_proxy_fetches_are_counted_apart(app, client, agent, kind):
    edition = seed_edition()
    db.session.commit()
    client.get(_image_path(edition.id, _tag(edition.id)), headers={"User-Agent": agent})
    assert [e.kind for e in _events()] == [kind]


def test_opens_in_person_mode_name_the_reader_and_forged_tags_nobody(app, client, make_user):
    _person_mode()
    edition = seed_edition()
    user = make_user()
    delivery = _delivery(edition, user)
    db.session.commit()
    tag = RecipientKeys(edition.id).track(delivery.id, user.id)
    client.get(_image_path(edition.id, tag))
    client.get(_image_path(edition.id, f"d{delivery.id}.{'B' * 27}"))
    assert [(e.kind, e.tag, e.user_id) for e in _events()] == [
        ("open", f"d{delivery.id}", user.id)]


def test_the_image_of_a_tampered_edition_token_or_a_preview_records_nothing(app, client):
    edition = seed_edition()
    db.session.commit()
    good = _image_path(edition.id, "-")
    bad = good.replace("/o/", "/o/9").replace("-.gif", f"{_tag(edition.id)}.gif")
    for path in (good, bad, "/o/x/x.gif"):
        response = client.get(path)
        assert response.status_code == 200 and response.get_data().startswith(GIF)
    assert _events() == []


def _image_path_unchecked(edition_id: int, tag: str) -> str:
    return f"/o/{tokens.make_edition_token(edition_id)}/{tag}.gif"


# -- per-recipient keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["aggregate", "person"])
def test_recipient_keys_are_url_safe_and_distinct(app, mode):
    set_settings({"analytics_mode": mode}, actor=None)
    edition = seed_edition()
    keys = RecipientKeys(edition.id)
    tracks = {keys.track(n, n) for n in range(1, 2001)}
    applause = {keys.applause(n) for n in range(1, 2001)}
    assert len(tracks) == len(applause) == 2000
    for value in tracks | applause:
        assert URL_SAFE.fullmatch(value) and len(value) <= 60, value
    assert keys.applause(None) == "-"
    assert all(len(t.split(".")[0]) <= 40 for t in tracks)  # stored: engagement_events.tag
    assert tokens.read_applause_token(keys.applause(7)) == tokens.ApplauseClaim(7, edition.id)


def test_recipient_keys_never_commit_the_callers_session(app):
    """Building the keys only reads settings: the caller's transaction (the sender's, a view's)
    stays open and uncommitted, whatever state it was in."""
    from flask import has_request_context

    edition = seed_edition()
    db.session.commit()
    assert not has_request_context() and not db.session().in_transaction()
    session = db.session()
    commits: list[object] = []

    def count(s: object) -> None:
        commits.append(s)

    sa.event.listen(session, "after_commit", count)
    try:
        keys = RecipientKeys(edition.id)  # from a fresh session: it begins the transaction
        assert session.in_transaction()
        pending = factories.make_user(email="not-yet@example.com")
        RecipientKeys(edition.id).track(1, 1)  # inside a transaction with pending work
        db.session.rollback()
    finally:
        sa.event.remove(session, "after_commit", count)
    assert commits == [] and keys.tracking
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(
        User.email == pending.email)) == 0  # rolled back: nothing was committed on the way


def test_nothing_is_tagged_when_neither_opens_nor_clicks_are_counted(app):
    set_settings({"track_clicks": False, "track_opens": False}, actor=None)
    edition = seed_edition()
    assert RecipientKeys(edition.id).track(1, 1) == "-"
