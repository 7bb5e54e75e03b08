"""Compile an edition into its email (HTML + text) and web page: rendered ONCE per edition.

Per-recipient parts (first name, unsubscribe and web links, the tracking tag and the applause
token of the links: app/engagement/recipients.py) are left as markers that
`personalize` fills in with plain string substitution, so sending 20,000 copies costs one
template render plus 20,000 cheap substitutions. Once an edition is sent its compiled parts are
stored on the row (`freeze_edition`) and everything afterwards (archive page, re-sends, retries)
uses those frozen strings, so later edits to a story never change what was emailed.

The email is full-length up to the `teaser_threshold` setting's number of stories; above it, an
"In this edition" list and teaser cards (`richtext.two_sentences`, "Read the story" to the
story's page); `uses_teasers` decides.
The web page compiled in the same call always shows every story in full.
"""

from __future__ import annotations

import html as html_lib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import render_template
from markupsafe import Markup
from PIL import Image as PILImage

from app.branding import Brand
from app.branding import brand as current_brand
from app.branding.colors import AA
from app.branding.colors import BLACK
from app.branding.colors import WHITE
from app.branding.colors import readable_on
from app.engagement.links import applause_link
from app.engagement.links import open_image_url
from app.engagement.links import track_links
from app.engagement.recipients import NO_APPLAUSE
from app.engagement.recipients import NO_TRACK
from app.mail import render_email
from app.models import Edition
from app.models import EditionStatus
from app.models import Quote
from app.models import Story
from app.models import utcnow
from app.newsletter import links
from app.newsletter.due import upcoming as due_editions
from app.photos.urls import email_photo_url
from app.richtext import excerpt
from app.richtext import excerpt_lines
from app.richtext import render_plain_text
from app.richtext import two_sentences
from app.settings import get_setting
from app.settings import get_settings
from app.submissions import uploads
from app.text import join_names
from app.web.urls import absolute_url
from app.web.urls import base_url
from app.web.urls import path_for

# Canonical markers, as stored in frozen content. User text can never produce one (see
# `_finish`), so substitution only ever touches what the templates put there.
FIRST_NAME = "FIRST_NAME"
UNSUBSCRIBE_URL = "UNSUBSCRIBE_URL"
WEB_URL = "WEB_URL"
TRACK = "TRACK"  # which message a tracked click or open came from
APPLAUSE = "APPLAUSE"  # the reader's token in the email's "Applaud" links
_KEYS = (FIRST_NAME, UNSUBSCRIBE_URL, WEB_URL, TRACK, APPLAUSE)
_PREFIX = "%%FGF:"
MARKER_PATTERN = r"%%FGF:(FIRST_NAME|UNSUBSCRIBE_URL|WEB_URL|TRACK|APPLAUSE)%%"
_MARKER_RE = re.compile(MARKER_PATTERN)
_BLANK_LINES_RE = re.compile(r"\n{3,}")
GREETING_FALLBACK = "there"


def marker(key: str) -> str:
    return f"{_PREFIX}{key}%%"


@dataclass(frozen=True, slots=True)
class RenderedEdition:
    """One edition compiled for every recipient; `html`/`text` still carry the markers."""

    subject: str
    html: str
    text: str
    web_html: str


@dataclass(frozen=True, slots=True)
class StoryView:
    """What every rendering (email HTML, text, web page) shows of a story."""

    id: int
    anchor: str
    title: str
    body_html: Markup
    body_text: str
    eyebrow: list[str]
    colleagues: list[str]
    author_name: str
    customer: str
    cover_path: str | None
    cover_alt: str
    story_path: str | None
    kind: str = "story"
    # Recognized colleagues with a photo: (name, absolute session-free URL), shown small next
    # to their names in the email (the text part and the web page keep the names only).
    faces: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class QuoteView:
    id: int
    anchor: str
    text_html: Markup
    text_plain: str
    attribution: str
    source_label: str
    nps: int | None
    shared_by: str
    kind: str = "quote"


def render_edition(edition: Edition) -> RenderedEdition:
    """The edition as emailed: its frozen parts once sent, otherwise compiled from its items."""
    if edition.content_html and edition.content_text is not None and edition.web_html is not None:
        return RenderedEdition(
            subject=edition.full_subject,
            html=edition.content_html,
            text=edition.content_text,
            web_html=edition.web_html,
        )
    return compile_edition(edition)


