"""People import pages: upload a CSV, read the dry run, apply it (thin views over services)."""

from __future__ import annotations

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user

from app.auth.access import admin_required
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import csrf
from app.extensions import db
from app.imports import bp
from app.imports import services
from app.imports.forms import ApplyForm
from app.imports.forms import UploadForm
from app.imports.plan import Options
from app.imports.plan import iter_errors
from app.models import User
from app.web.downloads import csv_download
from app.web.downloads import file_stem
from app.web.errors import caught
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors

ERRORS_SHOWN = 100
SAMPLE = 20


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.route("/", methods=["GET", "POST"])
@admin_required
def upload():
    # The file may be larger than other requests (MAX_CONTENT_LENGTH); the service then says
    # how large is too large, with the form.
    limit = current_app.config["PEOPLE_IMPORT_MAX_BYTES"]
    request.max_content_length = max(current_app.config["MAX_CONTENT_LENGTH"] or 0,
                                     limit + 1024 * 1024)
    form = UploadForm()
    if form.validate_on_submit():
        options = Options(
            create_teams=form.create_teams.data,
            deactivate_missing=form.deactivate_missing.data,
            invite=form.invite.data,
        )
        with form_errors(form.file):
            stored = services.store_upload(form.file.data.stream, form.file.data.filename or "",
                                           options)
            return redirect(url_for(".preview", token=stored.token))
    return render_template("imports/upload.html", form=form, max_bytes=limit)


# The token check is the form's own CSRF field (FlaskForm): the global check would read the body
# with the smaller MAX_CONTENT_LENGTH before the view can allow a larger file.
csrf.exempt(upload)


@bp.route("/<token>")
@admin_required
def preview(token: str):
    errors_redirect_to(url_for(".upload"), NotFound)
    stored = services.get_upload(token)
    with caught(ValidationError) as problem:
        plan = services.plan_upload(stored, actor=_me())
    if problem.error is not None:
        return render_template("imports/problem.html", upload=stored,
                               message=problem.error.message), 400
    form = ApplyForm(data={"sha256": stored.sha256, "digest": plan.digest()})
    return render_template(
        "imports/preview.html",
        upload=stored,
        plan=plan,
        form=form,
        errors_shown=plan.errors[:ERRORS_SHOWN],
        sample=SAMPLE,
    )


@bp.route("/<token>/apply", methods=["POST"])
@admin_required
def apply(token: str):
    errors_redirect_to(url_for(".preview", token=token))
    errors_redirect_to(url_for(".upload"), NotFound)
    stored = services.get_upload(token)
    form = ApplyForm()
    if not form.validate_on_submit():
        flash("The confirmation did not arrive complete. Check the preview and apply again.",
              "error")
        return redirect(url_for(".preview", token=token))
    plan = services.apply_upload(
        stored,
        sha256=form.sha256.data,
        digest=form.digest.data,
        confirm_deactivate=form.confirm_deactivate.data,
        actor=_me(),
    )
    db.session.commit()
    services.discard(stored)
    flash(f"Import done. {plan.summary()}", "success")
    return redirect(url_for("admin.users"))


@bp.route("/<token>/errors.csv")
@admin_required
def errors_csv(token: str):
    errors_redirect_to(url_for(".upload"), NotFound)
    errors_redirect_to(url_for(".preview", token=token), ValidationError)
    stored = services.get_upload(token)
    services.plan_upload(stored, actor=_me())
    # Every error, streamed from the plan's staging table.
    rows = ((error.line, error.email, error.reason) for error in iter_errors())
    name = f"{file_stem(stored.filename, 'people')}-errors.csv"
    return csv_download(name, ["row", "email", "error"], rows)
