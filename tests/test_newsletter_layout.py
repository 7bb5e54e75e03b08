"""The email's layout: full stories up to `teaser_threshold` stories, above it an "In this
edition" list and teaser cards (two-sentence excerpt, "Read the story" to the story's page),
in HTML and text alike; the web page stays full-length. Applause links and the open image;
the brand's accent, logo and footer line."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

from app.extensions import db
from app.models import EditionStatus
from app.models import Setting
from app.models import SubmissionStatus
from app.newsletter import compose
from app.newsletter.compose import TEASER_CHARS
from app.newsletter.compose import personalize
from app.newsletter.compose import render_edition
from app.richtext import excerpt_lines
from app.richtext import two_sentences
from app.settings import set_settings
from app.submissions import uploads
from tests import factories

WEB = "https://x.test/e/1"
LIST_BODY = ("We fixed three things:\n\n- the router\n- the VPN\n- the printer\n\n"
             "Then cake. MORE-CAKE later.")


def body_of(number: int) -> str:
    """Three sentences: the teaser keeps the first two, the third stays on the web."""
    return (f"Story {number} opens here. It has a second sentence. "
            f"THIRD-SENTENCE-{number} only on the web.")


def stored_cover(colour: str = "teal", size: tuple[int, int] = (800, 450)) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    out.seek(0)
    return uploads.store_cover_image(out)


def layout_edition(stories: int, *, quotes: int = 1, covers: bool = False,
                   status: EditionStatus = EditionStatus.SCHEDULED, body=body_of, **kwargs):
    """An edition of `stories` approved stories (colleagues recognized, a team and touchpoint)
    and `quotes` quotes, in order."""
    author = factories.make_user(display_name="Priya Raman")
    colleague = factories.make_user(display_name="Noah Levi")
    items = []
    for number in range(1, stories + 1):
        cover = {"cover_image": stored_cover(), "cover_image_alt": f"Cover {number}"} \
            if covers else {}
        items.append(factories.make_story(
            author, status=SubmissionStatus.APPROVED, title=f"Title number {number}",
            body=body(number), colleagues=[colleague], **cover,
        ))
    for number in range(quotes):
        items.append(factories.make_quote(author, status=SubmissionStatus.APPROVED,
                                          text=f"Quote {number} was lovely."))
    return factories.make_edition(status=status, items=items, subject="Layouts", **kwargs)


def settings(**values) -> None:
    set_settings(values, actor=None)
    db.session.commit()


def personal(rendered, applause="tok-123", track="tag-9"):
    return personalize(rendered, first_name="Ana", unsubscribe_url="https://x.test/u/t",
                       web_url=WEB, applause=applause, track=track)


def story_ids(edition) -> list[int]:
    return [i.story.id for i in edition.items if i.story is not None]


def story_url(story_id: int) -> str:
    return f"http://localhost/stories/{story_id}"


def tags(html: str, name: str, css_class: str | None = None) -> list[dict[str, str]]:
    """The attributes of every <name> tag (with `css_class` among its classes), in order:
    css-inline rewrites tags, so tests never depend on the order of attributes."""
    found: list[dict[str, str]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            values = {k: v or "" for k, v in attrs}
            if tag == name and (css_class is None or css_class in values.get("class", "").split()):
                found.append(values)

    Parser().feed(html)
    return found


@pytest.fixture(autouse=True)
def untracked(app):
    """Links as written (the tracking feature's redirect has its own tests)."""
    settings(track_clicks=False)


# -- teaser layout -----------------------------------------------------------------------------


def test_six_stories_get_the_contents_list_and_teaser_cards(app):
    edition = layout_edition(6)
    rendered = render_edition(edition)
    html, text = personal(rendered)
    ids = story_ids(edition)

    contents = re.search(r'<ol class="contents-list"[^>]*>(.*?)</ol>', html, re.S).group(1)
    # To the stories' own pages: a "#story-N" link goes nowhere in Gmail (web), Outlook.com.
    entries = re.findall(r'<a class="contents-link" href="([^"]+)"[^>]*>([^<]+)</a>', contents)
    assert entries == [(story_url(i), f"Title number {n}") for n, i in enumerate(ids, start=1)]
    assert len(re.findall(r'class="teaser-table"', html)) == 6
    # Each card keeps its anchor (the web page's "#story-N" links still work).
    assert [t["id"] for t in tags(html, "table", "teaser-table")] == [f"story-{i}" for i in ids]
    assert 'class="story-body"' not in html
    assert not re.search(r"THIRD-SENTENCE-\d", html)
    for number, story_id in enumerate(ids, start=1):
        card = html.split(f'id="story-{story_id}"')[1].split("</table>\n</td></tr>")[0]
        assert f"Story {number} opens here. It has a second sentence." in card
        assert "Noah Levi" in card and "Celebrating" in card
        assert [a["href"] for a in tags(card, "a", "button-small")] == [story_url(story_id)]
    assert "Quote 0 was lovely." in html  # quotes stay as they are
    # The web page of the edition stays full-length.
    for number in range(1, 7):
        assert f"THIRD-SENTENCE-{number}" in rendered.web_html
    assert "In this edition" not in rendered.web_html


def test_teaser_text_part_mirrors_the_html(app):
    edition = layout_edition(6)
    _, text = personal(render_edition(edition))
    ids = story_ids(edition)
    contents = text.split("IN THIS EDITION\n", 1)[1].split("\n\n", 1)[0]
    assert contents.splitlines() == [f"{n}. Title number {n}" for n in range(1, 7)]
    assert re.findall(r"Read the story: (\S+)", text) == [story_url(i) for i in ids]
    assert not re.search(r"THIRD-SENTENCE-\d", text)
    for number in range(1, 7):
        assert f"{number}. Title number {number}\n====" in text
        assert f"Story {number} opens here. It has a second sentence.\n" in text
    assert "> Quote 0 was lovely." in text


def test_two_stories_stay_full_length(app):
    edition = layout_edition(2)
    rendered = render_edition(edition)
    html, text = personal(rendered)
    assert "In this edition" not in html and "IN THIS EDITION" not in text
    assert "teaser-table" not in html and "Read the story" not in html + text
    assert html.count('class="story-body"') == 2
    assert "THIRD-SENTENCE-1" in html and "THIRD-SENTENCE-2" in html
    assert "THIRD-SENTENCE-1" in text and "THIRD-SENTENCE-2" in text


@pytest.mark.parametrize("threshold", [1, 4, 7])
def test_threshold_at_its_limits(app, threshold):
    if threshold != 4:  # 4 is the default: nothing saved
        settings(teaser_threshold=threshold)
    at_limit = layout_edition(threshold, quotes=3)  # quotes never count
    over = layout_edition(threshold + 1, quotes=0)
    html, text = personal(render_edition(at_limit))
    assert "teaser-table" not in html and "IN THIS EDITION" not in text
    assert html.count('class="story-body"') == threshold
    html, text = personal(render_edition(over))
    assert html.count('class="teaser-table"') == threshold + 1
    assert text.count("Read the story: ") == threshold + 1
    assert 'class="story-body"' not in html


def test_list_lines_stay_readable_in_teasers(app):
    edition = layout_edition(5, body=lambda n: LIST_BODY)
    html, text = personal(render_edition(edition))
    card = html.split('class="teaser-table"')[1]
    # The list with the line introducing it is one sentence, "Then cake." the second.
    assert ("We fixed three things:<br>• the router<br>• the VPN<br>• the printer<br>"
            "Then cake.</p>") in card
    assert "We fixed three things:\n• the router\n• the VPN\n• the printer\nThen cake.\n\n" \
        "Read the story" in text
    assert "MORE-CAKE" not in html and "MORE-CAKE" not in text


# -- the two-sentence excerpt -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Only one sentence.", "Only one sentence."),
        ("no punctuation at all", "no punctuation at all"),
        ("First. Second! Third? Fourth.", "First. Second!"),
        ("We used e.g. the router. It cost 3.5 euros. Then more.",
         "We used e.g. the router. It cost 3.5 euros."),
        ("Dr. Lee helped. J. Smith too. A third.", "Dr. Lee helped. J. Smith too."),
        ("It took approx. five minutes. Done. More.", "It took approx. five minutes. Done."),
        ("“Thanks!” she said. Then she left. More.", "“Thanks!” she said. Then she left."),
        ("Para one\nPara two\nPara three", "Para one\nPara two"),
        ("We fixed:\n• the router\n• the VPN\nEveryone smiled. Then cake.",
         "We fixed:\n• the router\n• the VPN\nEveryone smiled."),
        ("Intro.\n• a\n  ◦ nested\n• b\nAfter.", "Intro.\n• a\n  ◦ nested\n• b"),
        ("我们修好了。客户很高兴。然后我们回家了。", "我们修好了。客户很高兴。"),
        ("Great job 🎉! Next one 👍🏽. Third.", "Great job 🎉! Next one 👍🏽."),
        ("", ""),
    ],
)
def test_two_sentences(text, expected):
    assert two_sentences(text, TEASER_CHARS) == expected


