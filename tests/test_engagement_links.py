"""Tracked links in a compiled edition: every http(s) link of the HTML and the text part goes
through /r/ with a token that signs exactly the target, except unsubscribe, mailto and applause
links; markers survive; odd URLs round-trip to the byte."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from werkzeug.urls import iri_to_uri

from app.engagement import tokens
from app.engagement.links import applause_link
from app.engagement.links import open_image_url
from app.engagement.links import track_links
from app.extensions import db
from app.models import EditionStatus
from app.models import SubmissionStatus
from app.newsletter import compose
from app.newsletter.compose import compile_edition
from app.newsletter.links import edition_url
from app.richtext import render_markdown
from app.settings import set_settings
from tests import factories
from tests.helpers_sender import seed_edition
from tests.helpers_sender import story_of

BASE = "http://localhost"
TRACKED_RE = re.compile(r"http://localhost/r/([A-Za-z0-9_.-]+)/%%FGF:TRACK%%")
HREF_RE = re.compile(r'<a\b[^>]*?\shref="([^"]*)"')
ODD_URL = "https://example.com/a%20b/é?q=\"quoted\"&x='1'&y=%2F%3D&z=ü#frag"
LONG_URL = "https://example.com/long?" + "&".join(f"k{i}=v{i}" for i in range(300))


def _hrefs(html: str) -> list[str]:
    return [html_lib.unescape(h) for h in HREF_RE.findall(html)]


def _target(tracked: str) -> tokens.LinkTarget:
    match = TRACKED_RE.fullmatch(tracked)
    assert match, tracked
    target = tokens.read_link_token(match.group(1))
    assert target is not None
    return target


def _story_edition(body: str):
    edition = seed_edition()
    story = story_of(edition)
    story.body_md = body
    story.body_html = str(render_markdown(body))
    db.session.flush()
    return edition, story


def test_every_link_of_a_compiled_edition_is_tracked_but_unsubscribe_and_mailto(app):
    body = (f"See [our process](https://example.com/process), [odd]({ODD_URL}) and "
            f"[the long one]({LONG_URL}). Questions? [Mail us](mailto:help@example.com).")
    edition, story = _story_edition(body)
    rendered = compile_edition(edition)
    hrefs = _hrefs(rendered.html)
    assert hrefs, "the email has links"
    untouched = [h for h in hrefs if not TRACKED_RE.fullmatch(h)]
    applause = [h for h in untouched if h.startswith(f"{BASE}/a/")]
    assert set(applause) <= {f"{BASE}/a/{story.id}/%%FGF:APPLAUSE%%"}
    assert [h for h in untouched if h not in applause] == [
        "mailto:help@example.com", "%%FGF:UNSUBSCRIBE_URL%%"]
    targets = [_target(h) for h in hrefs if TRACKED_RE.fullmatch(h)]
    assert all(t.edition_id == edition.id for t in targets)
    urls = {t.url: t for t in targets}
    # Links inside the story belong to it; the story's title links to its anchor on the page.
    for url in ("https://example.com/process", ODD_URL, LONG_URL):
        assert (urls[url].item_kind, urls[url].item_id) == ("story", story.id)
    anchor = f"{edition_url(edition.number)}#story-{story.id}"
    assert (urls[anchor].item_kind, urls[anchor].item_id) == ("story", story.id)
    # The edition's own links (read on the web, share your story) belong to no item.
    web = urls[edition_url(edition.number)]
    assert (web.item_kind, web.item_id) == (None, None)
    assert f"{BASE}/stories/new" in urls and urls[f"{BASE}/stories/new"].item_id is None
    # Markers stay for the sender to fill in.
    assert "%%FGF:FIRST_NAME%%" in rendered.html and "%%FGF:UNSUBSCRIBE_URL%%" in rendered.html
    assert "%%FGF:WEB_URL%%" not in "".join(hrefs)  # resolved, then tracked


def test_the_text_part_uses_the_same_tracked_links(app):
    body = f"See [our process](https://example.com/process) and [odd]({ODD_URL})."
    edition, story = _story_edition(body)
    rendered = compile_edition(edition)
    text_links = TRACKED_RE.findall(rendered.text)
    html_links = set(TRACKED_RE.findall(rendered.html))
    assert text_links and set(text_links) <= html_links  # same tokens as the HTML's
    text_targets = {tokens.read_link_token(t).url for t in text_links}
    assert {"https://example.com/process", ODD_URL, edition_url(edition.number),
            f"{edition_url(edition.number)}#story-{story.id}"} <= text_targets
    # Nothing left untracked but the unsubscribe marker and the mailto address.
    assert not re.search(r"https?://(?!localhost/r/|localhost/a/)", rendered.text)
    assert "Unsubscribe: %%FGF:UNSUBSCRIBE_URL%%" in rendered.text
    # "text (url)": the closing bracket and the sentence's full stop stay outside the link.
    assert re.search(r"our process \(http://localhost/r/[A-Za-z0-9_.-]+/%%FGF:TRACK%%\)",
                     rendered.text)


@pytest.mark.parametrize("url", [
    ODD_URL,
    LONG_URL,
    "https://example.com/wiki/Foo_(bar)",
    "https://example.com/?a=1&amp=2&lt;x&gt;",
    "https://例え.jp/パス?キー=値",
    "https://example.com/%E2%82%AC/%25/%zz",
    "https://example.com/p;a=1?b=2&c=%26&d=a+b#x/y",
])
def test_odd_urls_round_trip_exactly_through_the_redirect(app, client, url):
    edition, _ = _story_edition(f"Look: [here]({url})")
    rendered = compile_edition(edition)
    stored = story_of(edition).body_html
    expected = html_lib.unescape(HREF_RE.search(stored).group(1))  # the URL as the story links it
    tracked = [h for h in _hrefs(rendered.html) if TRACKED_RE.fullmatch(h)
               and _target(h).url == expected]
    assert tracked, f"{expected!r} not tracked"
    path = tracked[0].removeprefix(BASE).replace("%%FGF:TRACK%%", "-")
    response = client.get(path)
    assert response.status_code == 302
    # Exactly the signed URL; characters a Location header cannot carry (non-ASCII, quotes,
    # brackets) percent-encoded as browsers do, existing %-escapes untouched.
    assert response.headers["Location"] == iri_to_uri(expected)
    # The text part links the same target.
    assert any(tokens.read_link_token(t).url == expected for t in TRACKED_RE.findall(rendered.text))


def test_a_2000_character_url_is_tracked_and_followed(app, client):
    url = "https://example.com/" + "a" * 1980
    assert len(url) == 2000
    edition, story = _story_edition(f"[long]({url})")
    rendered = compile_edition(edition)
    target = next(_target(h) for h in _hrefs(rendered.html)
                  if TRACKED_RE.fullmatch(h) and _target(h).url == url)
    assert target.item_id == story.id
    token = next(t for t in TRACKED_RE.findall(rendered.html)
                 if tokens.read_link_token(t).url == url)
    response = client.get(f"/r/{token}/-")
    assert response.status_code == 302 and response.headers["Location"] == url  # to the byte


def test_applause_and_own_links_are_never_tracked(app):
    edition = seed_edition()
    story = story_of(edition)
    link = applause_link(edition.id, story.id, "%%FGF:APPLAUSE%%")
    assert link == f"{BASE}/a/{story.id}/%%FGF:APPLAUSE%%"
    image = open_image_url(edition.id, "%%FGF:TRACK%%")
    html = (f'<a href="{link}">Applaud</a><a href="{BASE}/a/{story.id}/x">x</a>'
            f'<img src="{image}"><a href="%%FGF:UNSUBSCRIBE_URL%%">Unsubscribe</a>'
            f'<a href="mailto:x@example.com">mail</a><a href="#top">top</a>'
            f'<a href="tel:+331234">call</a><a href="javascript:alert(1)">js</a>'
            f"<a class='x' href='https://example.com/single'>single</a>")
    text = f"Applaud: {link}\nUnsubscribe: %%FGF:UNSUBSCRIBE_URL%%\nhttps://example.com/t.\n"
    out_html, out_text = track_links(edition, html, text)
    hrefs = _hrefs(out_html)
    assert hrefs[:-1] == [link, f"{BASE}/a/{story.id}/x", "%%FGF:UNSUBSCRIBE_URL%%",
                          "mailto:x@example.com", "#top", "tel:+331234", "javascript:alert(1)"]
    assert _target(hrefs[-1]).url == "https://example.com/single"
    assert f'src="{image}"' in out_html  # the image is not a link
    lines = out_text.splitlines()
    assert lines[0] == f"Applaud: {link}" and lines[1] == "Unsubscribe: %%FGF:UNSUBSCRIBE_URL%%"
    assert lines[2].endswith("/%%FGF:TRACK%%.")  # the full stop stays out of the link
    assert _target(lines[2][:-1]).url == "https://example.com/t"


def test_links_are_left_alone_when_click_counting_is_off(app):
    set_settings({"track_clicks": False}, actor=None)
    edition = seed_edition()
    rendered = compile_edition(edition)
    assert "/r/" not in rendered.html and "/r/" not in rendered.text
    assert 'href="%%FGF:WEB_URL%%"' in rendered.html
    assert "https://example.com/process" in rendered.text


def test_open_image_url_is_none_when_open_counting_is_off(app):
    edition = seed_edition()
    url = open_image_url(edition.id, "%%FGF:TRACK%%")
    assert url is not None and url.startswith(f"{BASE}/o/") and url.endswith("/%%FGF:TRACK%%.gif")
    token = url.split("/")[-2]
    assert tokens.read_edition_token(token) == edition.id
    set_settings({"track_opens": False}, actor=None)
    assert open_image_url(edition.id, "%%FGF:TRACK%%") is None


def test_links_to_a_story_page_or_quote_anchor_name_their_item(app):
    quote = factories.make_quote(status=SubmissionStatus.APPROVED, text="Thanks!")
    other = factories.make_story(status=SubmissionStatus.APPROVED, body="[shared](https://x.test/s)")
    edition = seed_edition()
    story = story_of(edition)
    story.body_md = "[shared](https://x.test/s) and [own](https://x.test/own)"
    story.body_html = str(render_markdown(story.body_md))
    edition.items.append(type(edition.items[0])(quote=quote, position=5))
    edition.items.append(type(edition.items[0])(story=other, position=6))
    db.session.flush()
    links = {
        f"{BASE}/stories/{story.id}": ("story", story.id),
        f"{BASE}/stories/{story.id}?utm=1": ("story", story.id),
        f"{edition_url(edition.number)}#quote-{quote.id}": ("quote", quote.id),
        f"{BASE}/stories/999999": (None, None),  # not in this edition
        "https://x.test/s": (None, None),  # linked from two stories: nobody's alone
        "https://x.test/own": ("story", story.id),
    }
    html = "".join(f'<a href="{html_lib.escape(u)}">x</a>' for u in links)
    out, _ = track_links(edition, html, "")
    got = {(t := _target(h)).url: (t.item_kind, t.item_id) for h in _hrefs(out)}
    assert got == links


def test_an_edition_compiled_twice_signs_the_same_targets(app):
    edition = seed_edition(status=EditionStatus.SCHEDULED)
    first = {_target(h) for h in _hrefs(compile_edition(edition).html) if TRACKED_RE.fullmatch(h)}
    second = {_target(h) for h in _hrefs(compile_edition(edition).html) if TRACKED_RE.fullmatch(h)}
    assert first == second and len(first) >= 4


def test_user_typed_markers_are_not_resolved_nor_tracked_as_ours(app):
    edition, _ = _story_edition("Try https://example.com/%%FGF:WEB_URL%% and %%FGF:TRACK%% here")
    rendered = compile_edition(edition)
    # The typed markers were defused by the composer; the text's link is tracked as typed.
    assert compose.marker("TRACK") not in rendered.text.replace("/%%FGF:TRACK%%", "")
