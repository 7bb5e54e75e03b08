"""The editors' customer-voice inbox: the list with its filters and tabs, one verbatim, and the
actions (make a quote, make a story draft, dismiss, bulk dismiss, restore).

Views stay thin: parse the form, call `curation` (writes) or `queries` (reads), commit,
redirect. A refusal (already converted, a quote over the length limit) is flashed on the page
the editor came from.
"""

from __future__ import annotations

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from app.auth.access import curator_required
from app.extensions import db
from app.models import SubmissionStatus
from app.models import User
from app.models import Verbatim
from app.numbers import positive_int
from app.richtext import excerpt
from app.settings import get_setting
from app.submissions import queries as submission_queries
from app.submissions.forms import StoryForm
from app.submissions.rules import TITLE_MAX
from app.submissions.rules import InvalidInput
from app.text import join_names
from app.voice import bp
from app.voice import curation
from app.voice import queries
from app.voice.forms import ActionForm
from app.voice.forms import BulkDismissForm
from app.voice.forms import InboxFilterForm
from app.voice.queries import InboxFilters
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import CURATORS
from app.web.nav import PagesOf
from app.web.nav import nav_entry

# "Voice", not "Customer voice": a curator's eight menu items must fit one row at 1280 px.
nav_entry("Voice", "voice.inbox", roles=CURATORS, order=45,
          also_active=PagesOf("voice"), badge=lambda _user: queries.waiting_highlights())

SUBMIT = "submit"
PREVIEW = "preview"


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _filters() -> InboxFilters:
    """The inbox filters of the current query string (bad values ignored)."""
    return InboxFilterForm(request.args).filters()


def _cursor_arg() -> dict[str, str]:
    cursor = request.args.get("cursor", "")
    return {"cursor": cursor} if queries.cursor_or_none(cursor) else {}


def _back_to_inbox() -> str:
    """The inbox as the editor left it: tab, filters and page."""
    return url_for(".inbox", **_filters().args(), **_cursor_arg())


def _verbatim_url(verbatim: Verbatim) -> str:
    return url_for(".verbatim", verbatim_id=verbatim.id)


def _checked(form: ActionForm | BulkDismissForm) -> bool:
    if form.validate_on_submit():
        return True
    flash("The form expired. Reload the page and try again.", "error")
    return False


# -- the inbox -----------------------------------------------------------------------------------


@bp.route("/")
@curator_required
def inbox():
    form = InboxFilterForm(request.args)
    form.set_choices(queries.source_choices(), submission_queries.team_choices(),
                     submission_queries.touchpoint_choices())
    filters = form.filters()
    page = queries.inbox(filters, request.args.get("cursor"))
    return render_template(
        "voice/inbox.html",
        form=form,
        filters=filters,
        page=page,
        nothing_yet=not filters.active and not any(page.counts.values()),
        import_label=queries.import_label(filters.import_id),
        inbox_address=current_app.config.get("VOICE_INBOX_ADDRESS"),
        page_args={**filters.args(), **_cursor_arg()},
    )


@bp.post("/dismiss")
@curator_required
def bulk_dismiss() -> Response | str:
    """The inbox's "Dismiss selected": a confirmation page saying how many, then the change."""
    form = BulkDismissForm()
    back = _back_to_inbox()
    if not _checked(form):
        return redirect(back)
    ids = []
    for raw in request.form.getlist("ids")[: curation.BULK_MAX + 1]:
        try:
            ids.append(positive_int(raw))
        except ValueError:
            continue
    errors_redirect_to(back)
    ids = curation.selection(ids)  # none, or too many: said on the inbox
    if not form.confirmed.data:
        chosen = queries.selected(ids)
        if not chosen:
            flash("Those comments were already used or dismissed.", "info")
            return redirect(back)
        return render_template("voice/confirm_dismiss.html", verbatims=chosen, form=form,
                               back=back, page_args={**_filters().args(), **_cursor_arg()})
    count = curation.bulk_dismiss(ids, actor=_me())
    db.session.commit()
    skipped = len(ids) - count
    message = f"Dismissed {count} comment{'s' if count != 1 else ''}."
    if skipped:
        message += f" {skipped} had already been handled by someone else and were left as is."
    flash(message, "success" if count else "info")
    return redirect(back)


# -- one verbatim --------------------------------------------------------------------------------


@bp.route("/<int:verbatim_id>")
@curator_required
def verbatim(verbatim_id: int):
    found = queries.get_verbatim(verbatim_id)
    people, teams = queries.suggested_names([found])
    return render_template(
        "voice/verbatim.html",
        verbatim=found,
        people=people,
        teams=teams,
        show_original=bool(found.original_text) and current_user.is_admin,
        original_days=get_setting("voice_original_days"),
    )


