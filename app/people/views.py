"""People admin pages: edit a person's details and manager, send a reset link (admins), and
merge free-text colleague names into accounts (editors too). Thin views over
app.people.services / merge (writes) and app.people.queries (reads)."""

from __future__ import annotations

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_user

from app.admin.forms import NO_TEAM
from app.admin.forms import as_choices
from app.admin.queries import team_choices
from app.admin.services import get_user
from app.auth.access import admin_required
from app.auth.access import curator_required
from app.extensions import db
from app.models import User
from app.numbers import positive_int
from app.people import bp
from app.people import merge
from app.people import queries
from app.people import services
from app.people.forms import MergeNameForm
from app.people.forms import NameSearchForm
from app.people.forms import PersonForm
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import CURATORS
from app.web.nav import nav_entry
from app.web.security import is_safe_redirect

nav_entry("Names without accounts", "people.names", roles=CURATORS, menu="user", order=79)

PAGE_MAX = 10_000
NEXT_MAX = 500


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.route("/<int:user_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(user_id: int):
    person = get_user(user_id)
    form = PersonForm(data={
        "display_name": person.display_name,
        "email": person.email,
        "team": person.team_id or 0,
        "manager": person.manager.email if person.manager else "",
    })  # fmt: skip
    form.team.choices = as_choices([NO_TEAM, *team_choices()])
    if form.validate_on_submit():
        with form_errors(form):
            changes = services.update_person(
                person,
                display_name=form.display_name.data,
                email=form.email.data,
                team_id=form.team.data,
                manager_email=form.manager.data,
                actor=_me(),
            )
            db.session.commit()
            if "email" in changes and person.id == _me().id:
                login_user(person)  # the new stamp signs out other sessions, not this one
            flash("Saved." if changes else "Nothing to change.", "success" if changes else "info")
            return redirect(url_for("admin.user", user_id=person.id))
    return render_template("people/edit.html", person=person, form=form)


@bp.route("/<int:user_id>/send-reset", methods=["POST"])
@admin_required
def send_reset(user_id: int):
    person = get_user(user_id)
    back = url_for("admin.user", user_id=person.id)
    errors_redirect_to(back)
    services.send_password_reset(person, actor=_me())
    db.session.commit()
    flash(f"A link to choose a new password is on its way to {person.email}.", "success")
    return redirect(back)


@bp.route("/names")
@curator_required
def names():
    form = NameSearchForm(formdata=request.args)
    form.validate()
    search = queries.clean_search(form.q.data) if not form.q.errors else ""
    page = min(request.args.get("page", 1, type=positive_int), PAGE_MAX)
    rows, has_next = queries.free_names(search, page)
    return render_template(
        "people/names.html",
        form=form,
        search=search,
        rows=rows,
        page=page,
        prev_url=url_for(".names", q=search or None, page=page - 1) if page > 1 else None,
        next_url=url_for(".names", q=search or None, page=page + 1) if has_next else None,
        merge_form=MergeNameForm(),
    )


@bp.route("/names/merge", methods=["POST"])
@curator_required
def merge_name():
    form = MergeNameForm()
    back = form.next.data
    if not is_safe_redirect(back) or len(back) > NEXT_MAX:
        back = url_for(".names")
    errors_redirect_to(back)
    if not form.validate_on_submit():
        message = next(iter(form.errors.values()), ["Choose the account to merge into."])[0]
        flash(f"Nothing was merged: {message}", "error")
        return redirect(back)
    result = merge.merge_name(form.name.data, form.account.data, actor=_me())
    db.session.commit()
    flash(result.summary, "success")
    return redirect(back)
