"""Notification emails: the right people, after commit only, readable in both parts, with
absolute links that work from a request and from the scheduler alike."""

from __future__ import annotations

import pytest

from app import notifications
from app.extensions import db
from app.models import EditionStatus
from app.models import SubmissionStatus
from tests.test_submissions import Page

S = SubmissionStatus


def parts(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def only(outbox):
    assert len(outbox) == 1, [m["To"] for m in outbox]
    return outbox[0]


@pytest.fixture
def author(make_user):
    user = make_user(display_name="Priya Raman", email="priya@example.com")
    db.session.commit()
    return user


@pytest.fixture
def story(make_story, author):
    item = make_story(author, title="A late-night call that saved a holiday", status=S.APPROVED)
    db.session.commit()
    return item


def test_approved(outbox, story):
    notifications.notify_approved(story)
    db.session.commit()
    message = only(outbox)
    assert message["To"] == "priya@example.com"
    assert message["Subject"] == "Your story “A late-night call that saved a holiday” was approved"
    text, html = parts(message)
    assert "Good news, Priya!" in text
    assert f"http://localhost/my/stories/{story.id}" in text
    assert f'href="http://localhost/my/stories/{story.id}"' in html


def test_changes_requested_carries_the_note_and_an_edit_link(outbox, story):
    notifications.notify_changes_requested(story, "Could you add what she said?\nThanks <3")
    db.session.commit()
    text, html = parts(only(outbox))
    assert "Could you add what she said?" in text and "Thanks <3" in text
    assert "Thanks &lt;3" in html
    assert f"http://localhost/stories/{story.id}/edit" in text
    assert "An editor suggested changes to" in only(outbox)["Subject"]


def test_rejected_carries_the_reason(outbox, make_quote, author):
    quote = make_quote(
        author, text="Fantastic help from **everyone** at the branch", status=S.REJECTED
    )
    db.session.commit()
    notifications.notify_rejected(quote, "We can't name the customer without consent.")
    db.session.commit()
    message = only(outbox)
    assert message["Subject"] == "About your quote “Fantastic help from everyone at the branch”"
    text, html = parts(message)
    assert "We can't name the customer without consent." in text
    assert "We can't name the customer without consent." in Page(html).text
    assert f"http://localhost/my/quotes/{quote.id}" in text
    assert "http://localhost/stories/new" in text


def test_published_is_one_email_listing_everything_with_editor_changes(
    app, outbox, author, story, make_quote, make_story, make_edition
):
    quote = make_quote(author, text="You made my week.", status=S.PUBLISHED)
    second = make_story(author, title="Second story", status=S.PUBLISHED)
    edition = make_edition(number=12, status=EditionStatus.SENT, items=[story, quote, second])
    db.session.commit()
    notifications.notify_published(
        author,
        [story, quote, second],
        edition,
        {story.id: "Shortened the title.\nFixed a typo in the second paragraph."},
    )
    db.session.commit()
    message = only(outbox)
    assert message["Subject"] == "3 of your submissions are in Feel Good Fridays #12!"
    text, html = parts(message)
    for needle in ("A late-night call that saved a holiday", "You made my week.", "Second story"):
        assert needle in text and needle in html
    assert text.count("What the editor changed") == 1
    assert "Fixed a typo in the second paragraph." in text
    expected = (
        "http://localhost/" + app.url_map.bind("x").build("newsletter.edition", {"number": 12})[1:]
        if "newsletter.edition" in app.view_functions
        else "http://localhost/"
    )
    assert f"Read the edition: {expected}" in text
    assert f'href="{expected}"' in html


def test_published_single_item_subject(outbox, author, story, make_edition):
    edition = make_edition(number=3, status=EditionStatus.SENT, items=[story])
    notifications.notify_published(author, [story], edition)
    db.session.commit()
    assert only(outbox)["Subject"] == "You're in Feel Good Fridays #3!"
    assert "What the editor changed" not in parts(outbox[0])[0]


def test_featured_goes_to_the_colleague_with_all_their_stories(
    outbox, author, make_user, make_story, make_edition
):
    noah = make_user(display_name="Noah Levi", email="noah@example.com")
    amina = make_user(display_name="Amina Diallo", email="amina@example.com")
    first = make_story(
        author, title="Holiday saved", colleagues=[noah, amina], names=["Sam (airline)"],
        customer_name="Hannah", customer_segment="retail banking", status=S.PUBLISHED,
        body="She boarded **with ten minutes** to spare.",
    )
    second = make_story(author, title="A calm voice", colleagues=[noah], status=S.PUBLISHED)
    edition = make_edition(number=5, status=EditionStatus.SENT, items=[first, second])
    db.session.commit()
    notifications.notify_featured(noah, [first, second], edition)
    db.session.commit()
    message = only(outbox)
    assert message["To"] == "noah@example.com"
    assert message["Subject"] == "You were featured in Feel Good Fridays #5 🎉"
    text, html = parts(message)
    assert "Noah, you made someone's day" in text
    assert "Holiday saved" in text and "A calm voice" in text
    assert "also celebrating Amina Diallo, Sam (airline)" in text
    assert "Noah Levi" not in text  # not "also celebrating" himself
    assert "For a customer in retail banking." in text and "Hannah" not in text
    assert "She boarded with ten minutes to spare." in text
    assert "Shared by Priya Raman" in html


def test_nobody_deactivated_is_emailed(outbox, make_user, make_story, make_edition):
    gone = make_user(active=False)
    story = make_story(gone, status=S.APPROVED, colleagues=[gone])
    edition = make_edition(status=EditionStatus.SENT, items=[story])
    db.session.commit()
    notifications.notify_approved(story)
    notifications.notify_changes_requested(story, "x")
    notifications.notify_rejected(story, "x")
    notifications.notify_published(gone, [story], edition)
    notifications.notify_featured(gone, [story], edition)
    db.session.commit()
    assert outbox == []


def test_opted_out_people_still_hear_about_their_own_submissions(outbox, make_user, make_story):
    user = make_user(email_opt_out=True)
    story = make_story(user, status=S.APPROVED)
    db.session.commit()
    notifications.notify_approved(story)
    db.session.commit()
    assert only(outbox)["To"] == user.email


def test_nothing_to_announce_sends_nothing(outbox, author, make_edition):
    edition = make_edition(status=EditionStatus.SENT)
    notifications.notify_published(author, [], edition)
    notifications.notify_featured(author, [], edition)
    db.session.commit()
    assert outbox == []


def test_sent_only_after_commit_and_dropped_on_rollback(outbox, story):
    notifications.notify_approved(story)
    assert outbox == []
    db.session.rollback()
    assert outbox == []
    notifications.notify_approved(story)
    db.session.commit()
    assert len(outbox) == 1


def test_links_are_the_same_inside_a_request(app, outbox, story):
    with app.test_request_context("/anything", base_url="http://elsewhere.example"):
        notifications.notify_approved(story)
        db.session.commit()
    text, _ = parts(only(outbox))
    assert f"http://localhost/my/stories/{story.id}" in text
    assert "elsewhere.example" not in text


def test_line_breaks_in_a_title_never_reach_the_subject(outbox, story):
    story.title = "Two\r\nlines\nBcc: victim@example.com"
    db.session.commit()
    notifications.notify_approved(story)
    db.session.commit()
    assert only(outbox)["Subject"] == "Your story “Two lines Bcc: victim@example.com” was approved"
    assert only(outbox)["Bcc"] is None


def test_long_titles_are_shortened_in_the_subject(outbox, story):
    story.title = "word " * 29
    db.session.commit()
    notifications.notify_approved(story)
    db.session.commit()
    subject = only(outbox)["Subject"]
    assert len(subject) < 100 and "…" in subject


def test_html_parts_are_well_formed_enough_to_parse(outbox, story, make_edition, author):
    edition = make_edition(status=EditionStatus.SENT, items=[story])
    notifications.notify_approved(story)
    notifications.notify_changes_requested(story, "note")
    notifications.notify_rejected(story, "reason")
    notifications.notify_published(author, [story], edition, {story.id: "change"})
    notifications.notify_featured(author, [story], edition)
    db.session.commit()
    assert len(outbox) == 5
    for message in outbox:
        text, html = parts(message)
        assert text.strip() and "{{" not in text and "{%" not in text
        page = Page(html)
        assert any(e.tag == "a" and e.attrs.get("href", "").startswith("http://localhost/")
                   for e in page.elements)
