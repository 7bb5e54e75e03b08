"""Submission pages: share and edit stories and quotes, follow them on "My submissions".

Views stay thin: parse the form, call `services` (writes) or `queries` (reads), commit, redirect.
"""

from __future__ import annotations

from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import send_file
from flask import url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from app.auth.access import login_required
from app.auth.access import public
from app.database import reads_only
from app.errors import Conflict
from app.errors import NotFound
from app.extensions import db
from app.extensions import limiter
from app.models import Quote
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.numbers import positive_int
from app.richtext import excerpt
from app.richtext import render_markdown
from app.submissions import bp
from app.submissions import queries
from app.submissions import rules
from app.submissions import services
from app.submissions import uploads
from app.submissions.forms import ConfirmForm
from app.submissions.forms import QuoteForm
from app.submissions.forms import StoryForm
from app.submissions.forms import SubmissionForm
from app.submissions.forms import SubmitForm
from app.submissions.rules import InvalidInput
from app.text import clean_text
from app.web.errors import caught
from app.web.nav import CURATORS
from app.web.nav import nav_entry

# One "Share" entry: the story and quote forms switch between each other (story_form/quote_form).
nav_entry("Share", "submissions.new_story", order=10, also_active=("submissions.new_quote",))
# An employee's most visited page, so in the main navigation after "Share"; a curator's main
# navigation is full (Review, Upcoming, Insights), so theirs stays in the account menu.
nav_entry("My submissions", "submissions.mine", order=15, roles=frozenset({Role.EMPLOYEE}))
nav_entry("My submissions", "submissions.mine", menu="user", order=20, roles=CURATORS)

S = SubmissionStatus
PREVIEW = "preview"
SUBMIT = "submit"


def _per_person() -> str:
    """Rate-limit the JSON helpers per signed-in person: a whole office may share one IP."""
    return f"user:{current_user.id}" if current_user.is_authenticated else "anonymous"


def _action() -> str:
    return request.form.get("action", "draft")


@bp.context_processor
def _submission_helpers() -> dict:
    return {"excerpt": excerpt}


# -- stories and quotes: one flow ----------------------------------------------------------------

_PAGES = {"story": "submissions/story_form.html", "quote": "submissions/quote_form.html"}


def _page(form: SubmissionForm, item: Story | Quote | None, *, cover: str | None = None,
          preview: Markup | None = None, status: int = 200):
    if isinstance(form, StoryForm):
        context = form.page_context(item, cover)  # type: ignore[arg-type]
    else:
        context = form.page_context(item, current_user)  # type: ignore[arg-type,union-attr]
    page = _PAGES["story" if isinstance(form, StoryForm) else "quote"]
    return render_template(page, form=form, preview_html=preview, **context), status


def _save(form: SubmissionForm, item: Story | Quote | None):
    """POST handling shared by "new" and "edit", stories and quotes: the rules run once, in
    the service, which reports them with what only the form could see."""
    errors = form.read_errors()
    cover, cover_problem = (
        form.take_cover(current_user.id) if isinstance(form, StoryForm) else (None, None)
    )
    if _action() == PREVIEW:
        return _page(form, item, cover=cover, preview=form.preview_html())
    if isinstance(form, StoryForm):
        data, unknown = form.to_input(cover)
        errors.update(unknown)
    else:
        data = form.to_input()  # type: ignore[union-attr]
    if cover_problem:
        errors["cover_image"] = cover_problem.message
    submit = _action() == SUBMIT
    with caught(InvalidInput, Conflict) as refused:
        if item is None:
            create = services.create_story if isinstance(form, StoryForm) else services.create_quote
            item = create(current_user, data, submit=submit, form_errors=errors)
        else:
            update = services.update_story if isinstance(item, Story) else services.update_quote
            update(item, current_user, data, expected_version=form.seen_version(),
                   submit=submit, form_errors=errors)
        db.session.commit()
        flash(_saved_message(item), "success")
        return redirect(_detail_url(item))
    if isinstance(refused.error, InvalidInput):
        form.attach(refused.error.errors)
    elif refused.error is not None:
        form.attach(errors)
        form.form_errors.append(refused.error.message)
    # 413 for a picture over the limit, yet the whole form comes back with what was typed.
    too_large = isinstance(cover_problem, uploads.CoverTooLarge)
    return _page(form, item, cover=cover, status=413 if too_large else 200)


def _detail_url(item: Story | Quote) -> str:
    if isinstance(item, Story):
        return url_for(".my_story", story_id=item.id)
    return url_for(".my_quote", quote_id=item.id)


