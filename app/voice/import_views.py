"""Customer voice → Import: upload a survey export, map its columns, read the dry run, apply.

Thin views over app/voice/importing.py (the CLI, `flask voice import`, calls the same services).
Editors and admins (curator_required).
"""

from __future__ import annotations

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from app.auth.access import curator_required
from app.errors import NotFound
from app.errors import ValidationError
from app.extensions import csrf
from app.extensions import db
from app.models import QuoteSource
from app.models import Scale
from app.models import User
from app.voice import bp
from app.voice import importing
from app.voice.importing import Filters
from app.voice.importing import Mapping
from app.voice.presets import DATE_ORDERS
from app.voice.presets import FIELD_LABELS
from app.voice.presets import FIELDS
from app.voice.presets import MAX_HEADER_ROWS
from app.voice.presets import PRESETS
from app.voice.redact import current_redactor
from app.web.downloads import csv_download
from app.web.downloads import file_stem
from app.web.errors import caught
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors

ERRORS_SHOWN = 100
NEW_SOURCE = "new"
FIELD_HELP = {
    "text": "The customer's comment. Redacted before anyone sees it.",
    "score": "A whole number: 0–10 (NPS), 1–5 (CSAT) or 1–7 (CES).",
    "scale": "Only when one file mixes scales: a column saying NPS, CSAT or CES per row.",
    "response_id": "The survey tool's id of the response: importing the file again adds "
                   "nothing. Without one, identical rows count once.",
    "date": "When the customer answered. Without a date column, today.",
    "team": "A team name as the app spells it (case does not matter).",
    "touchpoint": "A touchpoint's name or slug.",
    "language": "As the tool writes it (en, de-CH, ...).",
    "consent": "Yes / true / 1 / x means the customer agreed to be quoted.",
}


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


# Forms -------------------------------------------------------------------------------------
class UploadForm(FlaskForm):
    source = SelectField("Source", validators=[InputRequired("Choose where the responses "
                                                             "come from.")])
    new_source = StringField("New source name", validators=[Optional(), Length(max=120)])
    channel = SelectField("Channel", choices=[SelectChoice(c.value, c.label) for c in QuoteSource],
                          default=QuoteSource.SURVEY.value)
    file = FileField("Survey export (CSV or XLSX)",
                     validators=[FileRequired("Choose the file to import.")])
    start = SelectField("Columns", validate_choice=True)


class MappingForm(FlaskForm):
    text = SelectField(FIELD_LABELS["text"])
    score = SelectField(FIELD_LABELS["score"])
    fixed_scale = SelectField(
        "Scale of the scores",
        choices=[SelectChoice("", "— none, or from a column —"),
                 *(SelectChoice(s.value, s.label) for s in Scale)])
    scale = SelectField(FIELD_LABELS["scale"])
    response_id = SelectField(FIELD_LABELS["response_id"])
    date = SelectField(FIELD_LABELS["date"])
    dates = SelectField("Dates are written",
                        choices=[SelectChoice(k, label) for k, label in DATE_ORDERS.items()])
    team = SelectField(FIELD_LABELS["team"])
    touchpoint = SelectField(FIELD_LABELS["touchpoint"])
    language = SelectField(FIELD_LABELS["language"])
    consent = SelectField(FIELD_LABELS["consent"])
    header_rows = IntegerField(
        "Header rows", validators=[InputRequired("How many rows name the columns?"),
                                   NumberRange(1, MAX_HEADER_ROWS)])
    save_as = StringField("Save this mapping as", validators=[Optional(), Length(max=80)])


class FiltersForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form: it only changes what the preview shows

    only_promoters = BooleanField("Only promoters")
    only_with_text = BooleanField("Only comments with text")


class ApplyForm(FlaskForm):
    sha256 = HiddenField(validators=[DataRequired()])
    fingerprint = HiddenField(validators=[DataRequired()])
    errors_seen = HiddenField()  # how many row errors the preview showed
    only_promoters = HiddenField(id="apply_only_promoters")
    only_with_text = HiddenField(id="apply_only_with_text")
    skip_errors = BooleanField("Skip the rows with errors")


