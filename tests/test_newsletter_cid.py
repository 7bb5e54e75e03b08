"""Cover pictures embedded in the message (`embed_images`): multipart/alternative [text,
multipart/related [html, pictures]], every `cid:` of the HTML has its part, the parts decode to
the stored files, the HTML and text equal `personalize`; pictures are encoded once per edition;
a missing file falls back to its remote URL; the preview page reports the size on the wire.
Checked on the real bytes (and on what a real SMTP server received)."""

from __future__ import annotations

import copy
import email
import email.generator
import email.policy
import io
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import EditionStatus
from app.newsletter import compose
from app.newsletter import sending
from app.newsletter.compose import personalize
from app.newsletter.compose import render_edition
from app.newsletter.mime import EditionMailer
from app.newsletter.mime import measure
from app.submissions import uploads
from tests.fixtures.smtp import configure_app_for
from tests.helpers_sender import seed_recipients
from tests.test_newsletter_layout import layout_edition
from tests.test_newsletter_layout import settings
from tests.test_newsletter_layout import stored_cover
from tests.test_newsletter_layout import tags

SENDER = "Feel Good Fridays <news@fgf.example>"
WEB = "https://x.test/editions/1"
UNSUBSCRIBE = "https://x.test/unsubscribe/" + "t" * 90


@pytest.fixture(autouse=True)
def embedding(app):
    settings(embed_images=True, track_clicks=False)


def mailer(rendered, **kwargs) -> EditionMailer:
    return EditionMailer(rendered, sender=SENDER, web_url=WEB,
                         list_id="Feel Good Fridays <fgf.fgf.example>", **kwargs)


def message(m: EditionMailer, address="ana@example.com"):
    return m.message(email_address=address, name="Ana Lima", first_name="Ana",
                     message_id="<fgf.1.x@fgf.example>", unsubscribe_url=UNSUBSCRIBE,
                     applause="tok-1", track="tag-1")


def parse(wire) -> email.message.EmailMessage:
    """The prepared bytes are what the generator writes and parse without a defect."""
    with io.BytesIO() as buffer:
        email.generator.BytesGenerator(buffer).flatten(copy.copy(wire), linesep="\r\n")
        assert buffer.getvalue() == wire.wire_bytes()
    parsed = email.message_from_bytes(wire.wire_bytes(), policy=email.policy.default)
    assert not parsed.defects and all(not part.defects for part in parsed.walk())
    return parsed


def covers_of(edition) -> list[str]:
    return [i.story.cover_image for i in edition.items if i.story is not None]


def check_embedded(parsed, rendered, names: list[str]) -> None:
    """Structure, cid: ↔ Content-ID, bytes, and HTML/text = personalize."""
    assert parsed.get_content_type() == "multipart/alternative"
    text_part, related = parsed.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert related.get_param("type") == "text/html"
    html_part, *images = related.iter_parts()
    assert html_part.get_content_type() == "text/html"
    html = html_part.get_content().replace("\r\n", "\n")
    expected_html, expected_text = personalize(
        rendered, first_name="Ana", unsubscribe_url=UNSUBSCRIBE, web_url=WEB, track="tag-1",
        applause="tok-1")
    assert html == expected_html
    assert text_part.get_content().replace("\r\n", "\n") == expected_text
    referenced = set(re.findall(r'src="cid:([^"]+)"', html))
    by_id = {part["Content-ID"].strip("<>"): part for part in images}
    assert referenced == set(by_id) == {f"{name}@fgf.inline" for name in names}
    for name in names:
        part = by_id[f"{name}@fgf.inline"]
        assert part.get_content_type() == uploads.mimetype_for(name)
        assert part.get_content_disposition() == "inline"
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_content() == (uploads.upload_dir() / name).read_bytes()