def _saved_message(item: Story | Quote) -> str:
    if item.status == S.SUBMITTED:
        return f"Thank you! Your {item.kind} is with the editors now."
    where = " in your account menu" if current_user.is_editor else ""  # see nav_entry above
    return f"Saved. You can come back to it any time from “My submissions”{where}."


def _edit(item: Story | Quote, form: SubmissionForm):
    if not item.is_editable_by_author:
        flash(f"This {item.kind} is {item.status.label.lower()}, so it can no longer be edited.",
              "info")
        return redirect(_detail_url(item))
    if request.method == "GET":
        form.fill_from(item)  # type: ignore[attr-defined]
        return _page(form, item)
    return _save(form, item)


@bp.route("/stories/new", methods=["GET", "POST"])
@login_required
def new_story():
    form = StoryForm().setup(None)
    if request.method == "GET":
        form.team.data = current_user.team_id
        # "Recognize <name>" on a person's page: that colleague, already credited. An id
        # that is not an active account is ignored; the form simply starts empty.
        colleague = queries.active_user(request.args.get("colleague", type=positive_int))
        if colleague is not None:
            form.colleagues.data = colleague.email
        return _page(form, None)
    return _save(form, None)


@bp.route("/stories/<int:story_id>/edit", methods=["GET", "POST"])
@login_required
def edit_story(story_id: int):
    story = queries.own_story(story_id, current_user)
    return _edit(story, StoryForm().setup(story))


@bp.route("/my/stories/<int:story_id>")
@login_required
def my_story(story_id: int):
    return _detail_page(queries.viewable_story(story_id, current_user))


@bp.route("/quotes/new", methods=["GET", "POST"])
@login_required
def new_quote():
    form = QuoteForm().setup(current_user, None)
    if request.method == "GET":
        form.received_on.data = rules.org_today()
        story_id = request.args.get("story", type=positive_int)
        if story_id and any(story_id == c.value for c in form.story_id.choices):
            form.story_id.data = story_id
        return _page(form, None)
    return _save(form, None)


@bp.route("/quotes/<int:quote_id>/edit", methods=["GET", "POST"])
@login_required
def edit_quote(quote_id: int):
    quote = queries.own_quote(quote_id, current_user)
    return _edit(quote, QuoteForm().setup(current_user, quote))


@bp.route("/my/quotes/<int:quote_id>")
@login_required
def my_quote(quote_id: int):
    return _detail_page(queries.viewable_quote(quote_id, current_user))


def _detail_page(item: Story | Quote, *, problems: list[str] | None = None,
                 conflict: str | None = None) -> str:
    """A story's or quote's own page, with the edition that carries (or carried) it, and why
    "Submit" was refused, if it was."""
    return render_template(
        f"submissions/{item.kind}_detail.html",
        **{item.kind: item},
        edition=queries.edition_for(item),
        submit_problems=problems,
        submit_conflict=conflict,
    )


# -- submit from the item's page -----------------------------------------------------------------


def _submit(item: Story | Quote):
    """Send a draft (or an item with requested changes) to the editors as it is stored, under
    the same rules as the form's "Submit". A rule it breaks is shown on its page, next to the
    way to fix it (Edit)."""
    if item.status not in (S.DRAFT, S.CHANGES_REQUESTED):
        flash(f"This {item.kind} is {item.status.label.lower()}, so there is nothing to submit.",
              "info")
        return redirect(_detail_url(item))
    version = SubmitForm().seen_version()
    with caught(InvalidInput, Conflict) as refused:
        services.submit(item, current_user, expected_version=version)
        db.session.commit()
        flash(_saved_message(item), "success")
        # "Submit" on a card of My submissions returns there; a refusal shows the item's page.
        back = url_for(".mine") if request.form.get("back") == "mine" else _detail_url(item)
        return redirect(back)
    error = refused.error
    if isinstance(error, InvalidInput):
        return _detail_page(item, problems=list(dict.fromkeys(error.errors.values())))
    return _detail_page(item, conflict=error.message if error else None)


@bp.route("/stories/<int:story_id>/submit", methods=["POST"])
@login_required
def submit_story(story_id: int):
    return _submit(queries.own_story(story_id, current_user))


@bp.route("/quotes/<int:quote_id>/submit", methods=["POST"])
@login_required
def submit_quote(quote_id: int):
    return _submit(queries.own_quote(quote_id, current_user))


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
    if len(markdown) > rules.BODY_MAX * 2:
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

