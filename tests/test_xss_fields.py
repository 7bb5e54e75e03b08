"""Every XSS payload of the shared corpus, in every text field of a story and a quote, stays
inert on every page that shows it and in every notification email.

The check is structural, not string matching: each page is parsed and every element must use
only tags and attributes that the same page shows for harmless input (plus the Markdown
allow-list), no event handler attributes, no script other than our own files, and no
javascript:/vbscript:/data: URL anywhere.
"""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image

from app import notifications
from app.extensions import db
from app.models import EditionStatus
from app.models import Quote
from app.models import Story
from app.models import SubmissionStatus
from app.richtext import ALLOWED_ATTRIBUTES
from app.richtext import ALLOWED_TAGS
from app.submissions.rules import NAME_MAX
from app.submissions.rules import TITLE_MAX
from app.text import clean_text
from tests.corpora import xss_payloads
from tests.test_submissions import Element
from tests.test_submissions import Page
from tests.test_submissions import quote_form
from tests.test_submissions import story_form

S = SubmissionStatus
URL_ATTRIBUTES = {
    "href", "src", "action", "formaction", "xlink:href", "data", "background", "poster",
    "srcset", "lowsrc", "dynsrc", "codebase", "cite", "longdesc", "usemap", "ping", "content",
}  # fmt: skip
BAD_SCHEME_RE = re.compile(r"^(?:javascript|vbscript|data|livescript|mocha):")
BAD_STYLE_RE = re.compile(r"expression|javascript|url\(|behavio(?:u)?r|binding|@import", re.I)
_INVISIBLE_RE = re.compile(r"[\x00-\x20\x7f\u200b-\u200f\u2028\u2029\ufeff]")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 8), "gold").save(out, "PNG")
    return out.getvalue()


def fit(text: str, limit: int, minimum: int = 1, pad: str = " ok") -> str:
    """Make a payload acceptable to a field's limits without neutralising it."""
    line = clean_text(text)
    if len(line) < minimum:
        text = text + pad * minimum
    return text[:limit] if len(clean_text(text)) > limit else text


def tag_for(payload: str) -> str:
    return fit(payload.replace("/", " ").replace("\\", " ").replace(",", " "), 35) + " x"


def assert_inert(html: str, where: str, allowed: tuple[set[str], set[str]], *, email=False):
    tags, attributes = allowed
    page = Page(html)
    assert page.elements, where
    for element in page.elements:
        problem = _problem(element, tags, attributes, email)
        assert problem is None, f"{where}: {problem} in <{element.tag} {element.attrs}>"
    # Belt and braces on the raw text: no script opening beyond our own external files.
    own = sum(1 for e in page.elements if e.tag == "script")
    assert len(re.findall(r"<\s*script", html, re.I)) == own, where


def _problem(element: Element, tags: set[str], attributes: set[str], email: bool) -> str | None:
    tag = element.tag
    if tag not in tags:
        return f"unexpected tag <{tag}>"
    if tag == "script":
        src = element.attrs.get("src") or ""
        if not src.startswith("/static/") or element.text.strip():
            return "script that is not one of our files"
    if tag == "style" and not email:
        return "style element on a page"
    if tag == "meta" and (element.attrs.get("http-equiv") or "").lower() == "refresh":
        return "meta refresh"
    for name, value in element.attrs.items():
        value = value or ""
        if name.startswith("on"):
            return f"event handler {name}"
        if name not in attributes:
            return f"unexpected attribute {name}"
        if name == "style" and (not email or BAD_STYLE_RE.search(value)):
            return "style attribute"
        if name in URL_ATTRIBUTES and BAD_SCHEME_RE.match(_INVISIBLE_RE.sub("", value).lower()):
            return f"dangerous URL in {name}"
    if tag == "img" and not (element.attrs.get("src") or "").startswith(("/uploads/", "/static/")):
        return "image from elsewhere"
    return None