def render_as_it_will_go_out(
    edition: Edition, *, now: datetime | None = None, embed: bool | None = None
) -> RenderedEdition:
    """The edition exactly as recipients will get it: its frozen parts once sent; before that,
    compiled from its items and dated by when the scheduler will send it (not by today), so
    previews, the editors' page of an unsent edition and the test email carry the date,
    number and subject of the real one. `embed` overrides the `embed_images` setting (the
    preview's size with and without pictures); a frozen edition stays as it was sent."""
    open_ = (EditionStatus.DRAFT, EditionStatus.SCHEDULED)
    if edition.content_html or edition.status not in open_:
        return render_edition(edition)
    now = now or utcnow()
    due = next((d.at for e, d in due_editions(now) if e.id == edition.id), None)
    return compile_edition(edition, now=due or now, embed=embed)


def freeze_edition(edition: Edition, *, now: datetime | None = None) -> RenderedEdition:
    """Compile and store the parts on the row; idempotent once frozen (resume, re-send)."""
    if edition.content_html:
        return render_edition(edition)
    rendered = compile_edition(edition, now=now)
    edition.content_html = rendered.html
    edition.content_text = rendered.text
    edition.web_html = rendered.web_html
    return rendered


def compile_edition(
    edition: Edition, *, now: datetime | None = None, embed: bool | None = None
) -> RenderedEdition:
    """Render the templates from the edition's current items (drafts, previews, freezing).

    `embed` (default: the `embed_images` setting) makes the email's cover pictures `cid:`
    references that `EditionMailer` attaches (app/newsletter/mime.py)."""
    items = [item_view(item.content) for item in edition.items if item.content is not None]
    stories = [i for i in items if isinstance(i, StoryView)]
    quotes = [i for i in items if isinstance(i, QuoteView)]
    when = edition.sent_at or edition.sending_started_at or edition.scheduled_at or now or utcnow()
    settings = get_settings("timezone", "teaser_threshold", "embed_images")
    zone = ZoneInfo(settings["timezone"])
    local = when.astimezone(zone)
    nonce = secrets.token_hex(8)
    markers = {key: f"%%FGF-{nonce}:{key}%%" for key in _KEYS}  # made canonical in _finish
    teasers = uses_teasers(len(stories), settings["teaser_threshold"])
    embed = bool(settings["embed_images"]) if embed is None else embed
    context = {
        "edition": edition,
        "items": items,
        "stories": stories,
        "quotes": quotes,
        "date_label": f"{local:%A} {local.day} {local:%B %Y}",
        "summary": _summary(len(stories), len(quotes)),
        "intro_html": Markup(edition.intro_html or ""),  # noqa: S704 - sanitized by richtext
        "intro_text": render_plain_text(edition.intro_md or ""),
        "preheader": _preheader(edition, stories, quotes),
        "base_url": base_url(),
        "share_url": absolute_url("submissions.new_story"),
        "first_name": markers[FIRST_NAME],
        "unsubscribe_url": markers[UNSUBSCRIBE_URL],
        "web_url": markers[WEB_URL],
        "track": markers[TRACK],
        "applause": markers[APPLAUSE],
        "join_names": join_names,
        "teasers": teasers,
        "extras": {s.id: _email_extras(edition, s, markers[APPLAUSE], teaser=teasers, embed=embed)
                   for s in stories},
        "open_image_url": open_image_url(edition.id, markers[TRACK]),  # None: opens not counted
        **email_style(),
    }
    text, email_html = render_email("newsletter", **context)
    web_html = render_template("newsletter/_edition_body.html", **context)
    email_html, text = track_links(
        edition, _finish(email_html, nonce, html=True), _finish(_tidy_text(text), nonce, html=False)
    )
    return RenderedEdition(
        subject=edition.full_subject,
        html=email_html,
        text=text,
        web_html=_finish(web_html, nonce, html=True),
    )


# -- the email's look and its per-story parts ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailExtras:
    """What the email adds to a story beyond `StoryView` (the web page needs none of it)."""

    story_url: str  # the story's own page (teaser cards' "Read the story")
    applause_url: str  # "👏 Applaud": signed per recipient through the APPLAUSE marker
    cover_src: str | None  # absolute URL, or `cid:` when the picture travels in the message
    teaser: str  # the two-sentence excerpt ("" in the full layout), lines kept


def _email_extras(edition: Edition, story: StoryView, applause_marker: str, *, teaser: bool,
                  embed: bool) -> EmailExtras:
    return EmailExtras(
        story_url=base_url() + story.story_path if story.story_path else "",
        applause_url=applause_link(edition.id, story.id, applause_marker),
        cover_src=cover_src(story.cover_path, embed=embed),
        teaser=two_sentences(excerpt_lines(story.body_html, is_html=True), TEASER_CHARS)
        if teaser else "",
    )


