"""Review pages: the queue (with bulk approve), one item with its history, decisions and edits.

Views stay thin: parse the form, call `services` (writes) or `queries` (reads), commit, redirect.
A Conflict (someone else acted first) is flashed on the item's page, which then shows the latest
state, so the editor sees what happened instead of an error page.
"""

from __future__ import annotations

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from app.auth.access import curator_required
from app.editions.queries import draft_edition
from app.editions.queries import open_editions
from app.editions.queries import ordered_items
from app.errors import Conflict
from app.errors import ValidationError
from app.extensions import db
from app.models import Edition
from app.models import EditionStatus
from app.models import Quote
from app.models import Story
from app.models import User
from app.models import utcnow
from app.newsletter.compose import item_view
from app.newsletter.queries import is_starting
from app.numbers import positive_int
from app.people.queries import names_in_story
from app.review import bp
from app.review import services
from app.review.forms import ApproveForm
from app.review.forms import BulkApproveForm
from app.review.forms import QueueFilterForm
from app.review.forms import RejectForm
from app.review.forms import RequestChangesForm
from app.review.forms import edition_choices
from app.review.queries import current_entry
from app.review.queries import filter_options
from app.review.queries import get_item
from app.review.queries import item_history
from app.review.queries import on_its_way
from app.review.queries import review_queue
from app.review.queries import waiting_count
from app.richtext import excerpt
from app.submissions.forms import QuoteForm
from app.submissions.forms import StoryForm
from app.submissions.forms import SubmissionForm
from app.submissions.rules import InvalidInput
from app.text import join_names
from app.titles import item_title
from app.voice.queries import origin_of
from app.web.errors import caught
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import CURATORS
from app.web.nav import nav_entry

nav_entry("Review", "review.queue", roles=CURATORS, order=40, badge=lambda _user: waiting_count())


@bp.context_processor
def _helpers() -> dict:
    return {"excerpt": excerpt, "join_names": join_names}


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _item_url(item: Story | Quote) -> str:
    return url_for("review.item", kind=item.kind, item_id=item.id)


def _chosen_edition(value: str | None) -> Edition | None:
    """The edition an editor picked, or None for "the upcoming one"."""
    if not value:
        return None
    try:
        edition = db.session.get(Edition, positive_int(value))
    except ValueError:
        raise ValidationError("Choose an edition from the list.") from None
    if edition is None or edition.status not in (EditionStatus.DRAFT, EditionStatus.SCHEDULED):
        raise Conflict("That edition is no longer open; choose another one.")
    if is_starting(edition):  # "send now": the sender may take it before this item lands
        raise Conflict(f"Edition #{edition.number} is already on its way; choose another one.")
    return edition


def _approve_form(item: Story | Quote | None = None) -> ApproveForm:
    form = ApproveForm(data={"version": item.version} if item is not None else None)
    editions = [e for e in open_editions() if not is_starting(e)]  # not one on its way
    form.edition.choices = edition_choices(editions, draft_exists=draft_edition() is not None)
    if request.method == "GET":
        draft = next((e for e in editions if e.status == EditionStatus.DRAFT), None)
        form.edition.data = str(draft.id) if draft else ""
    return form


# -- queue ---------------------------------------------------------------------------------------


@bp.route("")
@curator_required
def queue():
    form = QueueFilterForm(request.args)
    form.set_choices(filter_options())
    filters = form.filters()
    page = review_queue(filters, page=request.args.get("page", 1, type=positive_int))
    return render_template(
        "review/queue.html",
        form=form,
        filters=filters,
        page=page,
        approve_form=_approve_form(),
        bulk_form=BulkApproveForm(),
        now=utcnow(),
        filter_args={k: v for k, v in request.args.items() if k != "page" and v},
    )


@bp.post("/bulk-approve")
@curator_required
def bulk_approve() -> Response:
    form = BulkApproveForm()
    back = url_for("review.queue", **{k: v for k, v in request.args.items() if v})
    if not form.validate_on_submit():
        flash("The form expired. Reload the queue and try again.", "error")
        return redirect(back)
    errors_redirect_to(back)
    refs = [services.ItemRef.parse(v) for v in request.form.getlist("items")]
    edition = _chosen_edition(request.form.get("edition"))
    results = services.bulk_approve(refs, actor=_me(), edition=edition)
    db.session.commit()
    approved = [r for r in results if r.ok]
    if approved:
        flash(f"Approved {len(approved)} of {len(results)} selected "
              f"item{'s' if len(results) != 1 else ''}; the authors will be told.", "success")
    for result in results:
        if not result.ok:
            flash(result.message, "warning")
    return redirect(back)


# -- one item ------------------------------------------------------------------------------------


def _item_page(
    item: Story | Quote,
    *,
    approve_form: ApproveForm | None = None,
    changes_form: RequestChangesForm | None = None,
    reject_form: RejectForm | None = None,
    status: int = 200,
):
    version = {"version": item.version}
    entry = current_entry(item)
    going = on_its_way(entry)
    position = None
    if entry is not None and not going:
        position = ordered_items(entry.edition).index(entry) + 1
    return render_template(
        "review/item.html",
        item=item,
        preview=item_view(item),  # the newsletter's own view: cover picture, byline, names
        history=item_history(item),
        approve_form=approve_form or _approve_form(item),
        changes_form=changes_form or RequestChangesForm(data=version),
        reject_form=reject_form or RejectForm(data=version),
        entry=entry,
        position=position,
        on_its_way=going,
        # Free-text colleague names, each mergeable into an account in every story naming it.
        free_names=names_in_story(item) if isinstance(item, Story) else [],
        origin=origin_of(item),  # the customer's comment it was made from, if any
    ), status