@bp.post("/<int:verbatim_id>/quote")
@curator_required
def make_quote(verbatim_id: int) -> Response:
    found = queries.get_verbatim(verbatim_id)
    back = _verbatim_url(found)
    if not _checked(ActionForm()):
        return redirect(back)
    errors_redirect_to(back)
    quote = curation.to_quote(found, actor=_me())
    db.session.commit()
    flash("Made a quote from the comment. It is waiting for review: edit it if you like, "
          "then approve it for the next edition.", "success")
    return redirect(url_for("review.item", kind="quote", item_id=quote.id))


@bp.post("/<int:verbatim_id>/dismiss")
@curator_required
def dismiss(verbatim_id: int) -> Response:
    found = queries.get_verbatim(verbatim_id)
    back = _back_to_inbox()
    if not _checked(ActionForm()):
        return redirect(back)
    errors_redirect_to(_verbatim_url(found))
    changed = curation.dismiss(found, actor=_me())
    db.session.commit()
    flash("Dismissed the comment. It stays under “Dismissed”, where you can restore it."
          if changed else "That comment was already dismissed.", "success")
    return redirect(back)


@bp.post("/<int:verbatim_id>/restore")
@curator_required
def restore(verbatim_id: int) -> Response:
    found = queries.get_verbatim(verbatim_id)
    back = _back_to_inbox()
    if not _checked(ActionForm()):
        return redirect(back)
    errors_redirect_to(_verbatim_url(found))
    curation.restore(found, actor=_me())
    db.session.commit()
    flash("The comment is back in the inbox.", "success")
    return redirect(back)


# -- a story draft -------------------------------------------------------------------------------


def suggested_title(found: Verbatim, people: dict[int, str]) -> str:
    """A starting headline: who the customer thanked, else the team, else a plain one."""
    names = [people[i] for i in found.mentioned_user_ids or [] if i in people]
    if names:
        title = f"A customer’s thanks for {join_names(names)}"
    elif found.team is not None:
        title = f"What a customer said about {found.team.name}"
    else:
        title = "In the customer’s own words"
    return excerpt(title, TITLE_MAX, one_line=True)


def _prefill(form: StoryForm, found: Verbatim) -> list[User]:
    """The form as the verbatim suggests it; returns the suggested colleagues (pre-ticked)."""
    people, _teams = queries.suggested_names([found])
    colleagues = queries.active_people(found.mentioned_user_ids or [])
    form.title.data = suggested_title(found, people)
    form.body.data = curation.story_body(found)
    form.colleagues.data = ", ".join(u.email for u in colleagues)
    form.team.data = found.team_id
    form.touchpoint.data = found.touchpoint_id
    return colleagues


def _story_page(found: Verbatim, form: StoryForm, *, cover: str | None = None,
                preview: Markup | None = None, suggested: list[User] | None = None,
                status: int = 200):
    return render_template(
        "voice/story.html",
        verbatim=found,
        form=form,
        preview_html=preview,
        suggested=suggested if suggested is not None else
        queries.active_people(found.mentioned_user_ids or []),
        **form.page_context(None, cover),
    ), status


@bp.route("/<int:verbatim_id>/story", methods=["GET", "POST"])
@curator_required
def make_story(verbatim_id: int):
    found = queries.get_verbatim(verbatim_id)
    errors_redirect_to(_verbatim_url(found))  # made into something meanwhile, no comment
    curation.check_usable(found)
    form = StoryForm().setup(None)
    if request.method == "GET":
        return _story_page(found, form, suggested=_prefill(form, found))
    problems = form.read_errors()
    cover, cover_problem = form.take_cover(_me().id)
    if request.form.get("action") == PREVIEW:
        return _story_page(found, form, cover=cover, preview=form.preview_html())
    data, unknown = form.to_input(cover)
    problems.update(unknown)
    if cover_problem:
        problems["cover_image"] = cover_problem.message
    submit = request.form.get("action") == SUBMIT
    with form_errors(form, InvalidInput):
        story = curation.to_story(found, data, actor=_me(), submit=submit, form_errors=problems)
        db.session.commit()
        if story.status == SubmissionStatus.SUBMITTED:
            flash("Made a story from the comment. It is waiting for review.", "success")
            return redirect(url_for("review.item", kind="story", item_id=story.id))
        flash("Saved the story as your draft; it is in “My submissions”.", "success")
        return redirect(url_for("submissions.my_story", story_id=story.id))
    return _story_page(queries.get_verbatim(verbatim_id), form, cover=cover, status=400)