def test_embedded_covers_travel_in_the_message(app):
    edition = layout_edition(2, covers=True)
    rendered = render_edition(edition)
    wire = message(mailer(rendered))
    check_embedded(parse(wire), rendered, covers_of(edition))
    body = wire.wire_bytes().split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # QP and base64 alike
    # Teaser layout: the thumbnails are the same inline pictures.
    edition = layout_edition(6, covers=True)
    rendered = render_edition(edition)
    parsed = parse(message(mailer(rendered)))
    check_embedded(parsed, rendered, covers_of(edition))
    html = parsed.get_body(("html",)).get_content()
    assert [t["src"] for t in tags(html, "img", "teaser-thumb")] == \
        [f"cid:{name}@fgf.inline" for name in covers_of(edition)]


def test_one_picture_used_twice_is_attached_once_and_faces_stay_remote(app):
    edition = layout_edition(2, covers=True)
    first, second = (i.story for i in edition.items if i.story is not None)
    second.cover_image = first.cover_image
    db.session.commit()
    rendered = render_edition(edition)
    parsed = parse(message(mailer(rendered)))
    check_embedded(parsed, rendered, [first.cover_image])
    assert len(list(parsed.walk())) == 5  # alternative, text, related, html, one picture


def test_pictures_are_encoded_once_per_edition(app):
    edition = layout_edition(2, covers=True)
    m = mailer(render_edition(edition))
    for name in covers_of(edition):  # the files go; messages built afterwards still carry them
        (uploads.upload_dir() / name).unlink()
    first, second = message(m, "a@example.com"), message(m, "b@example.com")
    assert len(first.wire_bytes()) == len(second.wire_bytes())
    assert len(parse(second).get_payload()[1].get_payload()) == 3
    assert [i.name for i in m.images] == covers_of(edition)


def test_a_missing_cover_falls_back_to_its_remote_url(app):
    edition = layout_edition(2, covers=True)
    rendered = render_edition(edition)
    gone, kept = covers_of(edition)
    (uploads.upload_dir() / gone).unlink()  # gone after compiling (a frozen edition)
    parsed = parse(message(mailer(rendered)))
    html_part = parsed.get_body(("html",))
    html = html_part.get_content().replace("\r\n", "\n")
    assert f'src="http://localhost/uploads/{gone}"' in html and f"cid:{gone}" not in html
    assert f'src="cid:{kept}@fgf.inline"' in html
    expected, _ = personalize(rendered, first_name="Ana", unsubscribe_url=UNSUBSCRIBE,
                              web_url=WEB, track="tag-1", applause="tok-1")
    assert html == expected.replace(f"cid:{gone}@fgf.inline", f"http://localhost/uploads/{gone}")
    related = parsed.get_payload()[1]
    assert [p["Content-ID"] for p in related.iter_parts()][1:] == [f"<{kept}@fgf.inline>"]

    # Gone before compiling: the HTML links it remotely from the start.
    edition = layout_edition(1, covers=True, quotes=0)
    [name] = covers_of(edition)
    (uploads.upload_dir() / name).unlink()
    rendered = render_edition(edition)
    assert "cid:" not in rendered.html
    assert [t["src"] for t in tags(rendered.html, "img", "cover")] == \
        [f"http://localhost/uploads/{name}"]


def test_all_covers_missing_leaves_a_plain_alternative(app):
    edition = layout_edition(2, covers=True)
    rendered = render_edition(edition)
    for name in covers_of(edition):
        (uploads.upload_dir() / name).unlink()
    parsed = parse(message(mailer(rendered)))
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert "cid:" not in parsed.get_body(("html",)).get_content()


def test_embedding_off_links_covers_remotely(app):
    settings(embed_images=False)
    edition = layout_edition(2, covers=True)
    rendered = render_edition(edition)
    assert "cid:" not in rendered.html
    parsed = parse(message(mailer(rendered)))
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    html = parsed.get_body(("html",)).get_content()
    assert [t["src"] for t in tags(html, "img", "cover")] == \
        [f"http://localhost/uploads/{name}" for name in covers_of(edition)]


def test_user_text_cannot_attach_a_file(app):
    """A story cannot make a cid: picture: its <img> is escaped (and sanitized HTML allows
    only http, https and mailto links), and text that looks like one is left as text."""
    name = stored_cover()
    reference = f'src="cid:{name}@fgf.inline"'
    edition = layout_edition(1, quotes=0, body=lambda n: f"![x](cid:{name}@fgf.inline) "
                             f"<img {reference}> and {reference}")
    rendered = render_edition(edition)
    assert mailer(rendered).images == []
    assert compose.with_remote_images(rendered.html) == rendered.html
    assert not [t for t in tags(rendered.html, "img") if "cid:" in t.get("src", "")]


