"""Branding (Admin → Settings → Branding and layout): the logo is verified, resized and stored as
a PNG under a new key (the old file deleted after the commit), the accent colour must read at AA
with white, the footer is one or two clean lines; the site shows all three (header logo, a
generated theme stylesheet, the footer) without a query of its own; the email layout settings
are saved on the same page."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import g
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.branding import DEFAULT_ACCENT
from app.branding import brand
from app.branding import services
from app.branding import storage
from app.branding import theme
from app.branding.colors import AA
from app.branding.colors import WHITE
from app.branding.colors import check_accent
from app.branding.colors import contrast
from app.errors import ValidationError
from app.extensions import db
from app.models import AuditEvent
from app.models import Role
from app.settings import get_setting
from app.settings import get_settings
from app.settings import set_settings
from app.web.context import org_timezone
from tests.querycount import count_queries
from tests.test_submissions import Page
from tests.test_submissions_uploads import image_bytes
from tests.test_submissions_uploads import png_header_only

URL = "/admin/settings/branding"


def logo_files() -> list[Path]:
    directory = storage.logo_dir()
    return sorted(directory.iterdir()) if directory.exists() else []


def stored_logo() -> str | None:
    db.session.expire_all()
    return get_setting("brand_logo")


def upload(client, data: bytes, filename: str = "logo.png"):
    # Encoded here: the test client would spool a large body to a temporary file it leaves open.
    boundary, body = encode_multipart(
        {"logo-logo": FileStorage(io.BytesIO(data), filename=filename)})
    return client.post(f"{URL}/logo", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def page_form(**overrides) -> dict:
    data = {"brand_accent": "#1d4ed8", "brand_footer": "", "teaser_threshold": "4"}
    data.update(overrides)
    return data


def animated_gif() -> bytes:
    frames = [Image.new("P", (300, 100), i) for i in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def transparent_png(size=(1200, 300)) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (size[0] // 2, size[1]), (20, 60, 200, 255)), (0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# -- the logo pipeline ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (transparent_png((1200, 300)), (480, 120)),  # wide: the width bounds it
        (image_bytes("JPEG", size=(2000, 1000)), (288, 144)),  # the height bounds it
        (image_bytes("PNG", size=(100, 1000)), (14, 144)),  # tall and narrow
        (image_bytes("JPEG", size=(200, 60)), (200, 60)),  # small: never enlarged
        (image_bytes("WEBP", size=(480, 144)), (480, 144)),  # exactly the bounds
        (image_bytes("JPEG", size=(30, 20), mode="CMYK"), (30, 20)),
        (animated_gif(), (300, 100)),  # the first frame
    ],
    ids=["png-alpha-wide", "jpeg-large", "png-tall", "jpeg-small", "webp-exact", "cmyk", "gif"],
)
def test_logos_become_clean_pngs_that_fit(app, admin, data, size):
    key = services.save_logo(data, actor=admin)
    db.session.commit()
    assert stored_logo() == key and storage.is_valid_key(key)
    [path] = logo_files()
    assert path.name == f"{key}.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size
        assert image.width <= 480 and image.height <= 144
        assert getattr(image, "n_frames", 1) == 1
        assert not {"exif", "comment", "icc_profile"} & set(image.info)


def test_transparency_is_kept(app, admin):
    services.save_logo(transparent_png(), actor=admin)
    db.session.commit()
    with Image.open(storage.path_for(stored_logo())) as image:
        assert image.mode == "RGBA"
        assert image.getpixel((5, 5))[3] == 255  # the blue half
        assert image.getpixel((470, 5))[3] == 0  # the transparent half stays transparent


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Not a logo, just notes about one\n" * 20, "isn't a picture we can use"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "isn't a picture"),
        (image_bytes("PNG", size=(400, 300))[:300], "isn't a picture"),  # truncated
        (image_bytes("JPEG", size=(400, 300))[:500], "isn't a picture"),  # truncated
        (png_header_only(20_000, 20_000), "too many pixels"),  # decompression bomb
        (png_header_only(25_000_001, 1), "too many pixels"),  # one pixel over the cap
        (b"", "empty"),
        (b"\x89PNG" + b"\x00" * (2 * 1024 * 1024), "just over 2 MB; a logo may be at most 2 MB"),
    ],
    ids=["text", "svg", "truncated-png", "truncated-jpeg", "bomb", "bomb-wide", "empty",
         "oversize"],
)
def test_bad_logos_are_refused_clearly_and_nothing_is_stored(app, admin, data, message):
    with pytest.raises(ValidationError) as caught:
        services.save_logo(data, actor=admin)
    assert message in caught.value.message
    db.session.rollback()
    assert stored_logo() is None and logo_files() == []


def test_exactly_the_limit_is_accepted_one_byte_more_is_not(app, admin):
    app.config["BRAND_LOGO_MAX_BYTES"] = limit = 64 * 1024
    data = image_bytes("PNG", size=(200, 100))
    data += b"\x00" * (limit - len(data))  # padding after IEND: still a valid PNG
    assert len(data) == limit
    services.save_logo(data, actor=admin)
    with pytest.raises(storage.LogoTooLarge, match=r"a logo may be at most 0\.1 MB"):
        services.save_logo(data + b"\x00", actor=admin)


def test_replacing_deletes_the_old_file_only_after_the_commit(app, admin):
    first = services.save_logo(image_bytes("PNG"), actor=admin)
    db.session.commit()
    second = services.save_logo(image_bytes("JPEG"), actor=admin)
    assert {p.stem for p in logo_files()} == {first, second}  # before the commit: both
    db.session.commit()
    assert [p.stem for p in logo_files()] == [second] and stored_logo() == second


def test_a_rolled_back_replacement_keeps_the_old_logo(app, admin):
    first = services.save_logo(image_bytes("PNG"), actor=admin)
    db.session.commit()
    services.save_logo(image_bytes("JPEG"), actor=admin)
    db.session.rollback()
    assert stored_logo() == first and storage.path_for(first) is not None


def test_old_orphans_are_swept_at_the_next_change(app, admin):
    import os
    import time

    storage.write("o" * 22, b"left by a rolled-back upload")
    storage.write("f" * 22, b"an upload in progress")
    old = time.time() - 2 * 86_400
    os.utime(storage.logo_dir() / f"{'o' * 22}.png", (old, old))
    first = services.save_logo(image_bytes("PNG"), actor=admin)
    db.session.commit()
    services.remove_logo(actor=admin)
    db.session.commit()
    assert [p.stem for p in logo_files()] == ["f" * 22]  # the fresh one stays a day
    assert storage.path_for(first) is None


def test_remove_goes_back_to_the_sun_and_is_audited(app, admin):
    key = services.save_logo(image_bytes("PNG"), actor=admin)
    db.session.commit()
    assert services.remove_logo(actor=admin) is True
    db.session.commit()
    assert stored_logo() is None and logo_files() == [] and storage.path_for(key) is None
    assert services.remove_logo(actor=admin) is False  # nothing to remove
    changes = [e.details["changes"] for e in db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "settings.update")
        .order_by(AuditEvent.id))]
    assert changes == [{"brand_logo": key}, {"brand_logo": None}]


def test_a_logo_key_that_is_not_ours_is_refused_by_the_setting(app, admin):
    for bad in ("../../etc/passwd", "x" * 21, "a b"):
        with pytest.raises(ValidationError):
            set_settings({"brand_logo": bad}, actor=admin)


def test_one_rule_for_a_logo_key_in_the_setting_and_the_store(app, admin):
    """The setting and the store share `settings.LOGO_KEY_RE`, matched whole (the store's
    "^…$" took a key with a trailing newline)."""
    good = storage.new_key()
    assert storage.is_valid_key(good)
    for bad in (good + "\n", "\n" + good, good[:-1], good + "A", good[:-1] + "/"):
        assert not storage.is_valid_key(bad), repr(bad)
        assert storage.path_for(bad) is None
        if bad.strip() == bad:  # the setting trims spaces and line breaks first
            with pytest.raises(ValidationError):
                set_settings({"brand_logo": bad}, actor=admin)


def test_one_default_accent_and_the_form_saves_exactly_its_keys(app, admin):
    import app.settings as app_settings
    from app.branding.forms import BrandingForm

    assert DEFAULT_ACCENT == app_settings.DEFAULT_ACCENT == app_settings.SETTINGS[
        "brand_accent"].default()
    # The branding form's keys are not what every page reads (settings.PAGE_KEYS).
    assert set(BrandingForm(meta={"csrf": False}).values()) == set(services.FORM_KEYS)
    assert "timezone" in app_settings.PAGE_KEYS and not hasattr(services, "PAGE_KEYS")
    for other in ("timezone", "brand_logo"):
        with pytest.raises(ValueError, match="not a branding setting"):
            services.save_branding({other: "x"}, actor=admin)


# -- the logo through the page ----------------------------------------------------------------


def test_upload_replace_and_remove_on_the_page(admin_client, client):
    html = admin_client.get(URL).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'id="logo-logo"' in html
    assert "No logo yet" in html and "branding.js" in html and "branding.css" in html

    response = upload(admin_client, image_bytes("PNG", size=(960, 288)))
    assert response.status_code == 302 and response.location.endswith(f"{URL}#logo")
    first = stored_logo()
    page = Page(admin_client.get(URL).get_data(as_text=True))
    assert f"/brand/logo/{first}.png" in {e.attrs.get("src") for e in page.elements}
    remove = next(e for e in page.elements
                  if e.tag == "form" and e.attrs.get("action") == f"{URL}/logo/remove")
    assert "Remove the logo?" in remove.attrs["data-confirm"]

    upload(admin_client, image_bytes("JPEG"), "logo.jpg")
    second = stored_logo()
    assert second != first and storage.path_for(first) is None

    response = admin_client.post(f"{URL}/logo/remove")
    assert response.status_code == 302
    assert stored_logo() is None and logo_files() == []
    assert client.get(f"/brand/logo/{second}.png").status_code == 404


@pytest.mark.parametrize(
    ("data", "filename", "status", "message"),
    [
        (b"just text, renamed\n" * 30, "logo.png", 200, "isn't a picture we can use"),
        (image_bytes("PNG")[:200], "logo.png", 200, "isn't a picture we can use"),
        (png_header_only(20_000, 20_000), "bomb.png", 200, "too many pixels"),
        (b"\x00" * (3 * 1024 * 1024), "huge.png", 413,
         "That file is 3 MB; a logo may be at most 2 MB."),
    ],
    ids=["renamed-text", "truncated", "bomb", "oversize"],
)
def test_a_refused_logo_keeps_the_page_with_the_message(admin_client, data, filename, status,
                                                        message):
    response = upload(admin_client, data, filename)
    assert response.status_code == status
    page = Page(response.get_data(as_text=True))
    assert message in page.text
    assert page.by_id("logo-logo").attrs.get("aria-invalid") == "true"
    assert page.by_id("brand_accent").attrs.get("value") == DEFAULT_ACCENT  # the other form
    assert stored_logo() is None and logo_files() == []


def test_no_file_chosen_is_a_form_error(admin_client):
    response = admin_client.post(f"{URL}/logo", data={}, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Choose a logo to upload." in response.get_data(as_text=True)


def test_the_logo_is_public_and_cached_forever(app, admin, client):
    key = services.save_logo(image_bytes("PNG"), actor=admin)
    db.session.commit()
    assert brand().logo_url == f"http://localhost/brand/logo/{key}.png"
    response = client.get(f"/brand/logo/{key}.png")  # no session: as a mail client fetches it
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(response.data)).format == "PNG"
    response.close()
    for name in ("x" * 22, "../secret", key[:-1], f"{key}.png"):
        assert client.get(f"/brand/logo/{name}.png").status_code == 404
    assert brand().logo_key == key


def test_without_a_logo_brand_has_no_logo_url(app):
    site = brand()
    assert site.logo_url is None and site.logo_key is None
    assert site.accent == DEFAULT_ACCENT and site.footer == ""


# -- the accent colour ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("#00829b", "#00829b"), ("#C30", "#cc3300"), ("c30", "#cc3300"), (" #1D4ED8 ", "#1d4ed8"),
     ("#000", "#000000"), ("#767676", "#767676")],
)
def test_accents_that_reach_aa_are_normalised(typed, stored):
    assert check_accent(typed) == stored
    assert contrast(stored, WHITE) >= AA


def test_an_accent_just_under_aa_is_refused_with_the_ratio_and_a_darker_shade():
    assert 4.499 < contrast("#006ffb", WHITE) < AA  # 4.4999: never rounded up
    with pytest.raises(ValidationError) as caught:
        check_accent("#006ffb")
    message = caught.value.message
    assert "4.49:1" in message and "at least 4.5:1" in message
    suggestion = re.search(r"such as (#[0-9a-f]{6})", message).group(1)
    assert check_accent(suggestion) == suggestion  # the suggestion itself passes


@pytest.mark.parametrize("pale", ["#fff", "#FFFFFF", "#777777", "#f59e0b"])
def test_pale_accents_are_refused(pale):
    with pytest.raises(ValidationError, match="too light"):
        check_accent(pale)


@pytest.mark.parametrize("junk", ["", "red", "#12345", "#1234567", "#ggg", "rgb(0,0,0)",
                                  "#b43c0a; background: url(x)", "\x00#000"])
def test_anything_else_is_not_a_colour(junk):
    with pytest.raises(ValidationError, match="hex code"):
        check_accent(junk)


def test_set_settings_enforces_the_contrast(app, admin):
    with pytest.raises(ValidationError, match="too light"):
        set_settings({"brand_accent": "#fff"}, actor=admin)
    assert set_settings({"brand_accent": "#C30"}, actor=admin) == {"brand_accent": "#cc3300"}


def test_the_page_refuses_a_pale_accent_and_keeps_what_was_typed(admin_client):
    response = admin_client.post(URL, data=page_form(brand_accent="#FFF",
                                                     brand_footer="Acme Ltd"))
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "has a contrast of 1.00:1" in page.text
    assert page.by_id("brand_accent").attrs.get("value") == "#FFF"
    assert page.value("brand_footer") == "Acme Ltd"
    db.session.expire_all()
    assert get_setting("brand_accent") == DEFAULT_ACCENT and get_setting("brand_footer") == ""


def test_the_page_saves_colour_footer_and_layout(admin_client):
    response = admin_client.post(URL, data=page_form(
        brand_accent="#1D4ED8", brand_footer="Acme Ltd\r\n1 Main Street", teaser_threshold="6",
        embed_images="y"))
    assert response.status_code == 302 and response.location.endswith(URL)
    db.session.expire_all()
    assert get_settings("brand_accent", "brand_footer", "teaser_threshold", "embed_images") == {
        "brand_accent": "#1d4ed8", "brand_footer": "Acme Ltd\n1 Main Street",
        "teaser_threshold": 6, "embed_images": True}
    page = Page(admin_client.get(URL).get_data(as_text=True))
    assert page.by_id("brand_accent").attrs["value"] == "#1d4ed8"
    assert page.checked("embed_images") and page.by_id("teaser_threshold").attrs["value"] == "6"
    again = admin_client.post(URL, data=page_form(
        brand_accent="#1d4ed8", brand_footer="Acme Ltd\n1 Main Street", teaser_threshold="6",
        embed_images="y"), follow_redirects=True)
    assert "Nothing changed." in again.get_data(as_text=True)


@pytest.mark.parametrize(("typed", "message"), [
    ("0", "between 1 and 50"), ("51", "between 1 and 50"), ("", "Enter a number of stories."),
    ("four", "Not a valid integer value"), ("99999999999999999999", "too large"),
])
def test_the_teaser_threshold_is_bounded(admin_client, typed, message):
    response = admin_client.post(URL, data=page_form(teaser_threshold=typed))
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    db.session.expire_all()
    assert get_setting("teaser_threshold") == 4 and get_setting("brand_accent") == DEFAULT_ACCENT


def test_the_teaser_threshold_limits_are_accepted(admin_client):
    for value in (1, 50):
        assert admin_client.post(URL, data=page_form(teaser_threshold=str(value))).status_code \
            == 302
        db.session.expire_all()
        assert get_setting("teaser_threshold") == value


# -- the footer -------------------------------------------------------------------------------


def test_footer_control_characters_go_and_lines_are_tidied(app, admin):
    typed = "  Acme\x00 Ltd\x07 \u0085\r\n\r\n  1   Main\tStreet\x1b  \n\n"
    set_settings({"brand_footer": typed}, actor=admin)
    assert get_setting("brand_footer") == "Acme Ltd\n1 Main Street"


def test_footer_limits(app, admin):
    assert set_settings({"brand_footer": "x" * 300}, actor=admin) == {"brand_footer": "x" * 300}
    with pytest.raises(ValidationError, match=r"300 characters \(it has 301\)"):
        set_settings({"brand_footer": "x" * 301}, actor=admin)
    with pytest.raises(ValidationError, match="one or two lines"):
        set_settings({"brand_footer": "one\ntwo\nthree"}, actor=admin)
    assert set_settings({"brand_footer": "one\ntwo"}, actor=admin) == {"brand_footer": "one\ntwo"}
    assert set_settings({"brand_footer": "\n \n"}, actor=admin) == {"brand_footer": ""}


def test_the_page_shows_the_footer_limit_error(admin_client):
    response = admin_client.post(URL, data=page_form(brand_footer="é" * 301))
    assert response.status_code == 200
    assert "Keep the footer to 300 characters (it has 301)." in response.get_data(as_text=True)


# -- the site uses the branding ---------------------------------------------------------------


def test_the_default_look_adds_nothing(app, client, employee_client):
    for page in (client.get("/login"), employee_client.get("/")):
        html = page.get_data(as_text=True)
        assert "/brand/theme.css" not in html and "/brand/logo/" not in html
        assert "img/logo.svg" in html and "site-footer__note" not in html


def test_the_site_shows_logo_theme_and_footer(app, admin, client, employee_client):
    key = services.save_logo(image_bytes("PNG", size=(900, 300)), actor=admin)
    set_settings({"brand_accent": "#1d4ed8", "brand_footer": "Acme <b>Ltd</b>\nLine two"},
                 actor=admin)
    db.session.commit()
    version = theme.version("#1d4ed8", True)
    for response in (client.get("/login"), employee_client.get("/")):
        html = response.get_data(as_text=True)
        page = Page(html)
        logo = next(e for e in page.elements if "brand__logo" in e.attrs.get("class", ""))
        assert logo.attrs["src"] == f"/brand/logo/{key}.png"
        assert "brand__logo--custom" in logo.attrs["class"]
        links = [e.attrs["href"] for e in page.elements if e.tag == "link"
                 and e.attrs.get("rel") == "stylesheet"]
        assert links.index(f"/brand/theme.css?v={version}") == links.index(
            "/static/css/app.css") + 1  # right after app.css: its custom properties win
        assert "Acme &lt;b&gt;Ltd&lt;/b&gt;<br>Line two" in html


def test_error_pages_with_minimal_chrome_do_not_read_the_branding(app, client):
    from flask import render_template

    with app.test_request_context("/"), count_queries() as log:
        html = render_template("errors/500.html")
    assert log.count == 0 and "/brand/" not in html


def test_the_theme_stylesheet(app, admin, client):
    set_settings({"brand_accent": "#1d4ed8"}, actor=admin)
    db.session.commit()
    version = theme.version("#1d4ed8")
    response = client.get(f"/brand/theme.css?v={version}")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    css = response.get_data(as_text=True)
    assert "--color-primary: #1d4ed8;" in css and "@media (prefers-color-scheme: dark)" in css
    assert "brand__logo--custom" not in css  # no logo
    etag = response.headers["ETag"]
    assert client.get(f"/brand/theme.css?v={version}",
                      headers={"If-None-Match": etag}).status_code == 304
    stale = client.get("/brand/theme.css?v=old")
    assert stale.headers["Cache-Control"] == "public, no-cache"  # an old page: the current one
    assert stale.get_data(as_text=True) == css


def _declarations(css: str) -> tuple[dict[str, str], dict[str, str]]:
    light, dark = css.split("@media (prefers-color-scheme: dark)")
    parse = lambda block: dict(re.findall(r"(--[a-z-]+): (#[0-9a-f]{6});", block))  # noqa: E731
    return parse(light), parse(dark)


@pytest.mark.parametrize("accent", ["#00829b", "#1d4ed8", "#000000", "#767676", "#b91c1c",
                                    "#6d28d9", "#006ef8", "#15803d"])
def test_every_derived_colour_stays_readable(accent):
    light, dark = _declarations(theme.stylesheet(accent))
    assert light["--color-primary"] == accent
    assert contrast(light["--color-on-primary"], light["--color-primary"]) >= AA
    assert contrast(light["--color-on-primary"], light["--color-primary-hover"]) >= AA
    for surface in theme.LIGHT_SURFACES:
        assert contrast(light["--color-link"], surface) >= AA, surface
        assert contrast(light["--color-link-hover"], surface) >= AA, surface
        assert contrast(light["--color-focus"], surface) >= 3, surface
    assert contrast(light["--color-on-accent-soft"], light["--color-accent-soft"]) >= AA
    assert contrast(dark["--color-on-primary"], dark["--color-primary"]) >= 7
    assert contrast(dark["--color-on-primary"], dark["--color-primary-hover"]) >= 7
    for surface in theme.DARK_SURFACES:
        assert contrast(dark["--color-link"], surface) >= 7, surface
        assert contrast(dark["--color-link-hover"], surface) >= 7, surface
    assert contrast(dark["--color-on-accent-soft"], dark["--color-accent-soft"]) >= 7


def test_the_theme_version_follows_its_content():
    assert theme.version("#1d4ed8") != theme.version("#1d4ed9")
    assert theme.version("#1d4ed8") != theme.version("#1d4ed8", True)
    assert theme.is_default(DEFAULT_ACCENT, False) and not theme.is_default(DEFAULT_ACCENT, True)
    assert "--color-primary" not in theme.stylesheet(DEFAULT_ACCENT, True)  # app.css's own


def test_brand_is_read_once_per_request_with_the_time_zone(app, admin):
    set_settings({"brand_accent": "#1d4ed8", "timezone": "Europe/Paris"}, actor=admin)
    db.session.commit()
    # Each block a fresh app context (so a fresh `g`), as every real request has.
    with app.app_context(), app.test_request_context("/"), count_queries() as log:
        assert brand().accent == "#1d4ed8"
        assert brand() is brand()
        assert str(org_timezone()) == "Europe/Paris"
    assert log.count == 1, log.statements
    with app.app_context(), app.test_request_context("/"), count_queries() as log:
        assert str(org_timezone()) == "Europe/Paris"  # the time zone first: the same one query
        brand()
        brand()
    assert log.count == 1, log.statements
    with app.app_context(), count_queries() as log:  # the scheduler: always fresh
        brand()
        brand()
        assert "_brand" not in g
    assert log.count == 2


# -- the page, the sub-navigation and who may see them ------------------------------------------


@pytest.mark.parametrize("role", [None, Role.EMPLOYEE, Role.EDITOR, Role.ADMIN], ids=str)
def test_who_may_open_the_branding_page(app, make_user, login_as, role):
    client = app.test_client()
    if role is not None:
        user = make_user(role)
        db.session.commit()
        client = login_as(user)
    for method, url in (("GET", URL), ("POST", URL), ("POST", f"{URL}/logo"),
                        ("POST", f"{URL}/logo/remove")):
        response = client.open(url, method=method)
        if role is None:
            assert response.status_code == 302 and "/login" in response.location
        elif role != Role.ADMIN:
            assert response.status_code == 403
        else:
            assert response.status_code in (200, 302)
    assert client.get("/brand/theme.css").status_code == 200  # public, for everyone


def test_settings_pages_link_to_each_other(app, admin_client):
    readership = "engagement.readership_settings" in app.view_functions
    for url, current in (("/admin/settings", "General"), (URL, "Branding and layout")):
        page = Page(admin_client.get(url).get_data(as_text=True))
        links = {e.attrs["href"]: e for e in page.elements
                 if e.tag == "a" and "subnav__link" in e.attrs.get("class", "")}
        assert "/admin/settings" in links and URL in links
        assert any(href.endswith("readership") or "readership" in href for href in links) \
            == readership
        marked = [href for href, e in links.items() if "aria-current" in e.attrs]
        assert marked == [url]
        tabs = [e for e in page.elements
                if e.tag == "a" and e.attrs.get("href") == "/admin/settings"
                and "subnav__link" not in e.attrs.get("class", "")]
        assert any("aria-current" in t.attrs for t in tabs), current  # the Settings tab


def test_the_page_explains_the_layout_settings(admin_client):
    html = admin_client.get(URL).get_data(as_text=True)
    page = Page(html)
    assert "In this edition" in page.text and "teaser card" in page.text
    assert "mail clients that block remote images" in page.text
    assert page.by_id("brand_accent").attrs.get("data-accent-input") is not None
    assert "data-brand-preview" in html and "<script>" not in html and " style=" not in html


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_branding_forms_need_the_csrf_token(app, admin, login_as):
    client = login_as(admin)
    assert client.post(URL, data=page_form()).status_code == 400
    assert upload(client, image_bytes("PNG")).status_code == 400
    assert client.post(f"{URL}/logo/remove").status_code == 400
    db.session.expire_all()
    assert get_setting("brand_accent") == DEFAULT_ACCENT and stored_logo() is None


def test_a_hand_edited_accent_never_reaches_a_stylesheet(app, client):
    from app.models import Setting

    db.session.add(Setting(key="brand_accent", value="red; } body { display: none"))
    db.session.commit()
    assert brand().accent == DEFAULT_ACCENT
    assert "/brand/theme.css" not in client.get("/login").get_data(as_text=True)
    assert "display" not in client.get("/brand/theme.css").get_data(as_text=True)
