"""Customer voice → Sources: where verbatims come from, and the webhook sources' secrets.

Editors see the list; admins add webhook sources, rotate their secrets, deactivate, reactivate
and delete them (thin views over app/voice/sources.py). A secret is shown once, on the page
rendered right after it was made (never redirected to, never cached).
"""

from __future__ import annotations

import json

from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from app.admin.forms import ConfirmForm
from app.admin.forms import as_choices
from app.auth.access import admin_required
from app.auth.access import curator_required
from app.extensions import db
from app.models import Origin
from app.models import QuoteSource
from app.models import Role
from app.models import User
from app.models import VoiceSource
from app.voice import bp
from app.voice import payloads
from app.voice import sources
from app.voice.hooks import SIGNATURE_HEADER
from app.voice.hooks import TIMESTAMP_HEADER
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.urls import absolute_url


class SourceForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired("Name the source, e.g. after the survey it receives."),
                    Length(max=sources.NAME_MAX,
                           message=f"Use at most {sources.NAME_MAX} characters.")],
    )
    channel = SelectField(
        "Channel", choices=as_choices((c.value, c.label) for c in QuoteSource), default="survey"
    )
    payload = SelectField(
        "Body layout", choices=as_choices(payloads.LABELS.items()), default="generic"
    )


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _setup(source: VoiceSource) -> dict[str, str]:
    """What a sender needs: the URL, and a body in the source's layout for the examples."""
    return {
        "url": absolute_url("voice_hooks.receive", slug=source.slug),
        "example": json.dumps(payloads.EXAMPLES[source.payload], ensure_ascii=False),
        "timestamp_header": TIMESTAMP_HEADER,
        "signature_header": SIGNATURE_HEADER,
    }


def _shown_once(source: VoiceSource, secret: str, created: bool) -> Response:
    page = make_response(render_template(
        "voice/source_secret.html", source=source, secret=secret, created=created,
        **_setup(source)))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.route("/sources", endpoint="sources")
@curator_required
def sources_list():
    return render_template(
        "voice/sources.html", rows=sources.sources_overview(),
        manages=current_user.role == Role.ADMIN, builtin=sources.is_builtin,
    )


@bp.route("/sources/new", methods=["GET", "POST"])
@admin_required
def source_new():
    form = SourceForm()
    if form.validate_on_submit():
        with form_errors(form.name):
            source, secret = sources.create_webhook_source(
                form.name.data or "", QuoteSource(form.channel.data), form.payload.data or "",
                actor=_me())
            db.session.commit()
            return _shown_once(source, secret, created=True)
    return render_template("voice/source_new.html", form=form)


@bp.route("/sources/<int:source_id>")
@admin_required
def source(source_id: int):
    errors_redirect_to(url_for(".sources"))
    item = sources.get_source_by_id(source_id)
    webhook = item.origin == Origin.WEBHOOK and item.payload in payloads.MAPPINGS
    return render_template(
        "voice/source.html", source=item, verbatims=sources.verbatim_count(item),
        builtin=sources.is_builtin(item), webhook=webhook,
        layout=payloads.LABELS.get(item.payload), channels=[c.value for c in QuoteSource],
        **(_setup(item) if webhook else {}),
    )


def _confirming(source_id: int) -> tuple[VoiceSource, ConfirmForm, str]:
    """The source an action confirms, its confirmation form, and the page to go back to (an
    unknown source goes back to the list with the message)."""
    errors_redirect_to(url_for(".sources"))
    return sources.get_source_by_id(source_id), ConfirmForm(), url_for(".source",
                                                                      source_id=source_id)


@bp.route("/sources/<int:source_id>/rotate", methods=["GET", "POST"])
@admin_required
def source_rotate(source_id: int):
    item, form, back = _confirming(source_id)
    if request.method == "POST" and form.validate_on_submit():
        errors_redirect_to(back)
        secret = sources.rotate_secret(item, actor=_me())
        db.session.commit()
        return _shown_once(item, secret, created=False)
    return render_template("voice/source_confirm.html", source=item, form=form, action="rotate",
                           back=back)


@bp.route("/sources/<int:source_id>/deactivate", methods=["POST"])
@admin_required
def source_deactivate(source_id: int):
    return _set_active(source_id, False)


@bp.route("/sources/<int:source_id>/reactivate", methods=["POST"])
@admin_required
def source_reactivate(source_id: int):
    return _set_active(source_id, True)


def _set_active(source_id: int, active: bool) -> Response:
    item, form, back = _confirming(source_id)
    if not form.validate_on_submit():
        flash("The form expired. Try again.", "error")
        return redirect(back)
    errors_redirect_to(back)
    sources.set_active(item, active, actor=_me())
    db.session.commit()
    done = "is active again." if active else "is deactivated: its requests are refused now."
    flash(f"“{item.name}” {done}", "success")
    return redirect(back)


@bp.route("/sources/<int:source_id>/delete", methods=["GET", "POST"])
@admin_required
def source_delete(source_id: int):
    item, form, back = _confirming(source_id)
    if request.method == "POST" and form.validate_on_submit():
        errors_redirect_to(back)
        name = item.name
        sources.delete_source(item, actor=_me())
        db.session.commit()
        flash(f"“{name}” is deleted.", "success")
        return redirect(url_for(".sources"))
    return render_template(
        "voice/source_confirm.html", source=item, form=form, action="delete", back=back,
        blocker=sources.deletion_blocker(item),
    )
