"""Cover pictures: only real images are accepted, stored clean (no metadata), at most 1600 px
wide, kept across a form re-render, and served with the right type and `nosniff`."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from app.errors import ValidationError
from app.extensions import db
from app.models import Story
from app.submissions import uploads
from tests.test_submissions import Page
from tests.test_submissions import latest
from tests.test_submissions import story_form


def image_bytes(fmt: str = "JPEG", size=(800, 600), mode="RGB", **save) -> bytes:
    image = Image.new(mode, size, "orange" if mode in ("RGB", "RGBA", "CMYK") else 128)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    """A 400x200 JPEG whose EXIF says "rotate 90°" and carries a GPS position and a comment."""
    image = Image.new("RGB", (400, 200), "teal")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° CW to display
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"secret comment")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A syntactically valid PNG announcing huge dimensions with almost no data (a "bomb")."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\x00" * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def stored(name: str) -> Path:
    return Path(uploads.upload_dir()) / name


# -- the pipeline --------------------------------------------------------------------------------


def test_jpeg_is_reencoded_upright_without_metadata(app):
    name = uploads.store_cover_image(io.BytesIO(jpeg_with_exif()))
    assert uploads.is_valid_name(name) and name.endswith(".jpg")
    data = stored(name).read_bytes()
    assert b"SpyCam" not in data and b"secret comment" not in data and b"Exif" not in data
    with Image.open(stored(name)) as image:
        assert image.format == "JPEG"
        assert image.size == (200, 400)  # the rotation the dropped EXIF asked for was applied
        assert not image.getexif()
        assert "exif" not in image.info and "comment" not in image.info


def test_wide_images_are_scaled_to_1600_px(app):
    name = uploads.store_cover_image(io.BytesIO(image_bytes("PNG", size=(4000, 1000))))
    with Image.open(stored(name)) as image:
        assert image.size == (1600, 400)


def test_small_images_keep_their_size(app):
    name = uploads.store_cover_image(io.BytesIO(image_bytes("WEBP", size=(300, 200))))
    assert name.endswith(".webp")
    with Image.open(stored(name)) as image:
        assert (image.format, image.size) == ("WEBP", (300, 200))


def test_png_keeps_transparency(app):
    name = uploads.store_cover_image(io.BytesIO(image_bytes("PNG", mode="RGBA")))
    with Image.open(stored(name)) as image:
        assert image.mode == "RGBA"


def test_gif_becomes_a_still_png(app):
    frames = [Image.new("P", (120, 80), i) for i in (1, 50)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    name = uploads.store_cover_image(io.BytesIO(out.getvalue()))
    assert name.endswith(".png")
    with Image.open(stored(name)) as image:
        assert image.format == "PNG" and image.size == (120, 80)


def test_cmyk_jpeg_is_stored_as_rgb(app):
    name = uploads.store_cover_image(io.BytesIO(image_bytes("JPEG", mode="CMYK")))
    with Image.open(stored(name)) as image:
        assert image.mode == "RGB"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello, I am a text file pretending to be a picture\n" * 10, "isn't a picture"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "isn't a picture"),
        (b"GIF89a<script>alert(1)</script>", "isn't a picture"),
        (image_bytes("BMP"), "isn't a picture"),
        (image_bytes("TIFF"), "isn't a picture"),
        (image_bytes("JPEG")[:400], "isn't a picture"),  # truncated
        (b"", "empty"),
        (b"\xff" * (5 * 1024 * 1024 + 1), "just over 5 MB; the limit is 5 MB"),
        (png_header_only(30_000, 30_000), "too many pixels"),
        (png_header_only(0x7FFFFFFF, 1), "too many pixels"),
    ],
    ids=["text", "svg", "gif-magic-script", "bmp", "tiff", "truncated", "empty", "over-5mb",
         "bomb", "bomb-wide"],
)
def test_everything_else_is_refused_with_a_clear_message(app, data, message):
    with pytest.raises(ValidationError) as caught:
        uploads.store_cover_image(io.BytesIO(data))
    assert message in caught.value.message
    assert not any(uploads.upload_dir().glob("*")) if uploads.upload_dir().exists() else True


def test_exactly_five_megabytes_is_allowed_if_it_is_an_image(app):
    data = image_bytes("PNG", size=(64, 64))
    padded = data + b"\x00" * (5 * 1024 * 1024 - len(data))  # trailing bytes after IEND
    assert len(padded) == 5 * 1024 * 1024
    assert uploads.store_cover_image(io.BytesIO(padded)).endswith(".png")


def test_pillow_bomb_warning_is_a_refusal_not_a_crash(app, monkeypatch):
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both must be refusals.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for size in ((40, 40), (100, 100)):  # 1,600 px: warning; 10,000 px: error
        with pytest.raises(ValidationError, match="too many pixels"):
            uploads.store_cover_image(io.BytesIO(image_bytes("PNG", size=size)))


# -- through the form and back out --------------------------------------------------------------


def upload_form(data: bytes, filename: str = "photo.jpg", **overrides) -> dict:
    return story_form(cover_image=(io.BytesIO(data), filename), **overrides)


def test_upload_through_the_form_and_serve_it(employee_client):
    response = employee_client.post(
        "/stories/new",
        data=upload_form(image_bytes(), cover_image_alt="Our team at the counter"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    story = latest(Story)
    assert story.cover_image and story.cover_image_alt == "Our team at the counter"
    html = employee_client.get(f"/my/stories/{story.id}").get_data(as_text=True)
    img = next(e for e in Page(html).elements if e.tag == "img" and "/uploads/" in e.attrs["src"])
    assert img.attrs["alt"] == "Our team at the counter"

    served = employee_client.get(img.attrs["src"])
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert served.data == stored(story.cover_image).read_bytes()
    served.close()


def test_uploads_are_served_without_a_session_for_email_clients(client, app):
    name = uploads.store_cover_image(io.BytesIO(image_bytes("PNG")))
    response = client.get(f"/uploads/{name}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    response.close()


@pytest.mark.parametrize("name", ["nope.png", "x" * 22 + ".svg", "..%2Fconfig.py", ".incoming-x"])
def test_unknown_upload_names_are_404(client, name):
    assert client.get(f"/uploads/{name}").status_code == 404


def test_a_renamed_text_file_is_refused_in_the_form(employee_client):
    response = employee_client.post(
        "/stories/new",
        data=upload_form(b"just some notes\n" * 50, "holiday.png", cover_image_alt="Notes"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    text = Page(response.get_data(as_text=True)).text
    assert "isn't a picture we can use" in text
    assert db.session.query(Story).count() == 0


def test_too_large_request_gets_a_clear_page(employee_client):
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    # Encoded up front: the test client would spool a body this big to a temporary file that
    # it never closes (a ResourceWarning, which this suite treats as an error).
    big = FileStorage(io.BytesIO(b"\x00" * (7 * 1024 * 1024)), filename="huge.jpg")
    boundary, body = encode_multipart({**story_form(), "cover_image": big})
    assert len(body) > 7 * 1024 * 1024
    response = employee_client.post(
        "/stories/new", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 413  # the form comes back, with what was typed
    page = Page(response.get_data(as_text=True))
    assert "The picture is 7 MB; the limit is 5 MB." in page.text
    assert page.value("title") == story_form()["title"]


def test_picture_survives_a_validation_error_and_is_saved_next_time(employee_client):
    response = employee_client.post(
        "/stories/new",
        data=upload_form(image_bytes(), title="x", cover_image_alt=""),
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "Describe the picture in a few words" in page.text
    token = page.value("cover_token")
    assert token
    assert any(e.tag == "img" and "/uploads/" in e.attrs.get("src", "") for e in page.elements)

    response = employee_client.post(
        "/stories/new",
        data=story_form(cover_token=token, cover_image_alt="A happy customer"),
    )
    assert response.status_code == 302
    story = latest(Story)
    assert story.cover_image and stored(story.cover_image).is_file()


def test_pending_picture_tokens_are_personal(employee_client, login_as, make_user, app):
    name = uploads.store_cover_image(io.BytesIO(image_bytes()))
    someone = make_user()
    db.session.commit()
    token = uploads.sign_pending(name, someone.id)
    employee_client.post(
        "/stories/new", data=story_form(cover_token=token, cover_image_alt="stolen")
    )
    assert latest(Story).cover_image is None
    assert uploads.unsign_pending("forged." + token, someone.id) is None


def test_remove_and_replace_cover(employee_client, employee):
    employee_client.post(
        "/stories/new",
        data=upload_form(image_bytes(), cover_image_alt="First"),
        content_type="multipart/form-data",
    )
    story = latest(Story)
    first = story.cover_image
    employee_client.post(
        f"/stories/{story.id}/edit",
        data=upload_form(image_bytes("PNG"), "second.png", cover_image_alt="Second",
                         version=str(story.version)),
        content_type="multipart/form-data",
    )
    db.session.refresh(story)
    assert story.cover_image != first and story.cover_image.endswith(".png")
    employee_client.post(
        f"/stories/{story.id}/edit",
        data=story_form(remove_cover="y", cover_image_alt="Second", version=str(story.version)),
    )
    db.session.refresh(story)
    assert story.cover_image is None and story.cover_image_alt is None


def test_pruning_removes_only_old_unreferenced_files(app):
    import os
    import time

    keep = uploads.store_cover_image(io.BytesIO(image_bytes()))
    orphan = uploads.store_cover_image(io.BytesIO(image_bytes()))
    fresh = uploads.store_cover_image(io.BytesIO(image_bytes()))
    old = time.time() - 3 * 86_400
    for name in (keep, orphan):
        os.utime(stored(name), (old, old))
    assert uploads.prune_orphaned_uploads({keep}) == 1
    assert stored(keep).exists() and stored(fresh).exists() and not stored(orphan).exists()