# -- through the real sender and SMTP server ------------------------------------------------------


def test_sent_edition_arrives_with_its_pictures(app, smtp_server, editor):
    configure_app_for(app, smtp_server)
    edition = layout_edition(6, covers=True)
    seed_recipients(2)
    db.session.commit()
    result = sending.run_edition(edition.id)
    assert result.stats.sent >= 2
    rendered = render_edition(db.session.get(type(edition), edition.id))
    received = [m for m in smtp_server.messages if m.message["List-Id"]]
    assert received
    rows = {d.email: d for d in db.session.scalars(
        sa.select(Delivery).where(Delivery.edition_id == edition.id))}
    for item in received:
        parsed = email.message_from_bytes(item.raw, policy=email.policy.default)
        assert not any(part.defects for part in parsed.walk())
        assert rows[item.rcpt_tos[0]].status == DeliveryStatus.SENT
        text_part, related = parsed.iter_parts()
        html_part, *images = related.iter_parts()
        html = html_part.get_content()
        assert len(tags(html, "table", "teaser-table")) == 6
        cids = {t["src"][4:] for t in tags(html, "img", "teaser-thumb")}
        assert cids == {p["Content-ID"].strip("<>") for p in images}
        for part in images:
            name = part["Content-ID"].strip("<>").split("@")[0]
            assert part.get_content() == (uploads.upload_dir() / name).read_bytes()
        assert rendered.html.count("cid:") == html.count("cid:") == 6


def test_test_send_uses_the_same_builder(app, smtp_server, editor, editor_client):
    configure_app_for(app, smtp_server)
    edition = layout_edition(2, covers=True, status=EditionStatus.DRAFT)
    db.session.commit()
    response = editor_client.post(f"/editions/upcoming/{edition.id}/test",
                                  data={"version": edition.version})
    assert response.status_code == 302
    [item] = smtp_server.messages
    assert item.rcpt_tos == [editor.email]
    parsed = email.message_from_bytes(item.raw, policy=email.policy.default)
    related = parsed.get_payload()[1]
    assert related.get_content_type() == "multipart/related"
    names = [p["Content-ID"].strip("<>").split("@")[0] for p in list(related.iter_parts())[1:]]
    assert names == covers_of(edition)


# -- the preview page's size report ---------------------------------------------------------------


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"


def test_preview_reports_the_size_with_and_without_pictures(app, editor, editor_client):
    edition = layout_edition(2, covers=True, status=EditionStatus.DRAFT)
    db.session.commit()
    page = editor_client.get(f"/editions/upcoming/{edition.id}/preview").get_data(as_text=True)

    rendered = compose.render_as_it_will_go_out(edition)
    built = sending.mailer_for(edition, rendered).message(
        email_address=editor.email, name=editor.display_name, first_name=editor.first_name,
        message_id="<fgf.1.preview@localhost>", unsubscribe_url="http://localhost/unsubscribe/x",
    )
    size = measure(built)
    plain = measure(sending.mailer_for(edition, compose.RenderedEdition(
        rendered.subject, compose.with_remote_images(rendered.html), rendered.text, "")).message(
        email_address=editor.email, name=editor.display_name, first_name=editor.first_name,
        message_id="<fgf.1.preview@localhost>", unsubscribe_url="http://localhost/unsubscribe/x",
    ))
    pictures = sum((uploads.upload_dir() / n).stat().st_size for n in covers_of(edition))
    assert size.images == 2 and size.wire > plain.wire + pictures  # base64: 4/3 of the bytes
    shown = re.search(r"data-size-as-sent>([\d.]+ KB)<", page).group(1)
    assert abs(float(shown.split()[0]) - size.wire / 1024) <= 0.5  # same message, other tokens
    assert re.search(r"data-size-with-images>With cover pictures embedded: ([\d.]+ KB) "
                     r"\(2 pictures\)", page)
    without = re.search(r"data-size-without-images>Without pictures[^:]*: ([\d.]+ KB)", page)
    assert abs(float(without.group(1).split()[0]) - plain.wire / 1024) <= 0.5
    assert "Gmail will clip this email" not in page
    # The framed email shows the pictures from the site (a browser cannot resolve cid:).
    framed = editor_client.get(f"/editions/upcoming/{edition.id}/preview/email")
    html = framed.get_data(as_text=True)
    assert "cid:" not in html
    assert [t["src"] for t in tags(html, "img", "cover")] == \
        [f"http://localhost/uploads/{n}" for n in covers_of(edition)]