def _filters(form: FiltersForm | ApplyForm) -> Filters:
    return Filters(only_promoters=bool(form.only_promoters.data),
                   only_with_text=bool(form.only_with_text.data))


# Step 1: upload ----------------------------------------------------------------------------
def _upload_form() -> UploadForm:
    form = UploadForm()
    form.source.choices = [
        SelectChoice("", "Choose…"),
        *(SelectChoice(str(s.id), s.name) for s in importing.import_sources()),
        SelectChoice(NEW_SOURCE, "A new source…")]
    form.start.choices = [
        SelectChoice("", "Recognise the layout from the file"),
        *(SelectChoice(f"preset:{p.slug}", p.label) for p in PRESETS.values()),
        *(SelectChoice(f"mapping:{m.id}", f"Saved mapping: {m.name}")
          for m in importing.saved_mappings())]
    return form


@bp.route("/import/", methods=["GET", "POST"])
@curator_required
def import_upload():
    # This body may exceed MAX_CONTENT_LENGTH (up to VOICE_IMPORT_MAX_BYTES and a margin for
    # the form); beyond that, store_upload refuses it with a message on the form.
    limit = current_app.config["VOICE_IMPORT_MAX_BYTES"]
    margin = 1024 * 1024
    request.max_content_length = max(limit + margin, current_app.config["MAX_CONTENT_LENGTH"] or 0)
    form = _upload_form()
    if form.validate_on_submit():
        with form_errors(form):
            if form.source.data == NEW_SOURCE:
                source = importing.create_import_source(
                    form.new_source.data or "", QuoteSource(form.channel.data), actor=_me())
            else:
                source = importing.import_source(int(form.source.data))
            stored = importing.store_upload(form.file.data.stream,
                                            form.file.data.filename or "", source=source,
                                            start=form.start.data or "")
            db.session.commit()
            return redirect(url_for(".import_mapping", token=stored.token))
    return render_template("voice/import_upload.html", form=form, max_bytes=limit,
                           recent=importing.recent_imports(), presets=PRESETS.values())


# CSRF is checked by UploadForm itself (FlaskForm): the app-wide check runs before the view and
# would read the body under the smaller limit.
csrf.exempt(import_upload)


# Step 2: columns ---------------------------------------------------------------------------
def _problem(upload: importing.Upload, message: str):
    return render_template("voice/import_problem.html", upload=upload, message=message), 400


@bp.route("/import/<token>/mapping", methods=["GET", "POST"])
@curator_required
def import_mapping(token: str):
    errors_redirect_to(url_for(".import_upload"), NotFound)
    upload = importing.get_upload(token)
    notes: list[str] = []
    with caught(ValidationError) as problem:
        table = upload.table()
        if upload.mapping is not None:
            current = Mapping.from_json(upload.mapping)
        else:
            current, notes = importing.start_mapping(table, upload.start)
        layout = importing.read_layout(table, current.header_rows, current.layout_preset(),
                                       redactor=current_redactor())
    if problem.error is not None:
        return _problem(upload, problem.error.message)
    form = MappingForm(data={**{f: current.columns.get(f, "") for f in FIELDS},
                             "fixed_scale": current.scale.value if current.scale else "",
                             "header_rows": current.header_rows, "dates": current.dates})
    choices = [SelectChoice("", "— not in the file —"),
               *(SelectChoice(c.name, f"{c.letter} · {c.name}"[:90]) for c in layout.usable)]
    for name in FIELDS:
        form[name].choices = choices
    if form.validate_on_submit():
        mapping = Mapping(
            columns={f: form[f].data for f in FIELDS if form[f].data},
            scale=Scale(form.fixed_scale.data) if form.fixed_scale.data else None,
            header_rows=form.header_rows.data, dates=form.dates.data, preset=current.preset)
        if mapping.header_rows != current.header_rows:
            importing.set_mapping(upload, importing.with_header_rows(
                table, mapping, mapping.header_rows))
            flash(f"The columns were read again under {mapping.header_rows} header "
                  f"row{'s' if mapping.header_rows > 1 else ''}: check the choices.", "info")
            return redirect(url_for(".import_mapping", token=token))
        with form_errors(form):
            importing.check_mapping(mapping, layout)
            if form.save_as.data:
                importing.save_mapping(form.save_as.data, mapping, actor=_me())
            db.session.commit()
            importing.set_mapping(upload, mapping)
            if form.save_as.data:
                flash(f"Mapping saved as “{form.save_as.data.strip()}”.", "success")
            return redirect(url_for(".import_preview", token=token))
    return render_template(
        "voice/import_mapping.html", upload=upload, form=form, layout=layout, notes=notes,
        fields=FIELDS, help=FIELD_HELP, source=importing.import_source(upload.source_id),
        preset=current.layout_preset())