# Inline (CID) cover pictures: `cid:<upload name>@fgf.inline`. Upload names are random and
# immutable (app/submissions/uploads.py), so the reference names the file; the mailer attaches
# it, or, when the file is gone by the time the message is built, puts the remote URL back.
CID_DOMAIN = "fgf.inline"
# Only an <img> tag's src counts: user text is escaped, so it can never write "<img".
CID_RE = re.compile(r'(<img\b[^>]*?\ssrc=")cid:([A-Za-z0-9_-]{22}\.(?:jpg|png|webp))@fgf\.inline"')


def cover_src(cover_path: str | None, *, embed: bool) -> str | None:
    """Where the email's cover picture comes from: a `cid:` reference when embedding and the
    file is there, else its absolute URL (as before)."""
    if not cover_path:
        return None
    name = cover_path.rsplit("/", 1)[-1]
    if embed and uploads.path_for(name) is not None:
        return f"cid:{name}@{CID_DOMAIN}"
    return base_url() + cover_path


def remote_url_for_cid(name: str) -> str:
    return base_url() + (links.upload_path(name) or "")


# The 1×1 open image (only the layout writes an <img> with a class: user text is escaped).
_OPEN_IMAGE_RE = re.compile(r'<img\b[^>]*\sclass="open-image"[^>]*>')


def for_browser_preview(html: str) -> str:
    """The email's HTML as the in-app preview shows it: pictures from the site (a browser
    cannot resolve `cid:`) and no open image (a preview is never a read, and BASE_URL may not
    be reachable from where the editor is)."""
    return _OPEN_IMAGE_RE.sub("", with_remote_images(html))


def with_remote_images(html: str) -> str:
    """The email's HTML with every inline picture fetched from the site instead (browser
    previews, and the size of the message without attachments)."""
    return CID_RE.sub(lambda m: f'{m.group(1)}{remote_url_for_cid(m.group(2))}"', html)


# Where the email writes the accent as text: on white (cards) and on the cream hero and "In
# this edition" box; in dark mode on the dark card, hero/box and applause-button backgrounds.
LIGHT_SURFACES = ("#ffffff", "#fff4e0")
DARK_SURFACES = ("#1d1f26", "#2a2419", "#2a2c34", "#121318")


def email_style(brand: Brand | None = None) -> dict[str, object]:
    """The brand as the email's templates use it: `accent` (buttons' background and the
    stripe; white text on it reads at AA, checked when it was saved), `accent_text` (the accent
    as text: a darker shade where it would not reach AA on the cream surfaces) and
    `accent_dark` (the accent as text in dark mode: a lighter shade that reads on the dark
    backgrounds), the logo and the footer line. `brand()` has normalised the accent, so only a
    `#rrggbb` ever reaches the <style> block."""
    brand = brand or current_brand()
    accent = brand.accent
    logo_size = _logo_size(brand) if brand.logo_url else None
    return {
        "brand": brand,
        "accent": accent,
        "accent_text": readable_on(accent, LIGHT_SURFACES, AA, toward=BLACK),
        "accent_dark": readable_on(accent, DARK_SURFACES, AA, toward=WHITE),
        "logo_url": brand.logo_url if logo_size else None,
        "logo_width": logo_size[0] if logo_size else None,
        "logo_height": logo_size[1] if logo_size else None,
        "brand_footer": " ".join((brand.footer or "").split()),
    }


LOGO_HEIGHT = 48  # px in the email's hero
LOGO_MAX_WIDTH = 320


def _logo_size(brand: Brand) -> tuple[int, int] | None:
    """The logo's size in the email: 48 px high, at most 320 px wide, aspect kept. Outlook
    sizes images by their attributes only, so they must be right. None when the file cannot
    be read (the sun mark is shown rather than a broken picture)."""
    from app.branding import storage  # PIL header read only: width and height

    path = storage.path_for(brand.logo_key or "")
    if path is None:
        return None
    try:
        with PILImage.open(path) as image:
            width, height = image.size
    except (OSError, ValueError):
        return None
    shown = (max(1, round(width * LOGO_HEIGHT / height)), LOGO_HEIGHT)
    if shown[0] > LOGO_MAX_WIDTH:
        shown = (LOGO_MAX_WIDTH, max(1, round(height * LOGO_MAX_WIDTH / width)))
    return shown


# -- teasers ------------------------------------------------------------------------------------

TEASER_CHARS = 300  # a teaser card's excerpt at most


def uses_teasers(stories: int, threshold: int | None = None) -> bool:
    """Whether an email of `stories` stories has the short layout ("In this edition" and teaser
    cards): more stories than the `teaser_threshold` setting. The one place that decides it
    (the composer, the preview page's "Layout" line)."""
    if threshold is None:
        threshold = get_setting("teaser_threshold")
    return stories > int(threshold)