def test_preview_with_embedding_off_still_reports_the_cost_of_turning_it_on(app, editor_client):
    settings(embed_images=False)
    edition = layout_edition(2, covers=True, status=EditionStatus.DRAFT)
    db.session.commit()
    page = editor_client.get(f"/editions/upcoming/{edition.id}/preview").get_data(as_text=True)
    as_sent = float(re.search(r"data-size-as-sent>([\d.]+) KB<", page).group(1))
    with_images = float(re.search(r"embedded: ([\d.]+) KB", page).group(1))
    pictures = sum((uploads.upload_dir() / n).stat().st_size for n in covers_of(edition))
    assert with_images - as_sent >= pictures * 4 / 3 / 1024 - 0.2  # base64: 4 bytes for 3
    assert "Embedding pictures is off" in page


def test_preview_links_the_embedding_setting_for_admins_only(app, editor_client, admin_client):
    edition = layout_edition(2, status=EditionStatus.DRAFT)
    db.session.commit()
    url = f"/editions/upcoming/{edition.id}/preview"
    page = admin_client.get(url).get_data(as_text=True)
    [link] = re.findall(r'<a href="([^"]+)" data-embedding-setting>', page)
    assert link == "/admin/settings/branding#branding-layout"
    target = admin_client.get(link.split("#")[0]).get_data(as_text=True)
    assert 'id="branding-layout"' in target and 'name="embed_images"' in target
    page = editor_client.get(url).get_data(as_text=True)  # the page is the admins' only
    assert "data-embedding-setting" not in page
    assert "an admin changes it in Admin → Settings → Branding" in page


def test_preview_warns_when_gmail_would_clip_the_html(app, editor_client):
    long_body = "A sentence that keeps going and going for the size of it. " * 1000
    edition = layout_edition(2, status=EditionStatus.DRAFT, body=lambda n: long_body)
    db.session.commit()
    page = editor_client.get(f"/editions/upcoming/{edition.id}/preview").get_data(as_text=True)
    assert "Gmail will clip this email" in page
    assert float(re.search(r"HTML part: ([\d.]+) KB", page).group(1)) > 102
    short = layout_edition(2, status=EditionStatus.SCHEDULED)
    db.session.commit()
    page = editor_client.get(f"/editions/upcoming/{short.id}/preview").get_data(as_text=True)
    assert "Gmail will clip this email" not in page


def test_preview_of_an_empty_and_of_a_sent_edition(app, editor_client):
    empty = layout_edition(0, quotes=0, status=EditionStatus.DRAFT)
    sent = layout_edition(2, covers=True, status=EditionStatus.SENDING)
    compose.freeze_edition(sent)
    sent.status = EditionStatus.SENT
    db.session.commit()
    page = editor_client.get(f"/editions/upcoming/{empty.id}/preview")
    assert page.status_code == 200
    assert re.search(r"data-size-as-sent>[\d.]+ KB<", page.get_data(as_text=True))
    page = editor_client.get(f"/editions/upcoming/{sent.id}/preview").get_data(as_text=True)
    assert re.search(r"data-size-as-sent>[\d.]+ KB</strong>, cover pictures embedded \(2\)", page)
    settings(embed_images=False)  # a sent edition stays as it was sent
    page = editor_client.get(f"/editions/upcoming/{sent.id}/preview").get_data(as_text=True)
    assert "cover pictures embedded (2)" in page
    assert "data-preview-layout" not in page  # the layout line is for editions still open
