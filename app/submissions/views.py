"""Submission pages: share and edit stories and quotes, follow them on "My submissions".

Views stay thin: parse the form, call `services` (writes) or `queries` (reads), commit, redirect.
"""

from __future__ import annotations

from flask import (
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth.access import login_required, public
from app.database import reads_only
from app.errors import Conflict, NotFound, ValidationError
from app.extensions import db, limiter
from app.models import Quote, Story, SubmissionStatus
from app.numbers import positive_int
from app.richtext import excerpt, render_markdown
from app.submissions import bp, queries, services, uploads
from app.submissions.forms import ConfirmForm, QuoteForm, StoryForm
from app.text import clean_text
from app.web.nav import nav_entry

# One "Share" entry: the story and quote forms switch between each other (story_form/quote_form).
nav_entry("Share", "submissions.new_story", order=10, also_active=("submissions.new_quote",))
nav_entry("My submissions", "submissions.mine", menu="user", order=20)

S = SubmissionStatus
PREVIEW = "preview"
SUBMIT = "submit"


def _per_person() -> str:
    """Rate-limit the JSON helpers per signed-in person: a whole office may share one IP."""
    return f"user:{current_user.id}" if current_user.is_authenticated else "anonymous"


def _action() -> str:
    return request.form.get("action", "draft")


def _version(form) -> int:
    """The version the form was opened at; anything unreadable counts as stale."""
    try:
        return positive_int(form.version.data)
    except ValueError:
        return -1


def _attach(form, errors: dict[str, str]) -> None:
    """Show service errors on their fields; a field that already has one keeps just that."""
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is None:
            form.form_errors.append(message)
        elif not field.errors:
            field.errors = [message]


def _edition_url(number: int) -> str | None:
    if "newsletter.edition" in current_app.view_functions:
        return url_for("newsletter.edition", number=number)
    return None


@bp.context_processor
def _submission_helpers() -> dict:
    return {"edition_url": _edition_url, "excerpt": excerpt}


# -- stories -------------------------------------------------------------------------------------


def _take_cover(form: StoryForm) -> tuple[str | None, ValidationError | None]:
    """(picture name, problem): a new upload is stored now, so a re-render keeps it; otherwise
    the pending one from the hidden field, unless the person asked to remove it."""
    upload = form.cover_image.data
    if upload is not None and getattr(upload, "filename", ""):
        try:
            name = uploads.store_cover_image(upload.stream)
        except ValidationError as error:
            form.cover_token.data = ""
            return None, error
        form.cover_token.data = uploads.sign_pending(name, current_user.id)
        return name, None
    if form.remove_cover.data:
        form.cover_token.data = ""
        return None, None
    return uploads.unsign_pending(form.cover_token.data or "", current_user.id), None


def _story_page(
    form: StoryForm, story: Story | None, cover: str | None, preview: str | None, status: int = 200
):
    return render_template(
        "submissions/story_form.html",
        form=form,
        story=story,
        pending_cover=cover,
        preview_html=preview,
        selected_colleagues=form.selected_colleagues(),
        popular_tags=queries.popular_tags(),
        limits=services,
    ), status


def _save_story(form: StoryForm, story: Story | None):
    """POST handling shared by "new" and "edit"."""
    form_ok = form.validate()
    cover, cover_problem = _take_cover(form)
    action = _action()
    if action == PREVIEW:
        preview = render_markdown(clean_text(form.body.data, multiline=True))
        return _story_page(form, story, cover, preview)
    data, errors = form.to_input(cover)
    errors = {**services.story_errors(data, current_user, story), **errors}
    if cover_problem:
        errors["cover_image"] = cover_problem.message
    if form_ok and not errors:
        submit = action == SUBMIT
        try:
            if story is None:
                story = services.create_story(current_user, data, submit=submit)
            else:
                version = _version(form)
                services.update_story(
                    story, current_user, data, expected_version=version, submit=submit
                )
            db.session.commit()
        except services.InvalidInput as error:
            db.session.rollback()
            errors = error.errors
        except Conflict as error:
            db.session.rollback()
            form.form_errors.append(error.message)
        else:
            flash(_saved_message(story), "success")
            return redirect(url_for(".my_story", story_id=story.id))
    _attach(form, errors)
    # 413 for a picture over the limit, yet the whole form comes back with what was typed.
    too_large = isinstance(cover_problem, uploads.CoverTooLarge)
    return _story_page(form, story, cover, None, 413 if too_large else 200)


def _saved_message(item: Story | Quote) -> str:
    if item.status == S.SUBMITTED:
        return f"Thank you! Your {item.kind} is with the editors now."
    return "Saved. You can come back to it any time from “My submissions”."


@bp.route("/stories/new", methods=["GET", "POST"])
@login_required
def new_story():
    form = StoryForm().setup(None)
    if request.method == "GET":
        form.team.data = current_user.team_id
        return _story_page(form, None, None, None)
    return _save_story(form, None)


@bp.route("/stories/<int:story_id>/edit", methods=["GET", "POST"])
@login_required
def edit_story(story_id: int):
    story = queries.own_story(story_id, current_user)
    if not story.is_editable_by_author:
        flash(f"This story is {story.status.label.lower()}, so it can no longer be edited.", "info")
        return redirect(url_for(".my_story", story_id=story.id))
    form = StoryForm().setup(story)
    if request.method == "GET":
        form.fill_from(story)
        return _story_page(form, story, None, None)
    return _save_story(form, story)


@bp.route("/my/stories/<int:story_id>")
@login_required
def my_story(story_id: int):
    story = queries.viewable_story(story_id, current_user)
    return render_template(
        "submissions/story_detail.html", story=story, edition=queries.edition_for(story)
    )


# -- quotes --------------------------------------------------------------------------------------


def _quote_page(form: QuoteForm, quote: Quote | None, preview: str | None):
    return render_template(
        "submissions/quote_form.html",
        form=form,
        quote=quote,
        preview_html=preview,
        limits=services,
        max_date=services.latest_today(current_user).isoformat(),
    )


def _save_quote(form: QuoteForm, quote: Quote | None):
    form_ok = form.validate()
    action = _action()
    if action == PREVIEW:
        preview = render_markdown(clean_text(form.text.data, multiline=True))
        return _quote_page(form, quote, preview)
    data = form.to_input()
    errors = services.quote_errors(data, current_user, quote)
    if form_ok and not errors:
        submit = action == SUBMIT
        try:
            if quote is None:
                quote = services.create_quote(current_user, data, submit=submit)
            else:
                version = _version(form)
                services.update_quote(
                    quote, current_user, data, expected_version=version, submit=submit
                )
            db.session.commit()
        except services.InvalidInput as error:
            db.session.rollback()
            errors = error.errors
        except Conflict as error:
            db.session.rollback()
            form.form_errors.append(error.message)
        else:
            flash(_saved_message(quote), "success")
            return redirect(url_for(".my_quote", quote_id=quote.id))
    _attach(form, errors)
    return _quote_page(form, quote, None)


@bp.route("/quotes/new", methods=["GET", "POST"])
@login_required
def new_quote():
    form = QuoteForm().setup(current_user, None)
    if request.method == "GET":
        form.received_on.data = services.org_today()
        story_id = request.args.get("story", type=positive_int)
        if story_id and any(story_id == c.value for c in form.story_id.choices):
            form.story_id.data = story_id
        return _quote_page(form, None, None)
    return _save_quote(form, None)


@bp.route("/quotes/<int:quote_id>/edit", methods=["GET", "POST"])
@login_required
def edit_quote(quote_id: int):
    quote = queries.own_quote(quote_id, current_user)
    if not quote.is_editable_by_author:
        flash(f"This quote is {quote.status.label.lower()}, so it can no longer be edited.", "info")
        return redirect(url_for(".my_quote", quote_id=quote.id))
    form = QuoteForm().setup(current_user, quote)
    if request.method == "GET":
        form.fill_from(quote)
        return _quote_page(form, quote, None)
    return _save_quote(form, quote)


@bp.route("/my/quotes/<int:quote_id>")
@login_required
def my_quote(quote_id: int):
    quote = queries.viewable_quote(quote_id, current_user)
    return render_template(
        "submissions/quote_detail.html", quote=quote, edition=queries.edition_for(quote)
    )


# -- withdraw ------------------------------------------------------------------------------------


def _withdraw(item: Story | Quote, detail_url: str):
    if not item.is_editable_by_author:
        flash(f"This {item.kind} is {item.status.label.lower()}, so it can't be withdrawn.", "info")
        return redirect(detail_url)
    form = ConfirmForm()
    if form.validate_on_submit():
        services.withdraw(item, current_user)
        db.session.commit()
        flash(f"Your {item.kind} was withdrawn. It won't appear in the newsletter.", "success")
        return redirect(url_for(".mine"))
    return render_template(
        "submissions/confirm_withdraw.html", item=item, form=form, back_url=detail_url
    )


@bp.route("/stories/<int:story_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw_story(story_id: int):
    story = queries.own_story(story_id, current_user)
    return _withdraw(story, url_for(".my_story", story_id=story.id))


@bp.route("/quotes/<int:quote_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw_quote(quote_id: int):
    quote = queries.own_quote(quote_id, current_user)
    return _withdraw(quote, url_for(".my_quote", quote_id=quote.id))


# -- My submissions ------------------------------------------------------------------------------


@bp.route("/my/submissions")
@login_required
def mine():
    return render_template("submissions/mine.html", rows=queries.my_submissions(current_user))


# -- JSON helpers for the form -------------------------------------------------------------------


@bp.route("/api/preview", methods=["POST"])
@limiter.limit("120 per minute", key_func=_per_person)
@login_required
@reads_only
def preview():
    """Live preview: the same renderer as the saved story, so what you see is what you get."""
    payload = request.get_json(silent=True)
    markdown = payload.get("markdown") if isinstance(payload, dict) else None
    if not isinstance(markdown, str):
        return jsonify(error="Send {\"markdown\": \"...\"}."), 400
    if len(markdown) > services.BODY_MAX * 2:
        return jsonify(error="That is too long to preview."), 413
    return jsonify(html=str(render_markdown(clean_text(markdown, multiline=True))))


@bp.route("/api/colleagues")
@limiter.limit("300 per minute", key_func=_per_person)
@login_required
def colleague_search():
    """Search-as-you-type for the colleague picker: active people by name or email."""
    people = queries.search_colleagues(request.args.get("q", ""))
    return jsonify(
        results=[
            {
                "id": u.id,
                "name": u.display_name,
                "email": u.email,
                "team": u.team.name if u.team else None,
            }
            for u in people
        ]
    )


# -- uploaded pictures ---------------------------------------------------------------------------


@bp.route("/uploads/<name>")
@public
def upload(name: str) -> Response:
    """Cover pictures. Public because email clients fetch them without a session; the random
    name is the capability. Names are immutable, so caches may keep them forever."""
    path = uploads.path_for(name)
    if path is None:
        raise NotFound("There is no such picture.")
    response = send_file(path, mimetype=uploads.mimetype_for(name), max_age=31_536_000)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response