def render_bulk(template: str, subject: str, **context: object) -> RenderedEdition:
    """Any bulk email (the weekly nudge) compiled once with the same per-recipient markers, so
    it goes through the same fast, personalised sending path as an edition."""
    nonce = secrets.token_hex(8)
    markers = {key.lower(): f"%%FGF-{nonce}:{key}%%" for key in _KEYS}
    text, html = render_email(template, **{**email_style(), **context, **markers})
    return RenderedEdition(
        subject=subject,
        html=_finish(html, nonce, html=True),
        text=_finish(_tidy_text(text), nonce, html=False),
        web_html="",
    )


def personalize(
    rendered: RenderedEdition,
    *,
    first_name: str | None,
    unsubscribe_url: str,
    web_url: str,
    track: str = NO_TRACK,
    applause: str = NO_APPLAUSE,
) -> tuple[str, str]:
    """Fill in one recipient's parts: (html, text). One regex pass per part, no template."""
    text_values = {
        FIRST_NAME: greeting_name(first_name),
        UNSUBSCRIBE_URL: unsubscribe_url,
        WEB_URL: web_url,
        TRACK: track,
        APPLAUSE: applause,
    }
    html_values = {key: html_lib.escape(value, quote=True) for key, value in text_values.items()}
    html = _MARKER_RE.sub(lambda m: html_values[m.group(1)], rendered.html)
    text = _MARKER_RE.sub(lambda m: text_values[m.group(1)], rendered.text)
    return html, text


def greeting_name(first_name: str | None) -> str:
    """The name after "Hi": the first name, or "there" for lists and nameless accounts."""
    return " ".join((first_name or "").split()) or GREETING_FALLBACK


def _finish(rendered: str, nonce: str, *, html: bool) -> str:
    """Defuse canonical markers typed by users, then turn the template's markers canonical.

    The templates render per-render random markers, so a story containing "%%FGF:WEB_URL%%"
    stays literal text: in HTML its "%" becomes "&#37;", in text a word joiner breaks it.
    """
    safe = rendered.replace(_PREFIX, "%&#37;FGF:" if html else "%%FGF\u2060:")
    return safe.replace(f"%%FGF-{nonce}:", _PREFIX)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)) + "\n"


def item_view(content: Story | Quote) -> StoryView | QuoteView:
    """What every rendering shows of one item; the review page's preview uses it too, so an
    editor sees the cover picture, its description and the byline exactly as they go out."""
    if isinstance(content, Story):
        eyebrow = [p for p in (getattr(content.team, "name", None),
                               getattr(content.touchpoint, "label", None)) if p]
        return StoryView(
            id=content.id,
            anchor=f"story-{content.id}",
            title=content.title,
            body_html=Markup(content.body_html or ""),  # noqa: S704 - sanitized at save time
            body_text=render_plain_text(content.body_md or ""),
            eyebrow=eyebrow,
            colleagues=[r.display_name for r in content.recognitions if r.display_name],
            author_name=content.author.display_name if content.author else "",
            customer=content.customer_display,
            cover_path=links.upload_path(content.cover_image),
            cover_alt=(content.cover_image_alt or "").strip() or f"Picture for “{content.title}”",
            story_path=path_for("reading.story", story_id=content.id),
            faces=tuple(
                (r.user.display_name, email_photo_url(r.user.id, r.user.photo_key))
                for r in content.recognitions
                if r.user is not None and r.user.photo_key
            ),
        )
    return QuoteView(
        id=content.id,
        anchor=f"quote-{content.id}",
        text_html=Markup(content.text_html or ""),  # noqa: S704 - sanitized at save time
        text_plain=render_plain_text(content.text or ""),
        attribution=content.attribution,
        source_label=content.source.label if content.source else "",
        nps=content.nps_score,
        shared_by=content.author.display_name if content.author else "",
    )


def _summary(stories: int, quotes: int) -> str:
    parts = []
    if stories:
        parts.append(f"{stories} {'story' if stories == 1 else 'stories'}")
    if quotes:
        parts.append(f"{quotes} customer {'quote' if quotes == 1 else 'quotes'}")
    return " and ".join(parts)


def _preheader(edition: Edition, stories: list[StoryView], quotes: list[QuoteView]) -> str:
    """The inbox preview line: the intro, or the first story's title."""
    if edition.intro_md:
        return excerpt(edition.intro_md, 110, one_line=True)
    if stories:
        return f"This week: {stories[0].title}"
    if quotes:
        return excerpt(quotes[0].text_plain, 110, one_line=True)
    return "This week's Feel Good Fridays"