def test_two_sentences_caps_a_10000_character_sentence_at_a_word():
    text = " ".join(f"word{i}" for i in range(2000)) + "."
    assert len(text) > 10_000
    short = two_sentences(text, TEASER_CHARS)
    assert len(short) <= TEASER_CHARS and short.endswith("…")
    kept = short.removesuffix("…")
    assert text.startswith(kept) and text[len(kept)] == " "  # never inside a word
    assert len(kept) > TEASER_CHARS // 2


def test_two_sentences_without_any_break_cut_at_a_whole_character():
    assert two_sentences("x" * 10_000, TEASER_CHARS) == "x" * (TEASER_CHARS - 1) + "…"
    cjk = "客户很高兴" * 2000  # no full stop, no space: a whole character is kept
    assert two_sentences(cjk, TEASER_CHARS) == cjk[: TEASER_CHARS - 1] + "…"
    family = "👨‍👩‍👧"  # one visible character, five code points
    text = "a" * (TEASER_CHARS - 3) + family * 3
    short = two_sentences(text, TEASER_CHARS)
    assert len(short) <= TEASER_CHARS
    assert short == "a" * (TEASER_CHARS - 3) + "…"  # the family is not split


def test_two_sentences_cut_as_excerpts_are_never_inside_a_conjunct_or_syllable():
    """The cut is `richtext._cut` (excerpts' own): a consonant joined by a virama or a Hangul
    syllable written as jamo stays whole, as in every other excerpt."""
    devanagari = "a" * (TEASER_CHARS - 3) + "क्ष" * 10  # क ् ष: cutting before ष splits it
    assert two_sentences(devanagari, TEASER_CHARS) == "a" * (TEASER_CHARS - 3) + "…"
    jamo = "a" * (TEASER_CHARS - 2) + "\u1100\u1161" * 10  # ᄀ + ᅡ: one syllable, 가
    assert two_sentences(jamo, TEASER_CHARS) == "a" * (TEASER_CHARS - 2) + "…"