@bp.route("/<kind>/<int:item_id>")
@curator_required
def item(kind: str, item_id: int):
    return _item_page(get_item(kind, item_id))


@bp.post("/<kind>/<int:item_id>/approve")
@curator_required
def approve(kind: str, item_id: int):
    item = get_item(kind, item_id)
    form = _approve_form()
    if not form.validate_on_submit():
        return _item_page(item, approve_form=form, status=400)
    errors_redirect_to(_item_url(item), Conflict)  # someone acted first: the item shows it
    entry = services.approve(
        item, actor=_me(), seen_version=form.version.data,
        edition=_chosen_edition(form.edition.data),
    )
    number = entry.edition.number
    db.session.commit()
    flash(f"Approved “{item_title(item, 60)}”: it is lined up for edition #{number}, "
          "and the author will be told.", "success")
    return redirect(url_for("review.queue"))


@bp.post("/<kind>/<int:item_id>/request-changes")
@curator_required
def request_changes(kind: str, item_id: int):
    return _send_back(kind, item_id, RequestChangesForm(), "note", "changes_form",
                      services.request_changes, "Sent “{}” back to its author with your note.")


@bp.post("/<kind>/<int:item_id>/reject")
@curator_required
def reject(kind: str, item_id: int):
    return _send_back(kind, item_id, RejectForm(), "reason", "reject_form", services.reject,
                      "Rejected “{}”; the author has your reason.")


def _send_back(kind: str, item_id: int, form, text: str, page_form: str, decide, done: str):
    """Request changes or reject: the `text` (note, reason) is required and a refusal shows on
    its field; a Conflict (someone acted first) is flashed on the item's page."""
    item = get_item(kind, item_id)
    if not form.validate_on_submit():
        return _item_page(item, **{page_form: form}, status=400)
    errors_redirect_to(_item_url(item), Conflict)
    with form_errors(form[text], ValidationError):
        decide(item, actor=_me(), seen_version=form.version.data, **{text: form[text].data or ""})
        db.session.commit()
        flash(done.format(item_title(item, 60)), "success")
        return redirect(url_for("review.queue"))
    return _item_page(get_item(kind, item_id), **{page_form: form}, status=400)


def _edit_page(item: Story | Quote, form: SubmissionForm, *, cover: str | None = None,
               preview: Markup | None = None, conflict: str | None = None, status: int = 200):
    """The author's fields and live preview (templates/submissions/_fields.html), for the
    item's author's rules; stories add a "this name is …" select per free-text colleague."""
    if isinstance(form, StoryForm):
        context = {**form.page_context(item, cover),  # type: ignore[arg-type]
                   "link_candidates": form.link_candidates()}
    else:
        context = form.page_context(item, item.author)  # type: ignore[arg-type,union-attr]
    return render_template("review/edit.html", item=item, form=form, conflict=conflict,
                           preview_html=preview, **context), status


@bp.route("/<kind>/<int:item_id>/edit", methods=["GET", "POST"])
@curator_required
def edit(kind: str, item_id: int):
    item = get_item(kind, item_id)
    if item.status not in services.EDITABLE:
        flash(f"This {item.kind} is {item.status.label.lower()}; it can no longer be edited.",
              "info")
        return redirect(_item_url(item))
    entry = current_entry(item)
    if on_its_way(entry):
        flash(f"This {item.kind} goes out with edition #{entry.edition.number}, which is on its "
              "way; it can no longer be edited.", "info")
        return redirect(_item_url(item))
    story = isinstance(item, Story)
    form = StoryForm().setup(item) if story else QuoteForm().setup(item.author, item)
    if request.method == "GET":
        form.fill_from(item)  # type: ignore[attr-defined]
        return _edit_page(item, form)
    problems = form.read_errors()
    cover, cover_problem = form.take_cover(_me().id) if story else (None, None)  # type: ignore[attr-defined]
    if request.form.get("action") == "preview":
        return _edit_page(item, form, cover=cover, preview=form.preview_html())
    data, unknown = form.to_input(cover) if story else (form.to_input(), {})  # type: ignore[attr-defined]
    problems.update(unknown)
    if cover_problem:
        problems["cover_image"] = cover_problem.message
    with caught(Conflict) as refused, form_errors(form, InvalidInput):
        revision = services.edit_item(item, data, actor=_me(), seen_version=form.seen_version(),
                                      form_errors=problems)
        db.session.commit()
        flash("Saved. The change is kept as a revision and the author will be told what "
              "changed when it is published." if revision else "Nothing changed.", "success")
        return redirect(_item_url(item))
    if refused.error is None:
        return _edit_page(item, form, cover=cover, status=400)
    # Keep what the editor typed; the form now carries the latest version, so saving again is
    # a deliberate choice made after seeing who changed it.
    item = get_item(kind, item_id)
    form.version.data = str(item.version)
    return _edit_page(item, form, cover=cover, conflict=refused.error.message, status=409)
