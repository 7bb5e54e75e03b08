"""Excerpts keep their lines where people read them: the "you were featured" email (text and
HTML parts) and "My submissions". (Cards: tests/test_reading.py; the function itself:
tests/test_richtext.py.)"""

from __future__ import annotations

from app import notifications
from app.extensions import db
from app.models import EditionStatus
from app.models import SubmissionStatus

S = SubmissionStatus
BODY = (
    "Noah turned the evening around:\n\n"
    "1. called the airline\n"
    "2. rebooked the <i>whole</i> family\n"
    "    - even the dog\n\n"
    "She boarded with ten minutes to spare."
)


def test_featured_email_shows_list_items_on_their_own_lines(
    outbox, make_user, make_story, make_edition
):
    author = make_user(display_name="Priya Raman")
    noah = make_user(display_name="Noah Levi", email="noah@example.com")
    story = make_story(author, title="Holiday saved", colleagues=[noah], body=BODY,
                       status=S.PUBLISHED)
    edition = make_edition(number=5, status=EditionStatus.SENT, items=[story])
    db.session.commit()
    notifications.notify_featured(noah, [story], edition)
    db.session.commit()

    (message,) = outbox
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # The text part: one line each, indented under the story like the lines above them.
    assert (
        "  Noah turned the evening around:\n"
        "  1. called the airline\n"
        "  2. rebooked the <i>whole</i> family\n"
        "    \u25e6 even the dog\n"
        "  She boarded with ten minutes to spare.\n"
    ) in text.replace("\r\n", "\n")
    # The HTML part: line breaks between the escaped lines, never the typed markup.
    assert (
        "<p>Noah turned the evening around:<br>1. called the airline<br>"
        "2. rebooked the &lt;i&gt;whole&lt;/i&gt; family<br>  \u25e6 even the dog<br>"
        "She boarded with ten minutes to spare.</p>"
    ) in html
    assert "<i>whole</i>" not in html


def test_my_submissions_shows_a_quote_on_one_line(employee_client, employee, make_quote):
    make_quote(employee, text="- fast\n- kind\n- thorough")
    db.session.commit()
    page = employee_client.get("/my/submissions").get_data(as_text=True)
    assert "“fast kind thorough”" in page
