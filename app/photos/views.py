"""Photo routes: upload and remove on the profile page, and the photos themselves (for signed-in
staff, and through signed links for emails: see app/photos/urls.py for why)."""

from __future__ import annotations

from flask import current_app
from flask import flash
from flask import redirect
from flask import send_file
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.account.views import profile_page
from app.auth.access import public
from app.auth.access import role_required
from app.errors import NotFound
from app.extensions import db
from app.models import User
from app.photos import bp
from app.photos import queries
from app.photos import services
from app.photos import storage
from app.photos.forms import PhotoForm
from app.photos.urls import avatar_photo
from app.photos.urls import read_email_token
from app.submissions.uploads import _megabytes
from app.submissions.uploads import _size_of
from app.web.errors import form_errors

YEAR = 31_536_000
PREFIX = "photo"  # the profile page holds several forms: field names stay apart


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _back() -> str:
    return url_for("account.profile", _anchor="photo")


@bp.app_template_global()
def new_photo_form() -> PhotoForm:
    """An empty photo form, for the profile page (templates/photos/_profile_photo.html)."""
    return PhotoForm(prefix=PREFIX, formdata=None)


@bp.app_template_global()
def photo_limit_label() -> str:
    """PHOTO_MAX_BYTES for people: "5 MB"."""
    return _megabytes(int(current_app.config["PHOTO_MAX_BYTES"]))


bp.add_app_template_global(avatar_photo)


def _read(upload) -> bytes:
    """The upload's bytes, at most PHOTO_MAX_BYTES + 1 read (the service says it is too big)."""
    limit = int(current_app.config["PHOTO_MAX_BYTES"])
    size = _size_of(upload.stream)
    if size is not None and size > limit:
        raise storage.PhotoTooLarge(size, limit)
    return upload.stream.read(limit + 1)


@bp.route("/account/photo", methods=["POST"])
@role_required()
def upload():
    form = PhotoForm(prefix=PREFIX)
    refusal = None
    if form.validate():
        with form_errors(form.photo) as refusal:
            services.save_photo(_me(), _read(form.photo.data))
            db.session.commit()
            flash("Photo saved. Colleagues now see it next to your name.", "success")
            return redirect(_back())
    too_large = refusal is not None and isinstance(refusal.error, storage.PhotoTooLarge)
    return profile_page(photo_form=form), 413 if too_large else 200


@bp.route("/account/photo/remove", methods=["POST"])
@role_required()
def remove():
    """One button (CSRF-checked like every POST, confirmed by app.js when scripts run)."""
    services.remove_photo(_me())
    db.session.commit()
    flash("Photo removed. Colleagues see your initials again.", "success")
    return redirect(_back())


def _send(path, cache_control: str) -> Response:
    response = send_file(path, mimetype=storage.MIMETYPE, max_age=YEAR, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = cache_control
    return response


@bp.route("/photos/<name>")
@role_required()
def photo(name: str) -> Response:
    """A photo for pages. A key is never reused, so browsers keep it for a year; `private`
    because it is only for signed-in people (no shared cache may hand it to anyone else)."""
    parsed = storage.parse_name(name)
    path = storage.path_for(*parsed) if parsed else None
    if path is None:
        raise NotFound("There is no such photo.")
    return _send(path, f"private, max-age={YEAR}, immutable")


@bp.route("/photos/mail/<token>.jpg")
@public
def mail_photo(token: str) -> Response:
    """A photo for emails: public, behind a signed token (app/photos/urls.py)."""
    found = read_email_token(token)
    if found is None:
        raise NotFound("There is no such photo.")
    user_id, key, size = found
    path = storage.path_for(key, size)
    if path is not None:
        return _send(path, f"public, max-age={YEAR}, immutable")
    # Replaced since the email went out: today's photo, which may change again (short cache).
    current = queries.photo_key_of(user_id)
    path = storage.path_for(current, size) if current else None
    if path is None:
        raise NotFound("There is no such photo.")
    return _send(path, "public, max-age=3600")
