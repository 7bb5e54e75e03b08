"""Admin pages: thin views over app.admin.services (writes) and app.admin.queries (reads)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.admin import bp, queries, services
from app.admin.forms import (
    NO_TEAM,
    AuditFilterForm,
    ConfirmForm,
    InviteForm,
    MoveForm,
    SettingsForm,
    TeamForm,
    TouchpointForm,
    UserFilterForm,
    UserForm,
    as_choices,
)
from app.auth.access import admin_required
from app.errors import DomainError, NotFound
from app.extensions import db
from app.models import Role, Team, Touchpoint, User, utcnow
from app.settings import get_settings
from app.web.nav import ADMINS, nav_entry

USER_PAGES = (
    "admin.user",
    "admin.invite",
    "admin.deactivate_user",
    "admin.teams",
    "admin.rename_team",
)
nav_entry("Users", "admin.users", roles=ADMINS, menu="user", order=80, also_active=USER_PAGES)
nav_entry(
    "Settings",
    "admin.settings",
    roles=ADMINS,
    menu="user",
    order=81,
    also_active=("admin.touchpoints", "admin.edit_touchpoint"),
)
nav_entry("Audit log", "admin.audit", roles=ADMINS, menu="user", order=82)

E = TypeVar("E", bound=StrEnum)


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _enum(cls: type[E], value: str | None) -> E | None:
    try:
        return cls(value) if value else None
    except ValueError:
        return None


def _page_url(cursor: str | None) -> str | None:
    """This list's URL with its filters kept and the cursor replaced."""
    if cursor is None:
        return None
    args = {k: v for k, v in request.args.items() if k != "cursor" and v != ""}
    return url_for(request.endpoint or "", **args, cursor=cursor)


def _get_or_404(model: type, ident: int, what: str):
    obj = db.session.get(model, ident)
    if obj is None:
        raise NotFound(f"There is no such {what}.")
    return obj


def _act(action: Callable[[], object], success: str, back: str) -> Response:
    """Run a one-click service call, commit, and report the outcome as a flash message."""
    try:
        action()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(back)


@bp.route("/")
@admin_required
def index():
    return redirect(url_for(".users"))


# People ------------------------------------------------------------------------------------------
@bp.route("/users")
@admin_required
def users():
    form = UserFilterForm(formdata=request.args)
    form.team.choices = as_choices([(0, "Any team"), *queries.team_choices()])
    form.validate()
    filters = queries.UserFilters(
        q=(form.q.data or "")[:120],
        role=_enum(Role, form.role.data),
        team_id=form.team.data or None,
        status=_enum(queries.UserStatus, form.status.data),
    )
    page = queries.list_users(filters, request.args.get("cursor"))
    return render_template(
        "admin/users.html",
        form=form,
        filters=filters,
        page=page,
        status_of=queries.user_status,
        next_url=_page_url(page.next_cursor),
        prev_url=_page_url(page.prev_cursor),
    )