def test_teaser_excerpt_starts_from_every_line_of_a_long_story(app):
    """`excerpt_lines` gives the story's lines uncut, so a story far over any excerpt budget
    still yields its first two sentences (and a list far down is never reached)."""
    body = "First one here. Second one there.\n\n" + "More words follow. " * 5000 \
        + "\n\n- LATE-ITEM"
    assert excerpt_lines(body).splitlines()[-1] == "• LATE-ITEM"
    html, _ = personal(render_edition(layout_edition(5, body=lambda n: body)))
    card = tags(html, "p", "teaser-text")
    assert len(card) == 5
    assert html.count(">First one here. Second one there.</p>") == 5
    assert "LATE-ITEM" not in html


def test_two_sentences_long_list_is_cut_at_a_line_without_a_lone_marker():
    lines = "\n".join(f"• item number {i} of a very long list" for i in range(40))
    short = two_sentences("Our list:\n" + lines, TEASER_CHARS)
    assert len(short) <= TEASER_CHARS and short.endswith("…")
    assert short.startswith("Our list:\n• item number 0")
    assert not re.search(r"\n•…$", short)


# -- applause links and the open image ------------------------------------------------------------


@pytest.mark.parametrize("stories", [2, 6])
def test_every_story_has_an_applause_link_and_the_html_one_open_image(app, stories):
    edition = layout_edition(stories)
    html, text = personal(render_edition(edition), applause="tok-123", track="tag-9")
    ids = story_ids(edition)
    expected = [f"http://localhost/a/{i}/tok-123" for i in ids]
    assert re.findall(r'<a class="applause" href="([^"]+)"[^>]*>👏 Applaud</a>', html) \
        == expected
    assert re.findall(r"👏 Applaud: (\S+)", text) == expected
    images = tags(html, "img", "open-image")
    assert len(images) == 1 and images[0]["src"].endswith("/tag-9.gif")
    assert (images[0]["width"], images[0]["height"], images[0]["alt"]) == ("1", "1", "")
    assert html.rstrip().endswith("</body></html>")
    tail = html[html.rindex("<img"):]
    assert "open-image" in tail and "</table>" not in tail  # the very last thing in the body
    assert "/o/" not in text


