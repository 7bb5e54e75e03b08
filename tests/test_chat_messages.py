"""What each event posts, checked on the wire: the bodies a real loopback server receives must
satisfy the Block Kit and Adaptive Card schemas (tests/fixtures/chat.py), say the right things,
and show hostile text as typed (escaped, stripped of control characters, capped)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.chat import subscribers
from app.chat.delivery import wait_for_posts
from app.database import begin_write
from app.events import ColleagueFeatured
from app.events import EditionSent
from app.events import SubmissionPublished
from app.events import emit
from app.extensions import db
from app.models import ChatPost
from app.models import EditionStatus
from app.models import SubmissionStatus
from tests.fixtures.chat import bodies
from tests.fixtures.chat import card
from tests.fixtures.chat import check_slack
from tests.fixtures.chat import check_teams
from tests.fixtures.chat import make_destination
from tests.fixtures.chat import slack_texts
from tests.fixtures.chat import teams_runs

P = SubmissionStatus.PUBLISHED
HOSTILE_TITLE = ("<!channel> <https://evil.example|click> & *bold* [x](https://evil.example) "
                 "\x07\x1b end")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.fixture
def hooks(chat_server):
    """A Slack and a Teams destination on the loopback server, both answering."""
    chat_server.expect_request("/slack", method="POST").respond_with_data("ok")
    chat_server.expect_request("/teams", method="POST").respond_with_data("", status=202)

    def make(**flags):
        slack = make_destination(chat_server.url_for("/slack"), kind="slack", name="Slack",
                                 **flags)
        teams = make_destination(chat_server.url_for("/teams"), kind="teams", name="Teams",
                                 **flags)
        return slack, teams

    return make


def _received(app, server, path):
    assert wait_for_posts(app, 30)
    return bodies(server, path)


def _edition(make_user, make_story, make_quote, make_edition, *, stories=7, **kwargs):
    noah = make_user(display_name="Noah Levi")
    amina = make_user(display_name="Amina Diallo")
    items = [make_story(status=P, title=f"Story {i}", colleagues=[noah, amina] if i == 0 else [],
                        names=["Kim Free"] if i == 1 else [])
             for i in range(stories)]
    quotes = [make_quote(status=P), make_quote(status=P)]
    items.reverse()  # the edition's order is not the order of creation
    edition = make_edition(status=EditionStatus.SENT, items=[*items, *quotes],
                           subject="Umbrellas & kind words", intro_md="Hello **everyone**.\n\n"
                           "- first\n- second", **kwargs)
    return edition, items, quotes


def _send(edition, stories, quotes):
    begin_write()  # as the dispatcher does: the posting thread may be writing
    subscribers.post_edition_sent(EditionSent(
        edition_id=edition.id, number=edition.number, story_ids=[s.id for s in stories],
        quote_ids=[q.id for q in quotes]))
    db.session.commit()


def test_edition_sent_posts_a_block_kit_message_and_an_adaptive_card(
        app, chat_server, hooks, make_user, make_story, make_quote, make_edition):
    hooks(on_edition_sent=True)
    edition, stories, quotes = _edition(make_user, make_story, make_quote, make_edition)
    _send(edition, stories, quotes)

    [slack] = _received(app, chat_server, "/slack")
    [teams] = _received(app, chat_server, "/teams")
    check_slack(slack)
    check_teams(teams)
    url = f"http://localhost/editions/{edition.number}"

    blocks = slack["blocks"]
    assert blocks[0]["text"]["text"] == (
        f"Feel Good Fridays #{edition.number}: Umbrellas & kind words")
    assert blocks[1]["text"]["text"] == "Hello everyone.\n• first\n• second"
    entries = [b["text"]["text"] for b in blocks if b["type"] == "section"][1:]
    # The first five stories, in the edition's order, each with its colleagues.
    assert [re.search(r"\|(Story \d)>", e).group(1) for e in entries] == [
        "Story 6", "Story 5", "Story 4", "Story 3", "Story 2"]
    assert all(e.startswith(f"*<http://localhost/stories/{s.id}|") for e, s in
               zip(entries, stories, strict=False))
    assert blocks[-2]["elements"][0]["text"] == (
        "7 stories and 2 customer quotes in this edition (2 more stories in the edition)")
    assert blocks[-1]["elements"][0]["url"] == url
    assert blocks[-1]["elements"][0]["text"]["text"] == "Read the edition"
    assert "Umbrellas &amp; kind words" in slack["text"]  # mrkdwn escaped

    content = card(teams)
    runs = teams_runs(teams)
    assert runs[0] == f"Feel Good Fridays #{edition.number}: Umbrellas & kind words"
    assert runs[1:4] == ["Hello everyone.", "• first", "• second"]
    assert [r for r in runs if r.startswith("Story ")] == [
        "Story 6", "Story 5", "Story 4", "Story 3", "Story 2"]
    assert content["actions"] == [{"type": "Action.OpenUrl", "title": "Read the edition",
                                   "url": url}]
    assert [b for b in content["body"] if b["type"] == "TextBlock"] == [
        {"type": "TextBlock", "text": "Feel Good Fridays", "size": "Small", "weight": "Bolder",
         "color": "Accent", "wrap": True}]  # the one TextBlock (Markdown) has no typed text


def test_colleagues_are_named_with_their_stories(
        app, chat_server, hooks, make_user, make_story, make_quote, make_edition):
    hooks(on_edition_sent=True)
    edition, stories, quotes = _edition(make_user, make_story, make_quote, make_edition,
                                        stories=2)
    _send(edition, stories, quotes)
    [slack] = _received(app, chat_server, "/slack")
    texts = "\n".join(slack_texts(slack))
    assert "With Noah Levi and Amina Diallo" in texts and "With Kim Free" in texts
    assert "2 stories and 2 customer quotes in this edition" in texts
    assert "more stories" not in texts
    runs = teams_runs(_received(app, chat_server, "/teams")[0])
    assert "With Noah Levi and Amina Diallo" in runs and "With Kim Free" in runs


def test_hostile_text_is_escaped_stripped_and_capped(
        app, chat_server, hooks, make_user, make_story, make_quote, make_edition):
    hooks(on_edition_sent=True)
    sneaky = make_user(display_name="<@U024BE7LH> & <!here>")
    story = make_story(status=P, title=HOSTILE_TITLE, colleagues=[sneaky])
    intro = ("<!everyone> & <https://evil.example|win> " * 250)[:10_000]
    edition = make_edition(status=EditionStatus.SENT, items=[story], intro_md=intro,
                           subject=("<!channel> & <b>bold</b> \x1b[31m" + "x" * 150)[:150])
    _send(edition, [story], [])

    [slack] = _received(app, chat_server, "/slack")
    check_slack(slack)  # every limit (header 150, sections 3000)
    for text in slack_texts(slack):
        # Nothing typed becomes a mention or a link: the only <…> are the story links.
        assert re.sub(r"<http://localhost/stories/\d+\|", "", text).count("<") == 0
        assert not CONTROL.search(text)
    texts = "\n".join(slack_texts(slack))
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; *bold*" in texts
    assert "&lt;@U024BE7LH&gt; &amp; &lt;!here&gt;" in texts
    assert len(slack["blocks"][1]["text"]["text"]) <= 3000
    assert slack["blocks"][1]["text"]["text"].endswith("…")
    header = slack["blocks"][0]["text"]["text"]
    assert len(header) <= 150 and "\x1b" not in header and header.endswith("…")

    [teams] = _received(app, chat_server, "/teams")
    check_teams(teams)  # and the size limit
    runs = teams_runs(teams)
    # TextRuns are shown as typed: no Markdown, so the title stays text, as typed (minus controls).
    assert "<!channel> <https://evil.example|click> & *bold* [x](https://evil.example) end" in runs
    assert not any(CONTROL.search(r) for r in runs)
    assert sum(len(r) for r in runs) < 3000
    assert all("evil" not in b["text"] for b in card(teams)["body"] if b["type"] == "TextBlock")


def test_only_active_destinations_that_chose_the_event_get_a_post(
        app, chat_server, hooks, make_user, make_story, make_quote, make_edition):
    make_destination(chat_server.url_for("/off"), name="off", active=False)
    make_destination(chat_server.url_for("/unchosen"), name="unchosen", on_edition_sent=False,
                     on_story_published=True)
    hooks(on_edition_sent=True)
    edition, stories, quotes = _edition(make_user, make_story, make_quote, make_edition,
                                        stories=1)
    _send(edition, stories, quotes)
    assert wait_for_posts(app, 30)
    assert sorted(r.path for r, _ in chat_server.log) == ["/slack", "/teams"]


def test_a_duplicate_dispatch_creates_no_second_post(
        app, chat_server, hooks, make_user, make_story, make_quote, make_edition):
    """The same happening announced twice (a second EditionSent event for the edition, run by
    the real dispatcher after each commit) posts once per destination."""
    hooks(on_edition_sent=True)
    edition, stories, quotes = _edition(make_user, make_story, make_quote, make_edition,
                                        stories=1)
    event = EditionSent(edition_id=edition.id, number=edition.number,
                        story_ids=[s.id for s in stories], quote_ids=[q.id for q in quotes])
    db.session.commit()
    for _ in range(2):
        begin_write()  # the posting thread writes too: queue for SQLite's lock, as code must
        emit(event)
        db.session.commit()  # dispatched after this commit, like the sender's
    _send(edition, stories, quotes)  # and the subscriber called once more, directly
    assert wait_for_posts(app, 30)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChatPost)) == 2
    assert sorted(r.path for r, _ in chat_server.log) == ["/slack", "/teams"]


def test_new_story_published_goes_to_its_teams_destinations_only(
        app, chat_server, make_team, make_user, make_story, make_quote):
    chat_server.expect_request("/all").respond_with_data("ok")
    chat_server.expect_request("/sales").respond_with_data("ok")
    chat_server.expect_request("/none").respond_with_data("ok")
    sales, support = make_team("Sales"), make_team("Support")
    make_destination(chat_server.url_for("/all"), name="all", on_edition_sent=False,
                     on_story_published=True)
    make_destination(chat_server.url_for("/sales"), name="sales", on_edition_sent=False,
                     on_story_published=True, team_id=sales.id)
    make_destination(chat_server.url_for("/none"), name="none", on_edition_sent=True,
                     on_story_published=False)
    ours = make_story(status=P, title="Sales saves the day", team=sales,
                      colleagues=[make_user(display_name="Ola Nordmann")],
                      body="First sentence. Second one.\n\n- a list item")
    theirs = make_story(status=P, title="Support shines", team=support)
    draft = make_story(status=SubmissionStatus.APPROVED, title="Not yet", team=sales)
    quote = make_quote(status=P)
    for item in (ours, theirs, draft, quote):
        subscribers.post_new_story(SubmissionPublished(
            item_kind=item.kind, item_id=item.id, author_id=item.author_id, edition_id=1))
    db.session.commit()
    assert wait_for_posts(app, 30)

    everything, sales_only = bodies(chat_server, "/all"), bodies(chat_server, "/sales")
    assert bodies(chat_server, "/none") == []
    assert [b["blocks"][0]["text"]["text"] for b in everything] == [
        "New story: Sales saves the day", "New story: Support shines"]
    [post] = sales_only
    check_slack(post)
    assert post["blocks"][0]["text"]["text"] == "New story: Sales saves the day"
    assert post["blocks"][1]["text"]["text"] == "First sentence. Second one.\n• a list item"
    assert post["blocks"][2]["elements"][0]["text"] == (
        f"By {ours.author.display_name} · with Ola Nordmann · Sales")
    assert post["blocks"][-1]["elements"][0]["url"] == f"http://localhost/stories/{ours.id}"


def test_shout_outs_name_the_colleague_and_respect_the_team(
        app, chat_server, make_team, make_user, make_story, make_edition):
    chat_server.expect_request("/kudos").respond_with_data("", status=202)
    chat_server.expect_request("/ops").respond_with_data("", status=202)
    ops = make_team("Ops")
    make_destination(chat_server.url_for("/kudos"), kind="teams", name="kudos",
                     on_edition_sent=False, on_colleague_featured=True)
    make_destination(chat_server.url_for("/ops"), kind="teams", name="ops",
                     on_edition_sent=False, on_colleague_featured=True, team_id=ops.id)
    ola = make_user(display_name="Ola Nordmann", team=ops)
    kim = make_user(display_name="Kim Lee")
    story = make_story(status=P, title="Night shift heroes", colleagues=[ola, kim])
    edition = make_edition(status=EditionStatus.SENT, items=[story])
    for user in (ola, kim, ola):  # the last one again: no second post
        subscribers.post_shout_out(ColleagueFeatured(user_id=user.id, story_id=story.id,
                                                     edition_id=edition.id))
    db.session.commit()
    assert wait_for_posts(app, 30)

    kudos, ops_posts = bodies(chat_server, "/kudos"), bodies(chat_server, "/ops")
    assert len(kudos) == 2 and len(ops_posts) == 1  # Ops: its own member only
    for body in kudos + ops_posts:
        check_teams(body)
    runs = teams_runs(ops_posts[0])
    assert runs[0] == "🎉 A shout-out for Ola Nordmann"
    assert runs[1] == (f"Ola Nordmann is featured in Feel Good Fridays #{edition.number} for "
                       f"making a customer’s day: “Night shift heroes”, a story by "
                       f"{story.author.display_name}.")
    assert card(ops_posts[0])["actions"][0]["url"] == f"http://localhost/stories/{story.id}"
