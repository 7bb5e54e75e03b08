"""Admin → Settings → Branding and layout; the logo file and the theme stylesheet (public: the
emails and the login page show them without a session); and the private Atom feed: its secret
address (`/feeds/<secret>/editions.atom`) and the profile page's buttons that create and turn
it off."""

from __future__ import annotations

import hashlib

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import send_file
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth.access import admin_required
from app.auth.access import login_required
from app.auth.access import public
from app.branding import DEFAULT_ACCENT
from app.branding import Brand
from app.branding import brand
from app.branding import queries
from app.branding import services
from app.branding import storage
from app.branding import theme
from app.branding.forms import BrandingForm
from app.branding.forms import LogoForm
from app.errors import NotFound
from app.extensions import db
from app.models import User
from app.models import utcnow
from app.newsletter.feeds import atom
from app.newsletter.queries import feed_editions
from app.settings import get_settings
from app.tokens.services import hash_token
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.urls import absolute_url

bp = Blueprint("branding", __name__)

YEAR = 31_536_000
LOGO_PREFIX = "logo"  # the page holds two forms: field names stay apart
READERSHIP = "engagement.readership_settings"


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


# -- template globals ------------------------------------------------------------------------------
@bp.app_template_global()
def page_brand() -> Brand:
    """The branding for the page layout (templates/base.html). An error page must render even
    when the database is the problem: then the built-in look."""
    try:
        return brand()
    except Exception:
        current_app.logger.exception("branding unavailable")
        return Brand(logo_url=None, accent=DEFAULT_ACCENT, footer="")


@bp.app_template_global()
def brand_theme_url(site: Brand) -> str | None:
    """The theme stylesheet's URL (versioned), or None when the built-in look is unchanged."""
    has_logo = site.logo_key is not None
    if theme.is_default(site.accent, has_logo):
        return None
    return url_for("branding.theme_css", v=theme.version(site.accent, has_logo))


@bp.app_template_global()
def my_private_feed():
    """The signed-in person's working private feed token, or None (the profile page)."""
    return queries.feed_token_of(current_user.id) if current_user.is_authenticated else None


# -- Admin → Settings → Branding and layout --------------------------------------------------------
def _page(form: BrandingForm | None = None, logo_form: LogoForm | None = None) -> str:
    stored = get_settings(*services.FORM_KEYS, "brand_logo")
    if form is None:
        form = BrandingForm(formdata=None, data=stored)
    return render_template(
        "branding/settings.html",
        form=form,
        logo_form=logo_form or LogoForm(prefix=LOGO_PREFIX, formdata=None),
        logo_key=stored["brand_logo"],
        logo_limit=storage.megabytes(storage.max_bytes()),
        default_accent=DEFAULT_ACCENT,
        readership_endpoint=READERSHIP,
    )


@bp.route("/admin/settings/branding", methods=["GET", "POST"])
@admin_required
def settings():
    form = BrandingForm(data=get_settings(*services.FORM_KEYS))
    if form.validate_on_submit():
        with form_errors(form):
            changed = services.save_branding(form.values(), actor=_me())
            db.session.commit()
            flash("Branding and layout saved." if changed else "Nothing changed.",
                  "success" if changed else "info")
            return redirect(url_for(".settings"))
    return _page(form)


def _read(upload) -> bytes:
    """The upload's bytes, at most BRAND_LOGO_MAX_BYTES + 1 read (the service says it is too
    big); the size of a spooled upload is known without reading it."""
    limit = storage.max_bytes()
    stream = upload.stream
    try:
        position = stream.tell()
        size = stream.seek(0, 2) - position
        stream.seek(position)
    except (AttributeError, OSError, ValueError):
        size = None
    if size is not None and size > limit:
        raise storage.LogoTooLarge(size, limit)
    return stream.read(limit + 1)


@bp.post("/admin/settings/branding/logo")
@admin_required
def upload_logo():
    form = LogoForm(prefix=LOGO_PREFIX)
    refusal = None
    if form.validate():
        with form_errors(form.logo) as refusal:
            services.save_logo(_read(form.logo.data), actor=_me())
            db.session.commit()
            flash("Logo saved. It shows in the site’s header and at the top of every email.",
                  "success")
            return redirect(url_for(".settings", _anchor="logo"))
    too_large = refusal is not None and isinstance(refusal.error, storage.LogoTooLarge)
    return _page(logo_form=form), 413 if too_large else 200


@bp.post("/admin/settings/branding/logo/remove")
@admin_required
def remove_logo():
    removed = services.remove_logo(actor=_me())
    db.session.commit()
    if removed:
        flash("Logo removed. The site and the emails show the Feel Good Fridays sun again.",
              "success")
    else:
        flash("There was no logo to remove.", "info")
    return redirect(url_for(".settings", _anchor="logo"))


# -- public files: the logo and the theme ----------------------------------------------------------
@bp.get("/brand/logo/<key>.png")
@public
def logo(key: str) -> Response:
    """The logo, for pages and for emails (no session there). A key is never reused, so it may
    be cached by anyone for a year; a new logo has a new URL."""
    path = storage.path_for(key)
    if path is None:
        raise NotFound("There is no such logo.")
    response = send_file(path, mimetype=storage.MIMETYPE, max_age=YEAR, conditional=True)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/brand/theme.css")
@public
def theme_css() -> Response:
    """The theme for the current accent. Asked for by its current version (`?v=`, the links
    pages carry) it is cached for a year; any other URL gets the current theme, revalidated."""
    site = brand()
    has_logo = site.logo_key is not None
    version = theme.version(site.accent, has_logo)
    response = make_response(theme.stylesheet(site.accent, has_logo))
    response.mimetype = "text/css"
    response.set_etag(version)
    if request.args.get("v") == version:
        response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    else:
        response.headers["Cache-Control"] = "public, no-cache"
    return response.make_conditional(request)


# -- the private feed ------------------------------------------------------------------------------
@bp.post("/account/feed")
@login_required
def create_feed():
    """A new secret feed address; shown in this response only (never cached, never again)."""
    token, secret = services.create_feed_token(_me())
    db.session.commit()
    page = make_response(render_template(
        "branding/feed_created.html", token=token, feed_url=feed_url(secret),
        replaced=request.form.get("replace") == "1",
    ))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.post("/account/feed/off")
@login_required
def turn_off_feed():
    back = url_for("account.profile", _anchor="feed")
    errors_redirect_to(back)
    services.turn_off_feed(_me())
    db.session.commit()
    flash("Your private feed is off: its address no longer works.", "success")
    return redirect(back)


def feed_url(secret: str) -> str:
    return absolute_url("branding.private_feed", secret=secret)


@bp.get("/feeds/<secret>/editions.atom")
@public
def private_feed(secret: str) -> Response:
    """The Atom feed for a feed reader, which cannot sign in: the secret in the address is the
    credential (looked up by its SHA-256). Unknown, revoked, or its owner deactivated: 404."""
    token = queries.feed_token_by_hash(hash_token(secret)) if len(secret) <= 100 else None
    if token is None:
        raise NotFound("There is no such feed. Create a new feed address on your profile page.")
    now = utcnow()
    if services.touch_due(token, now):
        services.touch_feed_token(token.id, now)
        db.session.commit()
    editions = feed_editions()
    etag = hashlib.sha256(
        "|".join(f"{e.id}:{e.sent_at.isoformat() if e.sent_at else ''}" for e in editions)
        .encode()
    ).hexdigest()[:32]
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(atom(editions, self_url=feed_url(secret)),
                            mimetype="application/atom+xml")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
