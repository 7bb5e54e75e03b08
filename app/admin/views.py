"""Admin pages: thin views over app.admin.services (writes) and app.admin.queries (reads)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from app.admin import bp
from app.admin import queries
from app.admin import services
from app.admin.forms import NO_TEAM
from app.admin.forms import AuditFilterForm
from app.admin.forms import ConfirmForm
from app.admin.forms import InviteForm
from app.admin.forms import MoveForm
from app.admin.forms import SettingsForm
from app.admin.forms import TeamForm
from app.admin.forms import TouchpointForm
from app.admin.forms import UserFilterForm
from app.admin.forms import UserForm
from app.admin.forms import as_choices
from app.auth.access import admin_required
from app.extensions import db
from app.models import Role
from app.models import Touchpoint
from app.models import User
from app.models import utcnow
from app.people.queries import person_page
from app.settings import get_settings
from app.timezones import zone_names
from app.voice.redact import WITHHELD
from app.voice.redact import Redactor
from app.voice.retention import kept_originals
from app.voice.retention import purge_originals
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import ADMINS
from app.web.nav import nav_entry

USER_PAGES = (
    "admin.user",
    "admin.invite",
    "admin.deactivate_user",
    "privacy.erase",
    "admin.teams",
    "admin.rename_team",
    "people.edit",
    "imports.upload",
    "imports.preview",
)
nav_entry("Users", "admin.users", roles=ADMINS, menu="user", order=80, also_active=USER_PAGES)
nav_entry(
    "Settings",
    "admin.settings",
    roles=ADMINS,
    menu="user",
    order=81,
    also_active=("admin.touchpoints", "admin.edit_touchpoint", "branding.settings",
                 "engagement.readership_settings", "chat.destinations"),
)
nav_entry("Audit log", "admin.audit", roles=ADMINS, menu="user", order=82)

E = TypeVar("E", bound=StrEnum)
RETENTION_KEYS = {"voice_keep_original", "voice_original_days"}


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


def _list_page(template: str, form: FlaskForm, filters: object, page, **context) -> str:
    """A filtered list with its cursor links (people, audit log)."""
    return render_template(
        template,
        form=form,
        filters=filters,
        page=page,
        next_url=_page_url(page.next_cursor),
        prev_url=_page_url(page.prev_cursor),
        **context,
    )


def _act(action: Callable[[], object], success: str, back: str) -> Response:
    """Run a one-click service call, commit, and report the outcome as a flash message (a
    refusal too: the error handler flashes it and goes back)."""
    errors_redirect_to(back)
    action()
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
    return _list_page("admin/users.html", form, filters, page, status_of=queries.user_status)


@bp.route("/users/invite", methods=["GET", "POST"])
@admin_required
def invite():
    form = InviteForm()
    form.team.choices = as_choices([NO_TEAM, *queries.team_choices()])
    if form.validate_on_submit():
        with form_errors(form.email):
            person = services.invite(
                form.email.data,
                form.display_name.data,
                role=Role(form.role.data),
                team_id=form.team.data,
                actor=_me(),
            )
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
        with form_errors(form):
            changes = services.update_user(
                person, role=Role(form.role.data), team_id=form.team.data, actor=_me()
            )
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
        people=person_page(person),  # manager, reports, recognitions, submissions
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


# Teams and touchpoints: a list-and-add page and a rename page each, from one implementation ------
@dataclass(frozen=True)
class CataloguePages:
    """The list-and-add page and the rename page of one catalogue (app.admin.services)."""

    catalogue: services.Catalogue
    form: type[FlaskForm]
    endpoint: str  # the list page; the rename page's breadcrumb and Cancel lead back to it
    title: str
    template: str  # the list page (extends admin/_catalogue.html)
    rows: Callable[[], list]
    added: str  # flashed with the new name
    renamed: str
    rename_lead: str

    def list_page(self):
        form = self.form()
        field = form[self.catalogue.name_field]
        if form.validate_on_submit():
            with form_errors(field):
                row = self.catalogue.create(field.data, actor=_me())
                db.session.commit()
                flash(self.added.format(getattr(row, self.catalogue.name_field)), "success")
                return redirect(url_for(self.endpoint))
        return render_template(self.template, form=form, field=field, rows=self.rows(), pages=self)

    def rename_page(self, **ids: int):
        (row_id,) = ids.values()  # the one <int:...> of the rename URL
        row = db.get_or_404(self.catalogue.model, row_id)
        name = getattr(row, self.catalogue.name_field)
        form = self.form(data={self.catalogue.name_field: name})
        field = form[self.catalogue.name_field]
        if form.validate_on_submit():
            with form_errors(field):
                self.catalogue.rename(row, field.data, actor=_me())
                db.session.commit()
                flash(self.renamed, "success")
                return redirect(url_for(self.endpoint))
        return render_template("admin/rename.html", form=form, field=field, name=name, pages=self)

    def route(self, url: str, rename_url: str, rename_endpoint: str) -> None:
        """Admins' routes: `url` lists and adds (endpoint `self.endpoint`), `rename_url` renames."""
        methods = ["GET", "POST"]
        bp.add_url_rule(url, self.endpoint.removeprefix("admin."), admin_required(self.list_page),
                        methods=methods)
        bp.add_url_rule(rename_url, rename_endpoint, admin_required(self.rename_page),
                        methods=methods)