def test_open_image_left_out_when_opens_are_not_counted(app):
    settings(track_opens=False)
    html, _ = personal(render_edition(layout_edition(2)))
    assert "open-image" not in html and "/o/" not in html


# -- branding ------------------------------------------------------------------------------------


def _style_of(html: str, name: str, css_class: str) -> str:
    return tags(html, name, css_class)[0]["style"]


def test_default_look(app):
    html, _ = personal(render_edition(layout_edition(2)))
    assert "#b43c0a" in _style_of(html, "a", "button")
    assert 'class="brand"' in html and 'class="logo"' not in html
    assert 'class="footer-brand"' not in html


def test_accent_logo_and_footer(app):
    from app.branding import storage

    out = io.BytesIO()
    Image.new("RGBA", (400, 100), (0, 80, 160, 255)).save(out, "PNG")
    key = storage.new_key()
    storage.write(key, storage.render(out.getvalue()))
    settings(brand_accent="#0b5394", brand_logo=key,
             brand_footer="ACME Bank <Internal>  & friends\nline two")
    edition = layout_edition(6)
    html, text = personal(render_edition(edition))

    for name, css_class in (("a", "button-small"), ("td", "stripe"), ("p", "eyebrow"),
                            ("a", "applause"), ("a", "contents-link")):
        assert "#0b5394" in _style_of(html, name, css_class), css_class
    assert "#b43c0a" not in html
    [logo] = tags(html, "img", "logo")
    assert key in logo["src"] and logo["src"].startswith("http://localhost/")
    assert logo["alt"] == "Feel Good Fridays"
    assert (logo["width"], logo["height"]) == ("192", "48")  # 400 × 100 shown 48 px high
    assert 'class="brand"' not in html  # the logo replaces the sun mark
    footer = "ACME Bank &lt;Internal&gt; &amp; friends line two"
    assert re.search(rf'<p class="footer-brand"[^>]*>{re.escape(footer)}</p>', html)
    assert text.rstrip().endswith("ACME Bank <Internal> & friends line two")
    # Dark mode: links and eyebrows in a light tint of the accent, readable on dark grey.
    dark = html.split("prefers-color-scheme: dark")[1]
    tint = compose.email_style()["accent_dark"]
    assert tint != "#0b5394" and f"color: {tint} !important" in dark
    assert _contrast(tint, "#1d1f26") >= 4.5


LIGHT = ("#ffffff", "#fff4e0")  # the card, and the cream hero and "In this edition" box
DARK = ("#1d1f26", "#2a2419", "#2a2c34", "#121318")  # dark mode: card, hero/box, buttons, page
AT_THE_LIMIT = "#b26200"  # 4.52:1 on white (the least the setting takes), 4.15:1 on cream


@pytest.mark.parametrize("accent", [AT_THE_LIMIT, "#000000"])
def test_the_accent_as_text_reads_at_aa_on_every_surface_light_and_dark(app, accent):
    assert 4.5 <= _contrast(AT_THE_LIMIT, "#ffffff") < 4.6
    assert _contrast(AT_THE_LIMIT, "#fff4e0") < 4.5  # as it is, it would not do on cream
    settings(brand_accent=accent)
    html, _ = personal(render_edition(layout_edition(6)))
    light = {}
    for name, css_class in (("p", "brand"), ("p", "eyebrow"), ("p", "contents-title"),
                            ("a", "contents-link"), ("a", "applause"), ("a", "button-secondary")):
        light[css_class] = re.search(r"(?:^|;)\s*color:\s*(#[0-9a-f]{6})",
                                     _style_of(html, name, css_class)).group(1)
    for css_class, colour in light.items():
        for surface in LIGHT:
            assert _contrast(colour, surface) >= 4.5, (css_class, colour, surface)
    # Buttons keep the accent itself as their background, white text on it.
    assert f"background: {accent}" in _style_of(html, "a", "button-small")
    dark = html.split("prefers-color-scheme: dark")[1]
    shades = set(re.findall(r"\.(?:brand|contents-link|button-secondary)\b[^{]*\{[^}]*?"
                            r"color: (#[0-9a-f]{6}) !important", dark))
    [shade] = shades
    for surface in DARK:
        assert _contrast(shade, surface) >= 4.5, (shade, surface)


