"""Review pages: the queue (with bulk approve), one item with its history, decisions and edits.

Views stay thin: parse the form, call `services` (writes) or `queries` (reads), commit, redirect.
A Conflict (someone else acted first) is flashed on the item's page, which then shows the latest
state, so the editor sees what happened instead of an error page.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth.access import curator_required
from app.editions.queries import draft_edition, open_editions, ordered_items
from app.errors import Conflict, DomainError, ValidationError
from app.extensions import db
from app.models import Edition, EditionStatus, Quote, Story, User, utcnow
from app.numbers import positive_int
from app.review import bp, services
from app.review.forms import (
    ApproveForm,
    BulkApproveForm,
    QueueFilterForm,
    QuoteEditForm,
    RejectForm,
    RequestChangesForm,
    StoryEditForm,
    edition_choices,
)
from app.review.queries import (
    filter_options,
    get_item,
    item_history,
    review_queue,
    touchpoint_choices,
    waiting_count,
)
from app.richtext import excerpt
from app.submissions.services import InvalidInput
from app.web.nav import CURATORS, nav_entry

nav_entry("Review", "review.queue", roles=CURATORS, order=40, badge=lambda _user: waiting_count())


@bp.context_processor
def _helpers() -> dict:
    return {"excerpt": excerpt}


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
    return edition


def _approve_form(item: Story | Quote | None = None) -> ApproveForm:
    form = ApproveForm(data={"version": item.version} if item is not None else None)
    editions = open_editions()
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
    try:
        refs = [services.ItemRef.parse(v) for v in request.form.getlist("items")]
        edition = _chosen_edition(request.form.get("edition"))
        results = services.bulk_approve(refs, actor=_me(), edition=edition)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back)
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
    entry = next(
        (e for e in item.edition_items
         if e.edition.status in (EditionStatus.DRAFT, EditionStatus.SCHEDULED)),
        None,
    )
    position = None
    if entry is not None:
        position = ordered_items(entry.edition).index(entry) + 1
    return render_template(
        "review/item.html",
        item=item,
        history=item_history(item),
        approve_form=approve_form or _approve_form(item),
        changes_form=changes_form or RequestChangesForm(data=version),
        reject_form=reject_form or RejectForm(data=version),
        entry=entry,
        position=position,
    ), status


@bp.route("/<kind>/<int:item_id>")
@curator_required
def item(kind: str, item_id: int):
    return _item_page(get_item(kind, item_id))


def _conflict(item_url: str, error: Conflict) -> Response:
    db.session.rollback()
    flash(error.message, "error")
    return redirect(item_url)


@bp.post("/<kind>/<int:item_id>/approve")
@curator_required
def approve(kind: str, item_id: int):
    item = get_item(kind, item_id)
    form = _approve_form()
    if not form.validate_on_submit():
        return _item_page(item, approve_form=form, status=400)
    try:
        entry = services.approve(
            item, actor=_me(), seen_version=form.version.data,
            edition=_chosen_edition(form.edition.data),
        )
    except Conflict as error:
        return _conflict(_item_url(item), error)
    number = entry.edition.number
    db.session.commit()
    flash(f"Approved “{services.display_title(item)}”: it is lined up for edition #{number}, "
          "and the author will be told.", "success")
    return redirect(url_for("review.queue"))


@bp.post("/<kind>/<int:item_id>/request-changes")
@curator_required
def request_changes(kind: str, item_id: int):
    item = get_item(kind, item_id)
    form = RequestChangesForm()
    if not form.validate_on_submit():
        return _item_page(item, changes_form=form, status=400)
    try:
        services.request_changes(item, actor=_me(), seen_version=form.version.data,
                                 note=form.note.data or "")
    except Conflict as error:
        return _conflict(_item_url(item), error)
    except ValidationError as error:
        db.session.rollback()
        form.note.errors = [error.message]
        return _item_page(get_item(kind, item_id), changes_form=form, status=400)
    db.session.commit()
    flash(f"Sent “{services.display_title(item)}” back to its author with your note.", "success")
    return redirect(url_for("review.queue"))


@bp.post("/<kind>/<int:item_id>/reject")
@curator_required
def reject(kind: str, item_id: int):
    item = get_item(kind, item_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _item_page(item, reject_form=form, status=400)
    try:
        services.reject(item, actor=_me(), seen_version=form.version.data,
                        reason=form.reason.data or "")
    except Conflict as error:
        return _conflict(_item_url(item), error)
    except ValidationError as error:
        db.session.rollback()
        form.reason.errors = [error.message]
        return _item_page(get_item(kind, item_id), reject_form=form, status=400)
    db.session.commit()
    flash(f"Rejected “{services.display_title(item)}”; the author has your reason.", "success")
    return redirect(url_for("review.queue"))


@bp.route("/<kind>/<int:item_id>/edit", methods=["GET", "POST"])
@curator_required
def edit(kind: str, item_id: int):
    item = get_item(kind, item_id)
    if isinstance(item, Story):
        form: StoryEditForm | QuoteEditForm = StoryEditForm.for_story(
            item, touchpoint_choices(keep_id=item.touchpoint_id)
        )
    else:
        form = QuoteEditForm.for_quote(item)
    if item.status not in services.EDITABLE:
        flash(f"This {item.kind} is {item.status.label.lower()}; it can no longer be edited.",
              "info")
        return redirect(_item_url(item))
    conflict = None
    if form.validate_on_submit():
        try:
            revision = services.edit_item(item, form.to_edit(), actor=_me(),
                                          seen_version=form.version.data)
        except InvalidInput as error:
            db.session.rollback()
            for name, message in error.errors.items():
                target = "touchpoint" if name == "touchpoint_id" else name
                if target in form:
                    form[target].errors = [message]
        except Conflict as error:
            # Keep what the editor typed; the form now carries the latest version, so saving
            # again is a deliberate choice made after seeing who changed it.
            db.session.rollback()
            item = get_item(kind, item_id)
            conflict = error.message
            form.version.data = item.version
        else:
            db.session.commit()
            flash("Saved. The change is kept as a revision and the author will be told what "
                  "changed when it is published." if revision else "Nothing changed.", "success")
            return redirect(_item_url(item))
    return render_template("review/edit.html", item=item, form=form, conflict=conflict), (
        409 if conflict else 400 if form.errors else 200
    )