def _allowed(html_pages: list[str], email: bool = False) -> tuple[set[str], set[str]]:
    tags = set(ALLOWED_TAGS)
    attributes = {a for attrs in ALLOWED_ATTRIBUTES.values() for a in attrs}
    for html in html_pages:
        for element in Page(html).elements:
            tags.add(element.tag)
            attributes.update(element.attrs)
    if email:
        attributes.add("style")
    return tags, attributes


def _create_everything(client, author, colleague, payload: str):
    """Post a story and a quote with `payload` in every field; return them (or None)."""
    story_data = story_form(
        title=fit(payload, TITLE_MAX, 3),
        body=f"{payload}\n\nAnd then the customer smiled. The end.",
        colleagues=colleague.email,
        colleague_names="\n".join(fit(line, NAME_MAX) for line in payload.splitlines() or [""])
        or "Someone",
        tags=tag_for(payload),
        customer_name=fit(payload, NAME_MAX),
        customer_organization=fit(payload, NAME_MAX),
        customer_segment=fit(payload, NAME_MAX),
        customer_consent="y",
        cover_image_alt=fit(payload, 200),
        cover_image=(io.BytesIO(_png()), "cover.png"),
        action="submit",
    )
    response = client.post("/stories/new", data=story_data, content_type="multipart/form-data")
    assert response.status_code == 302, Page(response.get_data(as_text=True)).text[:3000]
    quote_data = quote_form(
        text=f"{payload} Thanks!",
        customer_name=fit(payload, NAME_MAX),
        customer_role=fit(payload, NAME_MAX),
        customer_organization=fit(payload, NAME_MAX),
        customer_consent="y",
        nps_score="10",
        action="submit",
    )
    response = client.post("/quotes/new", data=quote_data)
    assert response.status_code == 302, Page(response.get_data(as_text=True)).text[:3000]
    story = db.session.scalars(sa.select(Story).order_by(Story.id.desc())).first()
    quote = db.session.scalars(sa.select(Quote).order_by(Quote.id.desc())).first()
    return story, quote


@pytest.fixture
def people(make_user):
    author = make_user(display_name="Avery Author", email="avery@example.com")
    colleague = make_user(display_name="Cole League", email="cole@example.com")
    db.session.commit()
    return author, colleague


def _pages(client, story: Story, quote: Quote) -> dict[str, str]:
    urls = {
        "my story": f"/my/stories/{story.id}",
        "my quote": f"/my/quotes/{quote.id}",
        "my submissions": "/my/submissions",
        "edit story": f"/stories/{story.id}/edit",
        "edit quote": f"/quotes/{quote.id}/edit",
        "withdraw story": f"/stories/{story.id}/withdraw",
    }
    pages = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        pages[name] = response.get_data(as_text=True)
    return pages


def _emails(outbox, story: Story, quote: Quote, payload: str, colleague) -> list:
    from tests.factories import make_edition

    edition = make_edition(status=EditionStatus.SENT, items=[story, quote])
    db.session.commit()
    del outbox[:]
    notifications.notify_approved(story)
    notifications.notify_changes_requested(story, payload)
    notifications.notify_rejected(quote, payload)
    notifications.notify_published(story.author, [story, quote], edition, {story.id: payload})
    notifications.notify_featured(colleague, [story], edition)
    db.session.commit()
    assert len(outbox) == 5
    return list(outbox)


_BASELINE: list[tuple[tuple[set[str], set[str]], tuple[set[str], set[str]]]] = []


@pytest.fixture
def baseline(app, people, login_as, outbox):
    """Tags and attributes our templates use for harmless input, per kind of output.

    Computed once per session (the templates don't change between tests)."""
    if _BASELINE:
        return _BASELINE[0]
    author, colleague = people
    client = login_as(author)
    story, quote = _create_everything(client, author, colleague, "A perfectly harmless day")
    _decide(story, quote, "Harmless note")
    pages = _pages(client, story, quote)
    form_pages = [
        client.get("/stories/new").get_data(as_text=True),
        client.post("/stories/new", data=story_form(title="x", colleagues="nobody@x")).get_data(
            as_text=True
        ),
        client.post("/quotes/new", data=quote_form(text="x", received_on="x")).get_data(
            as_text=True
        ),
    ]
    emails = _emails(outbox, story, quote, "Harmless note", colleague)
    html_parts = [m.get_body(("html",)).get_content() for m in emails]
    allowed_pages = _allowed([*pages.values(), *form_pages])
    allowed_emails = _allowed(html_parts, email=True)
    # Start each payload from an empty slate: remove the baseline's rows.
    db.session.execute(sa.delete(Quote))
    db.session.execute(sa.delete(Story))
    db.session.commit()
    _BASELINE.append((allowed_pages, allowed_emails))
    return _BASELINE[0]


