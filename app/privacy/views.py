"""Privacy pages: erasing a person (admins), "download my data" (everyone; admins for anyone),
and Admin → Privacy (the erasure and retention settings). Thin views over app.privacy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.admin.services import get_user
from app.auth.access import admin_required
from app.auth.access import login_required
from app.extensions import db
from app.extensions import limiter
from app.models import User
from app.privacy import bp
from app.privacy import erasure
from app.privacy import export
from app.privacy import retention
from app.privacy import services
from app.privacy.forms import DownloadForm
from app.privacy.forms import EraseForm
from app.privacy.forms import PrivacySettingsForm
from app.settings import get_settings
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import ADMINS
from app.web.nav import nav_entry

nav_entry("Privacy", "privacy.settings", roles=ADMINS, menu="user", order=83)
EXPORT_RATE_LIMIT = "5 per hour"
CHUNK_BYTES = 64 * 1024


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _export_limit() -> str:
    return current_app.config.get("DATA_EXPORT_RATE_LIMIT", EXPORT_RATE_LIMIT)


def _export_key() -> str:
    return f"data-export:{current_user.id}"


def _chunks(archive: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := archive.read(CHUNK_BYTES):
            yield chunk
    finally:
        archive.close()


def _zip_response(person: User) -> Response:
    """Build the ZIP (audited), commit the audit entry, then stream it; never cached. The
    temporary file is closed when the last chunk is sent (or the response is closed)."""
    archive = export.build(person, actor=_me())
    name = export.filename(person)
    db.session.commit()
    size = archive.seek(0, 2)
    archive.seek(0)
    response = Response(_chunks(archive), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(size),
        "Cache-Control": "no-store",
    })
    response.call_on_close(archive.close)
    return response


@bp.route("/account/data", methods=["POST"])
@login_required
@limiter.limit(_export_limit, key_func=_export_key)
def download():
    """Everything stored about me, as a ZIP of JSON files."""
    errors_redirect_to(url_for("account.profile"))
    if not DownloadForm().validate_on_submit():
        flash("The download link expired; please try again.", "error")
        return redirect(url_for("account.profile"))
    return _zip_response(_me())


@bp.route("/admin/users/<int:user_id>/data", methods=["POST"])
@admin_required
@limiter.limit(_export_limit, key_func=_export_key)
def admin_download(user_id: int):
    person = get_user(user_id)
    errors_redirect_to(url_for("admin.user", user_id=person.id))
    if not DownloadForm().validate_on_submit():
        flash("The download link expired; please try again.", "error")
        return redirect(url_for("admin.user", user_id=person.id))
    return _zip_response(person)


@bp.route("/admin/users/<int:user_id>/erase", methods=["GET", "POST"])
@admin_required
def erase(user_id: int):
    person = get_user(user_id)
    back = url_for("admin.user", user_id=person.id)
    if erasure.is_erased(person):
        flash("This person has already been erased.", "info")
        return redirect(back)
    form = EraseForm()
    if form.validate_on_submit():
        with form_errors(form):
            services.erase_from_admin(person, actor=_me(), confirmation=form.confirmation.data)
            db.session.commit()
            flash(f"Person #{user_id} is erased.", "success")
            settings = get_settings("erasure_account")
            if settings["erasure_account"] == "remove":
                return redirect(url_for("admin.users"))
            return redirect(url_for("admin.user", user_id=user_id))
    return render_template(
        "privacy/erase.html",
        person=person,
        form=form,
        blocker=erasure.blocker(person, actor=_me()),
        counts=erasure.counts(person),
        settings=get_settings("erasure_account", "erasure_stories"),
    )


@bp.route("/admin/privacy", methods=["GET", "POST"])
@admin_required
def settings():
    stored = get_settings(*PrivacySettingsForm.KEYS, "engagement_person_days", "analytics_mode")
    form = PrivacySettingsForm(data=stored)
    if form.validate_on_submit():
        with form_errors(form):
            changed = services.save_settings(form.values(), actor=_me())
            db.session.commit()
            flash("Privacy settings saved." if changed else "Nothing changed.", "success")
            return redirect(url_for(".settings"))
    return render_template(
        "privacy/settings.html",
        form=form,
        stored=stored,
        due=retention.due(),
        cutoffs=retention.cutoffs(),
    )
