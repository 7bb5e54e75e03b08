"""Profile photos: only real pictures are accepted, stored as clean square JPEGs (48, 96 and
256 px, no metadata) under a new key per upload, the old files deleted after the commit; served
to signed-in staff, and to email clients through signed links; shown where initials were."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import url_for
from PIL import Image

from app.errors import ValidationError
from app.extensions import db
from app.models import EditionStatus
from app.models import SubmissionStatus
from app.models import User
from app.newsletter.compose import compile_edition
from app.photos import services
from app.photos import storage
from app.photos.urls import email_photo_url
from tests.querycount import count_queries
from tests.test_submissions import Page
from tests.test_submissions_uploads import image_bytes
from tests.test_submissions_uploads import jpeg_with_exif
from tests.test_submissions_uploads import png_header_only

P = SubmissionStatus.PUBLISHED


def files_of(key: str) -> list[Path]:
    return sorted(storage.photo_dir().glob(f"{key}-*.jpg"))


def all_files() -> list[Path]:
    directory = storage.photo_dir()
    return sorted(directory.iterdir()) if directory.exists() else []


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def upload(client, data: bytes, filename: str = "me.jpg"):
    return client.post(
        "/account/photo",
        data={"photo-photo": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def images(page_html: str) -> list:
    return [e for e in Page(page_html).elements if e.tag == "img"]


# -- the pipeline --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (jpeg_with_exif(), (400, 200)),
        (image_bytes("PNG", size=(300, 500), mode="RGBA"), (300, 500)),
        (image_bytes("WEBP", size=(640, 480)), (640, 480)),
        (image_bytes("JPEG", size=(30, 20), mode="CMYK"), (30, 20)),
    ],
    ids=["jpeg-exif", "png-alpha", "webp", "tiny-cmyk"],
)
def test_pictures_become_clean_square_jpegs_in_three_sizes(app, employee, data, size):
    services.save_photo(employee, data)
    db.session.commit()
    key = reload(employee).photo_key
    assert storage.is_valid_key(key)
    assert [p.name for p in files_of(key)] == [f"{key}-{s}.jpg" for s in (256, 48, 96)]
    for px in storage.SIZES:
        raw = storage.path_for(key, px).read_bytes()
        assert b"SpyCam" not in raw and b"secret comment" not in raw and b"Exif" not in raw
        with Image.open(storage.path_for(key, px)) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (px, px))
            assert not image.getexif()
            assert not {"exif", "comment", "icc_profile"} & set(image.info)


def test_exif_orientation_is_applied_before_cropping(app, employee):
    # 400x200 landscape, EXIF "rotate 90°": upright it is 200x400, so the crop keeps the middle
    # of a portrait. Left half red, right half blue: stored upright, the top is red.
    image = Image.new("RGB", (400, 200), "blue")
    image.paste(Image.new("RGB", (200, 200), "red"), (0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    services.save_photo(employee, out.getvalue())
    db.session.commit()
    with Image.open(storage.path_for(reload(employee).photo_key, 256)) as stored:
        top, bottom = stored.getpixel((128, 5)), stored.getpixel((128, 250))
    assert top[0] > 200 and top[2] < 60  # red on top
    assert bottom[2] > 200 and bottom[0] < 60  # blue below


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"just my notes, not a picture\n" * 20, "isn't a picture"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "isn't a picture"),
        (image_bytes("JPEG")[:400], "isn't a picture"),  # truncated
        (png_header_only(30_000, 30_000), "too many pixels"),  # decompression bomb
        (png_header_only(0x7FFFFFFF, 1), "too many pixels"),
        (b"", "empty"),
        (b"\xff" * (5 * 1024 * 1024 + 1), "just over 5 MB; the limit is 5 MB"),
    ],
    ids=["text", "svg", "truncated", "bomb", "bomb-wide", "empty", "over-limit"],
)
def test_bad_pictures_are_refused_clearly_and_nothing_is_stored(app, employee, data, message):
    with pytest.raises(ValidationError) as caught:
        services.save_photo(employee, data)
    assert message in caught.value.message
    db.session.rollback()
    assert reload(employee).photo_key is None
    assert all_files() == []


def test_the_limit_is_a_setting(app, employee):
    app.config["PHOTO_MAX_BYTES"] = 200 * 1024
    data = image_bytes("PNG") + b"\x00" * (500 * 1024)  # 0.5 MB: the size is checked first
    with pytest.raises(storage.PhotoTooLarge, match=r"is 0\.5 MB; the limit is 0\.2 MB"):
        services.save_photo(employee, data)
    assert all_files() == []


# -- replacing and removing ----------------------------------------------------------------------


def test_replacing_deletes_the_old_files_only_after_the_commit(app, employee):
    services.save_photo(employee, image_bytes())
    db.session.commit()
    first = reload(employee).photo_key

    services.save_photo(employee, image_bytes("PNG"))
    second = employee.photo_key
    assert second != first
    assert len(files_of(first)) == 3 and len(files_of(second)) == 3  # before the commit: both
    db.session.commit()
    assert files_of(first) == []
    assert len(files_of(second)) == 3 and reload(employee).photo_key == second


def test_a_rolled_back_replacement_keeps_the_old_photo(app, employee):
    services.save_photo(employee, image_bytes())
    db.session.commit()
    first = reload(employee).photo_key
    services.save_photo(employee, image_bytes("PNG"))
    db.session.rollback()
    assert reload(employee).photo_key == first and len(files_of(first)) == 3


def test_remove_goes_back_to_initials_and_deletes_the_files(app, employee):
    services.save_photo(employee, image_bytes())
    db.session.commit()
    key = reload(employee).photo_key
    services.remove_photo(employee)
    db.session.commit()
    assert reload(employee).photo_key is None and files_of(key) == []
    services.remove_photo(employee)  # nothing to remove: nothing happens
    db.session.commit()


def test_the_photos_job_sweeps_old_orphans_only(app, employee):
    import os
    import time

    from app.photos.subscribers import prune_photos_job

    storage.write("o" * 22, {48: b"x", 96: b"x", 256: b"x"})  # a rolled-back upload's files
    fresh = "f" * 22
    storage.write(fresh, {48: b"x", 96: b"x", 256: b"x"})
    old = time.time() - 2 * 86_400
    for path in files_of("o" * 22):
        os.utime(path, (old, old))
    services.save_photo(employee, image_bytes())
    db.session.commit()
    kept = reload(employee).photo_key
    for path in files_of(kept):
        os.utime(path, (old, old))  # an old photo that is in use stays
    assert prune_photos_job(lambda: False) == 3
    assert files_of("o" * 22) == [] and len(files_of(fresh)) == 3 and len(files_of(kept)) == 3


# -- the profile page ----------------------------------------------------------------------------


def test_upload_replace_and_remove_on_the_profile_page(employee_client, employee):
    page = employee_client.get("/account/")
    html = page.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'id="photo-photo"' in html
    assert "No photo yet" in html and "photos.js" in html

    response = upload(employee_client, image_bytes())
    assert response.status_code == 302 and response.location.endswith("/account/#photo")
    first = reload(employee).photo_key
    html = employee_client.get("/account/").get_data(as_text=True)
    assert f"/photos/{first}-96.jpg" in html and "Replace photo" in html

    upload(employee_client, image_bytes("WEBP"), "me.webp")
    second = reload(employee).photo_key
    assert second != first and files_of(first) == []

    response = employee_client.post("/account/photo/remove")
    assert response.status_code == 302
    assert reload(employee).photo_key is None and files_of(second) == []
    assert "No photo yet" in employee_client.get("/account/").get_data(as_text=True)


def test_a_bad_file_keeps_the_profile_page_with_the_message(employee_client, employee):
    response = upload(employee_client, b"not a picture at all\n" * 30, "holiday.png")
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "isn't a picture we can use" in page.text
    assert page.by_id("photo-photo").attrs.get("aria-invalid") == "true"
    assert "Your profile" in page.text  # the whole page, its other forms too
    assert reload(employee).photo_key is None and all_files() == []


def test_no_file_chosen_is_a_form_error(employee_client, employee):
    response = employee_client.post("/account/photo", data={}, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Choose a photo to upload." in response.get_data(as_text=True)


def test_an_oversize_upload_answers_413_on_the_page(employee_client, employee):
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    big = FileStorage(io.BytesIO(b"\x00" * (6 * 1024 * 1024)), filename="huge.jpg")
    boundary, body = encode_multipart({"photo-photo": big})
    response = employee_client.post(
        "/account/photo", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 413
    assert "That photo is 6 MB; the limit is 5 MB." in Page(response.get_data(as_text=True)).text
    assert reload(employee).photo_key is None and all_files() == []


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_photo_forms_need_the_csrf_token(app, employee, login_as):
    client = login_as(employee)
    assert upload(client, image_bytes()).status_code == 400
    assert client.post("/account/photo/remove").status_code == 400
    assert reload(employee).photo_key is None


# -- serving -------------------------------------------------------------------------------------


def test_photos_are_served_to_signed_in_staff_only(app, client, employee_client, employee):
    services.save_photo(employee, image_bytes())
    db.session.commit()
    key = reload(employee).photo_key
    response = employee_client.get(f"/photos/{key}-48.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response.data == storage.path_for(key, 48).read_bytes()
    response.close()

    anonymous = client.get(f"/photos/{key}-48.jpg")
    assert anonymous.status_code == 302 and "/login" in anonymous.location


@pytest.mark.parametrize(
    "name",
    ["nope.jpg", "x" * 22 + "-48.jpg", "KEY-64.jpg", "KEY-48.png", "KEY.jpg", "..%2FKEY-48.jpg"],
)
def test_unknown_photos_and_sizes_are_404(app, employee_client, employee, name):
    services.save_photo(employee, image_bytes())
    db.session.commit()
    name = name.replace("KEY", reload(employee).photo_key)
    assert employee_client.get(f"/photos/{name}").status_code == 404


def test_email_links_work_without_a_session_and_only_when_signed(app, client, employee):
    services.save_photo(employee, image_bytes())
    db.session.commit()
    key = reload(employee).photo_key
    url = email_photo_url(employee.id, key)
    assert url.startswith("http://localhost/photos/mail/") and url.endswith(".jpg")
    path = url.removeprefix("http://localhost")
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.data == storage.path_for(key, 48).read_bytes()
    response.close()

    forged = path[:-8] + ("A" if path[-8] != "A" else "B") + path[-7:]
    assert client.get(forged).status_code == 404
    assert client.get(f"/photos/{key}-48.jpg").status_code == 302  # the key alone is not enough

    # Replaced: an old email shows today's face; removed: nothing.
    services.save_photo(employee, image_bytes("PNG"))
    db.session.commit()
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.data == storage.path_for(reload(employee).photo_key, 48).read_bytes()
    response.close()
    services.remove_photo(reload(employee))
    db.session.commit()
    assert client.get(path).status_code == 404


# -- faces where initials were -------------------------------------------------------------------


@pytest.fixture
def faces(app, make_user, make_team, make_story, make_edition):
    """A published story by Ana about Ben (both with photos) and Cy (no photo), in a sent
    edition; a comment by Ana."""
    from app.models import Comment

    team = make_team("Support")
    ana = make_user(display_name="Ana Author", team=team)
    ben = make_user(display_name="Ben Colleague", team=team)
    cy = make_user(display_name="Cy Initials", team=team)
    services.save_photo(ana, image_bytes())
    services.save_photo(ben, image_bytes("PNG"))
    story = make_story(ana, status=P, title="A rescued wedding", colleagues=[ben, cy], team=team)
    make_edition(status=EditionStatus.SENT, items=[story])
    db.session.add(Comment(story_id=story.id, author_id=ana.id, body="Proud of you both!"))
    db.session.commit()
    return ana, ben, cy, story, team


def face(html: str, key: str) -> dict:
    found = [e.attrs for e in images(html) if f"/photos/{key}-" in e.attrs.get("src", "")]
    assert found, f"no photo {key} in the page"
    return found[0]


def test_cards_show_colleagues_faces(employee_client, faces):
    ana, ben, cy, story, team = faces
    html = employee_client.get("/").get_data(as_text=True)
    img = face(html, ben.photo_key)
    assert img["src"].endswith(f"{ben.photo_key}-48.jpg")
    assert img["srcset"].endswith(f"{ben.photo_key}-96.jpg 2x")
    assert (img["width"], img["height"], img["alt"], img["loading"]) == ("32", "32", "", "lazy")
    assert "avatar" in img["class"]
    assert ">CI</span>" in html  # no photo: initials as before


def test_story_page_shows_author_colleagues_and_commenters(employee_client, faces):
    ana, ben, cy, story, team = faces
    html = employee_client.get(f"/stories/{story.id}").get_data(as_text=True)
    assert face(html, ana.photo_key)["alt"] == ""
    assert face(html, ben.photo_key)
    srcs = [e.attrs.get("src", "") for e in images(html)]
    assert sum(f"/photos/{ana.photo_key}-" in s for s in srcs) >= 2  # byline and comment


def test_person_and_team_pages_show_faces(employee_client, faces):
    ana, ben, cy, story, team = faces
    html = employee_client.get(f"/people/{ben.id}").get_data(as_text=True)
    img = face(html, ben.photo_key)
    assert img["src"].endswith("-96.jpg") and img["srcset"].endswith("-256.jpg 2x")
    assert (img["width"], img["height"]) == ("56", "56")
    html = employee_client.get(f"/teams/{team.id}").get_data(as_text=True)
    assert face(html, ben.photo_key)


def test_the_email_shows_faces_by_absolute_session_free_links(app, client, faces):
    ana, ben, cy, story, team = faces
    from app.models import Edition

    edition = db.session.scalar(db.select(Edition))
    rendered = compile_edition(edition)
    srcs = [e.attrs["src"] for e in images(rendered.html) if "/photos/mail/" in e.attrs["src"]]
    assert len(srcs) == 1  # Ben; Cy has no photo
    assert srcs[0].startswith("http://localhost/photos/mail/")
    img = next(e.attrs for e in images(rendered.html) if e.attrs["src"] == srcs[0])
    assert (img["width"], img["height"], img["alt"]) == ("24", "24", "")
    assert "Ben Colleague and Cy Initials" in rendered.text
    assert "/photos/" not in rendered.text  # the text part is unchanged
    response = client.get(srcs[0].removeprefix("http://localhost"))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.data == storage.path_for(ben.photo_key, 48).read_bytes()
    response.close()


@pytest.mark.app_config(READING_CACHE_SECONDS=0)
def test_faces_cost_no_extra_queries(db, employee_client, make_user, make_story, make_team):
    team = make_team("Counted")
    people = [make_user(team=team) for _ in range(3)]
    story = make_story(people[0], status=P, colleagues=people[1:], team=team)
    db.session.commit()
    urls = ["/", f"/stories/{story.id}", f"/people/{people[1].id}", f"/teams/{team.id}"]

    def counts() -> list[int]:
        found = []
        for url in urls:
            assert employee_client.get(url).status_code == 200  # warm-up
            with count_queries() as log:
                assert employee_client.get(url).status_code == 200
            found.append(log.count)
        return found

    without = counts()
    for person in people:
        services.save_photo(person, image_bytes())
    db.session.commit()
    assert counts() == without
    html = employee_client.get("/").get_data(as_text=True)
    assert "/photos/" in html


def test_avatar_macro_shows_the_photo_or_the_initials(app):
    with app.test_request_context():
        html = app.jinja_env.from_string(
            '{% import "_macros.html" as ui %}{{ ui.avatar("Priya Raman", "sm", photo=none) }}'
        ).render()
        assert ">PR</span>" in html and "<img" not in html
        html = app.jinja_env.from_string(
            '{% import "_macros.html" as ui %}'
            '{{ ui.avatar("Priya Raman", decorative=False, photo="k" * 22) }}'
        ).render()
        assert 'alt="Priya Raman"' in html and 'width="40"' in html
        assert url_for("photos.photo", name="k" * 22 + "-48.jpg") in html
