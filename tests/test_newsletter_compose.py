"""Compilation: rendered once, personalised by substitution, frozen at send time; and the
prepared MIME messages equal what the email package would parse out of them."""

from __future__ import annotations

import copy
import email
import email.generator
import email.policy
import io
import re
from datetime import UTC
from datetime import datetime

import pytest

from app.extensions import db
from app.mail import HeaderInjectionError
from app.models import EditionStatus
from app.models import SubmissionStatus
from app.newsletter import compose
from app.newsletter.compose import personalize
from app.newsletter.compose import render_edition
from app.newsletter.mime import EditionMailer
from app.richtext import render_markdown
from app.settings import set_settings
from tests import factories
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of

SENDER = "Feel Good Fridays <news@fgf.example>"


def _personal(rendered, **kwargs):
    values = {
        "first_name": "Ana",
        "unsubscribe_url": "https://x.test/u/t",
        "web_url": "https://x.test/e/1",
    }
    values.update(kwargs)
    return personalize(rendered, **values)


def test_edition_email_has_everything_a_reader_needs(app):
    # Layout and personalisation with the links as typed; tracked links: tests/test_engagement_*.
    set_settings({"track_clicks": False, "track_opens": False}, actor=None)
    edition = seed_edition(intro_md="Welcome to **this** week!")
    edition.intro_html = str(render_markdown(edition.intro_md))
    rendered = render_edition(edition)
    html, text = _personal(rendered)

    assert rendered.subject == f"Feel Good Fridays #{edition.number}: A holiday saved"
    assert "Hi Ana," in html and "Hi Ana," in text
    # Responsive table layout, at most 600 px, CSS inlined, dark mode kept in a media query.
    assert re.search(r'class="container"[^>]*style="[^"]*max-width: ?600px', html)
    assert 'width="600"' in html
    assert re.search(r'<td class="px story" style="[^"]*padding', html)  # inlined
    assert "prefers-color-scheme: dark" in html
    # The story, its colleagues and the quote, in both parts.
    assert "A late-night call that saved a family holiday" in html
    assert "Noah Levi and Amina Diallo" in html and "Noah Levi and Amina Diallo" in text
    assert "You made my week." in html and "> You made my week." in text
    assert "NPS 10/10" in html
    # Text is written for text: quotes as "> ", links with their URL, no markup.
    assert '> "I expected a script."' in text
    assert "our process (https://example.com/process)" in text
    assert "<" not in text.replace("<b>", "")
    # Links: read on the web, permalinks to each story, unsubscribe in the footer.
    assert 'href="https://x.test/e/1"' in html
    assert f'href="https://x.test/e/1#story-{story_of(edition).id}"' in html
    assert re.search(r'href="https://x.test/u/t"[^>]*>Unsubscribe</a>', html)
    assert "Unsubscribe: https://x.test/u/t" in text
    assert "Read this edition on the web: https://x.test/e/1" in text


def test_personalize_escapes_values_and_never_rerenders(app):
    rendered = render_edition(seed_edition())
    html, text = _personal(
        rendered,
        first_name='<script>alert("x")</script>',
        unsubscribe_url='https://x.test/u?a=1&b="2"',
    )
    assert "<script>alert" not in html
    assert "Hi &lt;script&gt;alert(&#x27;x&#x27;)" in html or "Hi &lt;script&gt;" in html
    assert 'href="https://x.test/u?a=1&amp;b=&quot;2&quot;"' in html
    assert 'Hi <script>alert("x")</script>,' in text  # text/plain is not HTML
    assert "%%FGF:" not in html and "%%FGF:" not in text


def test_greeting_falls_back_for_nameless_recipients(app):
    html, text = _personal(render_edition(seed_edition()), first_name=None)
    assert "Hi there," in html and "Hi there," in text


def test_markers_typed_by_users_stay_literal(app):
    edition = seed_edition()
    story = story_of(edition)
    story.title = "Look: %%FGF:UNSUBSCRIBE_URL%%"
    story.body_md = "Body %%FGF:WEB_URL%% here"
    story.body_html = str(render_markdown(story.body_md))
    html, text = _personal(render_edition(edition))
    assert "https://x.test/u/t" not in html.split("Unsubscribe</a>")[0].split("Look:")[1]
    assert "Look: %&#37;FGF:UNSUBSCRIBE_URL%%" in html
    assert "Body %%FGF\u2060:WEB_URL%% here" in text


def test_cover_image_is_absolute_with_alt_text(app):
    edition = seed_edition()
    story = story_of(edition)
    story.cover_image = "abc123.jpg"
    story.cover_image_alt = "Noah at the desk"
    html, _ = _personal(render_edition(edition))
    match = re.search(r'<img class="cover"[^>]* src="([^"]+)" alt="([^"]+)"', html)
    assert match, html
    assert match.group(1).startswith("http://localhost/") and match.group(1).endswith("abc123.jpg")
    assert match.group(2) == "Noah at the desk"


def test_empty_edition_renders_the_placeholder(app):
    edition = seed_edition(with_items=False)
    html, text = _personal(render_edition(edition))
    assert "No stories this week" in html and "No stories this week" in text