TEAM_PAGES = CataloguePages(
    services.TEAMS,
    TeamForm,
    "admin.teams",
    "Teams",
    "admin/teams.html",
    queries.teams_with_counts,
    added="Team {!r} created.",
    renamed="Team renamed.",
    rename_lead="Members and stories stay in the team; only its name changes.",
)
TOUCHPOINT_PAGES = CataloguePages(
    services.TOUCHPOINTS,
    TouchpointForm,
    "admin.touchpoints",
    "Touchpoints",
    "admin/touchpoints.html",
    queries.touchpoints,
    added="Touchpoint {!r} added.",
    renamed="Touchpoint renamed.",
    rename_lead="Stories that use this touchpoint show the new label too.",
)


TEAM_PAGES.route("/teams", "/teams/<int:team_id>/rename", "rename_team")
TOUCHPOINT_PAGES.route("/touchpoints", "/touchpoints/<int:touchpoint_id>/edit", "edit_touchpoint")


@bp.route("/touchpoints/<int:touchpoint_id>/move", methods=["POST"])
@admin_required
def move_touchpoint(touchpoint_id: int):
    touchpoint = db.get_or_404(Touchpoint, touchpoint_id)
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
    return _offer_touchpoint(touchpoint_id, False)


@bp.route("/touchpoints/<int:touchpoint_id>/reactivate", methods=["POST"])
@admin_required
def reactivate_touchpoint(touchpoint_id: int):
    return _offer_touchpoint(touchpoint_id, True)


def _offer_touchpoint(touchpoint_id: int, active: bool) -> Response:
    touchpoint = db.get_or_404(Touchpoint, touchpoint_id)
    done = "is offered again." if active else "is no longer offered; stories that use it keep it."
    return _act(
        lambda: services.set_touchpoint_active(touchpoint, active, actor=_me()),
        f"{touchpoint.label!r} {done}",
        url_for(".touchpoints"),
    )


# Settings ----------------------------------------------------------------------------------------
@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    stored = get_settings()
    form = SettingsForm(data=SettingsForm.initial(stored))
    preview, valid = None, form.validate_on_submit()
    if valid and "preview" in request.form:
        # What editors would see of the sample with the patterns as typed; nothing is saved.
        patterns = services.check_setting("voice_redact_patterns", form.voice_redact_patterns.data)
        preview = Redactor(patterns).redact(form.voice_sample.data or "")
    elif valid:
        with form_errors(form, services.SettingsInvalid):
            changed = services.update_settings(form.values(), actor=_me())
            db.session.commit()
            flash("Settings saved." if changed else "Nothing changed.", "success")
            if RETENTION_KEYS & changed.keys():  # originals no longer kept, or not as long
                purged = purge_originals()
                if purged:
                    flash(f"{purged:,} unredacted original{'s' if purged != 1 else ''} "
                          "deleted under the new retention.", "info")
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
        timezones=zone_names(),
        originals=kept_originals(),
        preview=preview,
        withheld=WITHHELD,
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
    return _list_page("admin/audit.html", form, filters, page, describe=queries.describe_details)