def test_an_accent_that_is_not_a_colour_never_reaches_the_style_block(app):
    db.session.add(Setting(key="brand_accent", value="red;} body{display:none} .x{"))
    db.session.commit()  # stored as it is, past the admin form's check
    html, _ = personal(render_edition(layout_edition(2)))
    assert "display:none" not in html
    assert "#b43c0a" in _style_of(html, "a", "button")


def test_logo_file_gone_shows_the_sun_mark(app):
    settings(brand_logo="A" * 22)  # a key whose file is not there
    html, _ = personal(render_edition(layout_edition(2)))
    assert 'class="logo"' not in html and 'class="brand"' in html


def _contrast(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        values = []
        for i in (1, 3, 5):
            c = int(colour[i:i + 2], 16) / 255
            values.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * values[0] + 0.7152 * values[1] + 0.0722 * values[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# -- the preview page ----------------------------------------------------------------------------


def test_preview_page_names_the_layout(app, editor_client):
    edition = layout_edition(5, status=EditionStatus.DRAFT)
    db.session.commit()
    page = editor_client.get(f"/editions/upcoming/{edition.id}/preview").get_data(as_text=True)
    assert "teaser cards (more than 4 stories)" in page
    assert "IN THIS EDITION" in page  # the plain-text part shown on the page
    settings(teaser_threshold=5)
    page = editor_client.get(f"/editions/upcoming/{edition.id}/preview").get_data(as_text=True)
    assert "Full stories in the email (up to 5)" in page


def test_preview_layout_line_is_the_composers_decision(app, editor_client):
    """The page asks `compose.uses_teasers`, as the email does: a threshold stored as text by
    hand ("4") still gives the layout the framed email has (the page compared it itself)."""
    edition = layout_edition(5, status=EditionStatus.DRAFT)
    db.session.add(Setting(key="teaser_threshold", value="4"))
    db.session.commit()
    response = editor_client.get(f"/editions/upcoming/{edition.id}/preview")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "teaser cards (more than 4 stories)" in page
    frame = editor_client.get(f"/editions/upcoming/{edition.id}/preview/email")
    assert frame.get_data(as_text=True).count('class="teaser-table"') == 5
    assert compose.uses_teasers(5, "4") and not compose.uses_teasers(4, "4")


@pytest.mark.parametrize("status", [EditionStatus.DRAFT, EditionStatus.SENT])
def test_preview_never_shows_the_open_image(app, editor_client, status):
    """A preview is never a read: the framed email has no open image (the real email has)."""
    edition = layout_edition(2, status=EditionStatus.SCHEDULED)
    if status is EditionStatus.SENT:
        compose.freeze_edition(edition)
        edition.status = EditionStatus.SENT
    db.session.commit()
    html, _ = personal(render_edition(edition))
    assert len(tags(html, "img", "open-image")) == 1  # what recipients get
    frame = editor_client.get(f"/editions/upcoming/{edition.id}/preview/email")
    shown = frame.get_data(as_text=True)
    assert frame.status_code == 200 and 'class="story-body"' in shown
    assert "open-image" not in shown and "/o/" not in shown
    assert shown.rstrip().endswith("</body></html>")


def test_teaser_cards_show_the_colleagues_faces(app):
    from app.photos import services as photos
    from tests.test_submissions_uploads import image_bytes

    edition = layout_edition(5)
    noah = next(i.story for i in edition.items if i.story).recognitions[0].user
    photos.save_photo(noah, image_bytes())
    db.session.commit()
    html, text = personal(render_edition(edition))
    faces = tags(html, "img", "kudos-face")
    assert len(faces) == 5  # one per card: Noah is in each
    assert all(f["src"].startswith("http://localhost/photos/mail/") for f in faces)
    assert {(f["width"], f["height"], f["alt"]) for f in faces} == {("24", "24", "")}
    assert "/photos/" not in text