# Step 3: the dry run -----------------------------------------------------------------------
@bp.route("/import/<token>/preview")
@curator_required
def import_preview(token: str):
    errors_redirect_to(url_for(".import_upload"), NotFound)
    upload = importing.get_upload(token)
    if upload.mapping is None:
        return redirect(url_for(".import_mapping", token=token))
    filters_form = FiltersForm(request.args)
    filters = _filters(filters_form)
    with caught(ValidationError) as problem:
        plan = importing.plan_upload(upload, filters)
    if problem.error is not None:
        return _problem(upload, problem.error.message)
    form = ApplyForm(data={"sha256": upload.sha256, "fingerprint": plan.fingerprint,
                           "errors_seen": str(len(plan.errors)),
                           "only_promoters": "y" if filters.only_promoters else "",
                           "only_with_text": "y" if filters.only_with_text else ""})
    return render_template(
        "voice/import_preview.html", upload=upload, plan=plan, form=form,
        filters_form=filters_form, filters=filters, errors_shown=list(plan.errors)[:ERRORS_SHOWN],
        mapping=Mapping.from_json(upload.mapping),
        source=importing.import_source(upload.source_id))


@bp.route("/import/<token>/errors.csv")
@curator_required
def import_errors(token: str):
    errors_redirect_to(url_for(".import_upload"), NotFound)
    errors_redirect_to(url_for(".import_mapping", token=token), ValidationError)
    upload = importing.get_upload(token)
    importing.plan_upload(upload, _filters(FiltersForm(request.args)))
    rows = ((error.line, error.reason) for error in importing.iter_errors())
    return csv_download(f"{file_stem(upload.filename, 'import')}-errors.csv", ["row", "error"],
                        rows)


# Step 4: apply -----------------------------------------------------------------------------
@bp.route("/import/<token>/apply", methods=["POST"])
@curator_required
def import_apply(token: str):
    form = ApplyForm()
    filters = _filters(form)
    back = url_for(".import_preview", token=token, only_promoters=form.only_promoters.data or None,
                   only_with_text=form.only_with_text.data or None)
    errors_redirect_to(back)
    errors_redirect_to(url_for(".import_upload"), NotFound)
    upload = importing.get_upload(token)
    if not form.validate_on_submit():
        flash("The confirmation did not arrive complete. Check the preview and apply again.",
              "error")
        return redirect(back)
    outcome = importing.apply_upload(upload, sha256=form.sha256.data,
                                     fingerprint=form.fingerprint.data, filters=filters,
                                     skip_errors=form.skip_errors.data, actor=_me(),
                                     errors_seen=(form.errors_seen.data or "0").isdigit()
                                     and int(form.errors_seen.data or 0) > 0)
    db.session.commit()
    importing.discard(token)
    if outcome.voice_import is None:
        flash(f"Nothing new: {outcome.plan.summary()}", "info")
        return redirect(url_for(".inbox"))
    flash(f"Imported {upload.filename}. {outcome.plan.summary()}", "success")
    return redirect(url_for(".inbox", import_id=outcome.voice_import.id))