def test_sent_edition_is_frozen(app):
    edition = seed_edition(status=EditionStatus.SENDING)
    compose.freeze_edition(edition, now=datetime(2026, 3, 27, 8, tzinfo=UTC))
    db.session.commit()
    story = story_of(edition)
    story.title = "Edited after sending"
    db.session.commit()
    rendered = render_edition(edition)
    assert "A late-night call" in rendered.html and "Edited after sending" not in rendered.html
    assert "A late-night call" in rendered.web_html
    assert "Friday 27 March 2026" in rendered.text  # the send date, not today's


def test_quote_attribution_respects_consent(app):
    author = factories.make_user()
    quote = factories.make_quote(author, status=SubmissionStatus.APPROVED, text="Brilliant.",
                                 customer_name="Hannah Secret", customer_consent=False)
    edition = factories.make_edition(items=[quote])
    html, text = _personal(render_edition(edition))
    assert "Hannah Secret" not in html and "Hannah Secret" not in text
    assert "A customer" in html


# -- prepared MIME messages ------------------------------------------------------------------------


def _mailer(rendered, **kwargs):
    return EditionMailer(rendered, sender=SENDER, web_url="https://x.test/editions/1",
                         list_id="Feel Good Fridays <fgf.fgf.example>", **kwargs)


def _parse(message):
    """What smtplib sends (flattened by the email generator) must be the prepared bytes, and a
    well-formed message (no parser defects)."""
    with io.BytesIO() as buffer:
        email.generator.BytesGenerator(buffer).flatten(copy.copy(message), linesep="\r\n")
        flat = buffer.getvalue()
    assert flat == message.wire_bytes()
    parsed = email.message_from_bytes(flat, policy=email.policy.default)
    assert not parsed.defects and all(not part.defects for part in parsed.walk())
    return parsed


@pytest.mark.parametrize(
    "name, first",
    [
        ("Ana Lima", "Ana"),
        ("Zoë Ünal-Østergård", "Zoë"),
        ('O"Brien, Pat', 'O"Brien,'),
        (None, None),
    ],
)
def test_prepared_message_equals_personalize(app, name, first):
    rendered = render_edition(seed_edition())
    unsubscribe = "https://x.test/unsubscribe/" + "t" * 90  # longer than a QP line
    message = _mailer(rendered).message(
        email_address="ana@example.com", name=name, first_name=first,
        message_id="<fgf.1.abc.u7@fgf.example>", unsubscribe_url=unsubscribe,
    )
    parsed = _parse(message)
    html, text = personalize(rendered, first_name=first, unsubscribe_url=unsubscribe,
                             web_url="https://x.test/editions/1")

    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == html
    assert parsed["To"].addresses[0].addr_spec == "ana@example.com"
    if name:
        assert parsed["To"].addresses[0].display_name == name
    assert parsed["Subject"] == rendered.subject
    assert parsed["Message-ID"] == "<fgf.1.abc.u7@fgf.example>"
    mailto = "mailto:news@fgf.example?subject=unsubscribe"
    assert parsed["List-Unsubscribe"] == f"<{unsubscribe}>, <{mailto}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "Feel Good Fridays <fgf.fgf.example>"
    assert parsed["Date"].datetime.tzinfo is not None
    raw = message.wire_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    body_lines = raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body_lines) <= 76  # quoted-printable's limit
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF everywhere


def test_test_subject_prefix_and_non_ascii_subject(app):
    edition = seed_edition(subject="Zoë’s café")
    message = _mailer(render_edition(edition), subject_prefix="[TEST] ").message(
        email_address="a@example.com", name="A", first_name="A", message_id="<m@x>",
        unsubscribe_url="https://x.test/u",
    )
    assert _parse(message)["Subject"] == f"[TEST] Feel Good Fridays #{edition.number}: Zoë’s café"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"email_address": "a@example.com\r\nBcc: evil@example.com"},
        {"email_address": "not-an-address"},
        {"message_id": "<m@x>\r\nBcc: evil@example.com"},
        {"unsubscribe_url": "https://x.test/u\r\nBcc: evil@example.com"},
    ],
)
def test_prepared_message_refuses_header_injection(app, kwargs):
    values = {"email_address": "a@example.com", "name": "A", "first_name": "A",
              "message_id": "<m@x>", "unsubscribe_url": "https://x.test/u"}
    values.update(kwargs)
    with pytest.raises(HeaderInjectionError):
        _mailer(render_edition(seed_edition())).message(**values)


def test_names_with_line_breaks_are_flattened(app):
    message = _mailer(render_edition(seed_edition())).message(
        email_address="a@example.com", name="Eve\r\nBcc: evil@example.com", first_name="Eve",
        message_id="<m@x>", unsubscribe_url="https://x.test/u",
    )
    parsed = _parse(message)
    assert parsed["Bcc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["a@example.com"]


def test_preheader_is_one_line_even_when_the_intro_is_a_list(db, make_edition):
    from app.newsletter.compose import _preheader

    edition = make_edition(intro_md="This week:\n\n- a rescue\n- a thank-you")
    assert _preheader(edition, [], []) == "This week: a rescue a thank-you"