@bp.route("/users/invite", methods=["GET", "POST"])
@admin_required
def invite():
    form = InviteForm()
    form.team.choices = as_choices([NO_TEAM, *queries.team_choices()])
    if form.validate_on_submit():
        try:
            person = services.invite(
                form.email.data,
                form.display_name.data,
                role=Role(form.role.data),
                team_id=form.team.data,
                actor=_me(),
            )
        except DomainError as error:
            db.session.rollback()
            form.email.errors.append(error.message)
        else:
            db.session.commit()
            flash(f"Invitation sent to {person.email}.", "success")
            return redirect(url_for(".user", user_id=person.id))
    return render_template("admin/invite.html", form=form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user(user_id: int):
    person = services.get_user(user_id)
    form = UserForm(data={"role": person.role.value, "team": person.team_id or 0})
    form.team.choices = as_choices([NO_TEAM, *queries.team_choices()])
    if form.validate_on_submit():
        try:
            changes = services.update_user(
                person, role=Role(form.role.data), team_id=form.team.data, actor=_me()
            )
        except DomainError as error:
            db.session.rollback()
            form.form_errors.append(error.message)
        else:
            db.session.commit()
            flash("Saved." if changes else "Nothing to change.", "success" if changes else "info")
            if not _me().is_admin:  # stepped down: the admin pages are closed to them now
                return redirect(url_for("main.home"))
            return redirect(url_for(".user", user_id=person.id))
    return render_template(
        "admin/user.html",
        person=person,
        form=form,
        status=queries.user_status(person),
        blocker=services.deactivation_blocker(person, actor=_me()),
    )


@bp.route("/users/<int:user_id>/deactivate", methods=["GET", "POST"])
@admin_required
def deactivate_user(user_id: int):
    person = services.get_user(user_id)
    back = url_for(".user", user_id=person.id)
    if not person.is_active_user:
        flash(f"{person.display_name} is already deactivated.", "info")
        return redirect(back)
    form = ConfirmForm()
    if form.validate_on_submit():
        return _act(
            lambda: services.deactivate_user(person, actor=_me()),
            f"{person.display_name} is deactivated: signed out, and no more emails.",
            back,
        )
    return render_template(
        "admin/deactivate.html",
        person=person,
        form=form,
        blocker=services.deactivation_blocker(person, actor=_me()),
    )


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
@admin_required
def reactivate_user(user_id: int):
    person = services.get_user(user_id)
    return _act(
        lambda: services.reactivate_user(person, actor=_me()),
        f"{person.display_name} is active again.",
        url_for(".user", user_id=person.id),
    )


@bp.route("/users/<int:user_id>/resend-invite", methods=["POST"])
@admin_required
def resend_invite(user_id: int):
    person = services.get_user(user_id)
    back = request.form.get("back") == "list"
    return _act(
        lambda: services.resend_invite(person, actor=_me()),
        f"A new invitation is on its way to {person.email}.",
        url_for(".users") if back else url_for(".user", user_id=person.id),
    )


# Teams -------------------------------------------------------------------------------------------
@bp.route("/teams", methods=["GET", "POST"])
@admin_required
def teams():
    form = TeamForm()
    if form.validate_on_submit():
        try:
            team = services.create_team(form.name.data, actor=_me())
        except DomainError as error:
            db.session.rollback()
            form.name.errors.append(error.message)
        else:
            db.session.commit()
            flash(f"Team {team.name!r} created.", "success")
            return redirect(url_for(".teams"))
    return render_template("admin/teams.html", form=form, rows=queries.teams_with_counts())


@bp.route("/teams/<int:team_id>/rename", methods=["GET", "POST"])
@admin_required
def rename_team(team_id: int):
    team: Team = _get_or_404(Team, team_id, "team")
    form = TeamForm(data={"name": team.name})
    if form.validate_on_submit():
        try:
            services.rename_team(team, form.name.data, actor=_me())
        except DomainError as error:
            db.session.rollback()
            form.name.errors.append(error.message)
        else:
            db.session.commit()
            flash("Team renamed.", "success")
            return redirect(url_for(".teams"))
    return render_template("admin/rename_team.html", form=form, team=team)


# Touchpoints -------------------------------------------------------------------------------------
@bp.route("/touchpoints", methods=["GET", "POST"])
@admin_required
def touchpoints():
    form = TouchpointForm()
    if form.validate_on_submit():
        try:
            touchpoint = services.add_touchpoint(form.label.data, actor=_me())
        except DomainError as error:
            db.session.rollback()
            form.label.errors.append(error.message)
        else:
            db.session.commit()
            flash(f"Touchpoint {touchpoint.label!r} added.", "success")
            return redirect(url_for(".touchpoints"))
    return render_template("admin/touchpoints.html", form=form, touchpoints=queries.touchpoints())


@bp.route("/touchpoints/<int:touchpoint_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_touchpoint(touchpoint_id: int):
    touchpoint: Touchpoint = _get_or_404(Touchpoint, touchpoint_id, "touchpoint")
    form = TouchpointForm(data={"label": touchpoint.label})
    if form.validate_on_submit():
        try:
            services.rename_touchpoint(touchpoint, form.label.data, actor=_me())
        except DomainError as error:
            db.session.rollback()
            form.label.errors.append(error.message)
        else:
            db.session.commit()
            flash("Touchpoint renamed.", "success")
            return redirect(url_for(".touchpoints"))
    return render_template("admin/edit_touchpoint.html", form=form, touchpoint=touchpoint)


@bp.route("/touchpoints/<int:touchpoint_id>/move", methods=["POST"])
@admin_required
def move_touchpoint(touchpoint_id: int):
    touchpoint: Touchpoint = _get_or_404(Touchpoint, touchpoint_id, "touchpoint")
    form = MoveForm()
    direction = form.direction.data if form.validate_on_submit() else ""
    return _act(
        lambda: services.move_touchpoint(touchpoint, direction, actor=_me()),
        f"Moved {touchpoint.label!r} {direction}.",
        url_for(".touchpoints"),
    )


@bp.route("/touchpoints/<int:touchpoint_id>/deactivate", methods=["POST"])
@admin_required
def deactivate_touchpoint(touchpoint_id: int):
    touchpoint: Touchpoint = _get_or_404(Touchpoint, touchpoint_id, "touchpoint")
    return _act(
        lambda: services.set_touchpoint_active(touchpoint, False, actor=_me()),
        f"{touchpoint.label!r} is no longer offered; stories that use it keep it.",
        url_for(".touchpoints"),
    )


@bp.route("/touchpoints/<int:touchpoint_id>/reactivate", methods=["POST"])
@admin_required
def reactivate_touchpoint(touchpoint_id: int):
    touchpoint: Touchpoint = _get_or_404(Touchpoint, touchpoint_id, "touchpoint")
    return _act(
        lambda: services.set_touchpoint_active(touchpoint, True, actor=_me()),
        f"{touchpoint.label!r} is offered again.",
        url_for(".touchpoints"),
    )


# Settings ----------------------------------------------------------------------------------------
@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    stored = get_settings()
    form = SettingsForm(data=SettingsForm.initial(stored))
    if form.validate_on_submit():
        try:
            changed = services.update_settings(form.values(), actor=_me())
        except services.SettingsInvalid as error:
            db.session.rollback()
            for key, message in error.errors.items():
                form[key].errors.append(message)
        else:
            db.session.commit()
            flash("Settings saved." if changed else "Nothing changed.", "success")
            return redirect(url_for(".settings"))
    now = utcnow()
    next_send = queries.next_weekly_occurrence(
        now, stored["send_weekday"], stored["send_time"], stored["timezone"]
    )
    next_nudge = (
        queries.next_weekly_occurrence(
            now, stored["nudge_weekday"], stored["nudge_time"], stored["timezone"]
        )
        if stored["nudge_enabled"]
        else None
    )
    return render_template(
        "admin/settings.html",
        form=form,
        stored=stored,
        next_send=next_send,
        next_nudge=next_nudge,
        timezones=queries.timezone_names(),
    )


# Audit log ---------------------------------------------------------------------------------------
@bp.route("/audit")
@admin_required
def audit():
    form = AuditFilterForm(formdata=request.args)
    types = queries.audit_object_types()
    form.object_type.choices = as_choices([("", "Any type"), *((t, t) for t in types)])
    form.validate()
    tz = get_settings("timezone")["timezone"]
    filters = queries.AuditFilters(
        actor=(form.actor.data or "")[:120] if not form.actor.errors else "",
        action=(form.action.data or "")[:64] if not form.action.errors else "",
        object_type=form.object_type.data or "",
        object_id=form.object_id.data if not form.object_id.errors else None,
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None,
        tz=tz,
    )
    page = queries.list_audit_events(filters, request.args.get("cursor"))
    return render_template(
        "admin/audit.html",
        form=form,
        filters=filters,
        page=page,
        describe=queries.describe_details,
        next_url=_page_url(page.next_cursor),
        prev_url=_page_url(page.prev_cursor),
    )