def _decide(story: Story, quote: Quote, note: str) -> None:
    """Editor feedback shows on several pages; set it directly (the review UI is elsewhere)."""
    story.status, story.editor_note = S.CHANGES_REQUESTED, note
    quote.status, quote.editor_note = S.CHANGES_REQUESTED, note
    db.session.commit()


@pytest.mark.slow  # the whole corpus, through every page
@pytest.mark.parametrize("payload", xss_payloads())
def test_payload_is_inert_everywhere(app, people, login_as, outbox, baseline, payload):
    allowed_pages, allowed_emails = baseline
    author, colleague = people
    # People's names are text fields too: shown in bylines, "celebrating" lists and emails.
    # Names and editor notes are written directly here, past the services that clean input,
    # so drop NUL (PostgreSQL refuses it in text columns).
    direct = payload.replace("\x00", "")
    author.display_name = fit(direct, NAME_MAX)
    colleague.display_name = fit(direct, NAME_MAX)
    db.session.commit()
    client = login_as(author)

    # 1. The form re-rendered after a validation error echoes everything back.
    response = client.post(
        "/stories/new",
        data=story_form(
            title=payload, body=payload, colleagues=payload, colleague_names=payload,
            tags=payload, customer_name=payload, customer_organization=payload,
            customer_segment=payload, cover_image_alt=payload, cover_token=payload,
            team=payload,
        ),
    )
    assert response.status_code == 200
    assert_inert(response.get_data(as_text=True), "story form re-render", allowed_pages)
    response = client.post(
        "/quotes/new",
        data=quote_form(text=payload, customer_name=payload, customer_role=payload,
                        customer_organization=payload, received_on=payload, source=payload,
                        nps_score=payload, story_id=payload),
    )
    assert response.status_code == 200
    assert_inert(response.get_data(as_text=True), "quote form re-render", allowed_pages)

    # 2. Saved, then shown on every page of this feature.
    story, quote = _create_everything(client, author, colleague, payload)
    _decide(story, quote, direct)
    for name, html in _pages(client, story, quote).items():
        assert_inert(html, name, allowed_pages)
    detail = Page(client.get(f"/my/stories/{story.id}").get_data(as_text=True))
    title = next(e for e in detail.elements if "story-view__title" in (e.attrs.get("class") or ""))
    assert title.text == story.title  # shown as text, exactly

    # 3. The live preview API.
    html = client.post("/api/preview", json={"markdown": payload}).json["html"]
    assert_inert(f"<div>{html}</div>", "preview", allowed_pages)

    # 4. Every notification email.
    for message in _emails(outbox, story, quote, payload, colleague):
        html = message.get_body(("html",)).get_content()
        assert_inert(html, f"email {message['Subject']}", allowed_emails, email=True)


@pytest.mark.parametrize(
    "html",
    [
        "<p><img src=/uploads/x.png onerror=alert(1)></p>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" &#14; java&#x09;script:alert(1)">x</a>',
        '<a href="DATA:text/html,x">x</a>',
        "<script>alert(1)</script>",
        '<script src="https://evil.example/x.js"></script>',
        '<iframe src="https://example.com"></iframe>',
        '<p style="color:red">x</p>',
        '<div srcdoc="x">x</div>',
        '<img src="https://evil.example/pixel.gif">',
    ],
)
def test_the_checker_itself_catches_active_content(html):
    allowed = ({"p", "a", "div", "script", "img"}, {"href", "src", "class", "style"})
    with pytest.raises(AssertionError):
        assert_inert(html, "sample", allowed)
