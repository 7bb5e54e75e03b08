"""The profile page: one page, two forms (profile, password), each posting to its own URL."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from flask_login.config import COOKIE_NAME
from flask_wtf import FlaskForm

from app.account import bp, services
from app.account.forms import PasswordForm, ProfileForm
from app.admin.forms import as_choices
from app.admin.queries import team_choices, timezone_names
from app.auth.access import login_required
from app.errors import DomainError
from app.extensions import db
from app.models import User
from app.web.nav import nav_entry

nav_entry("Profile", "account.profile", menu="user", order=10, also_active=("account.password",))


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _profile_form(formdata=None) -> ProfileForm:
    user = _me()
    form = ProfileForm(
        formdata=formdata,
        data={
            "display_name": user.display_name,
            "team": user.team_id or 0,
            "timezone": user.timezone or "",
            "weekly_email": not user.email_opt_out,
        },
    )
    form.team.choices = as_choices([(0, "No team"), *team_choices()])
    return form


def _password_form(formdata=None) -> PasswordForm:
    return PasswordForm(formdata=formdata, prefix="pw")


def _show_error(form: FlaskForm, error: DomainError) -> None:
    field = getattr(error, "field", None)
    if field and field in form:
        form[field].errors.append(error.message)
    else:
        form.form_errors.append(error.message)


def _page(profile_form: ProfileForm, password_form: PasswordForm):
    return render_template(
        "account/profile.html",
        form=profile_form,
        password_form=password_form,
        timezones=timezone_names(),
    )


@bp.route("/", methods=["GET", "POST"])
@login_required
def profile():
    form = _profile_form(request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        try:
            changes = services.update_profile(
                _me(),
                display_name=form.display_name.data,
                team_id=form.team.data,
                timezone=form.timezone.data,
                weekly_email=form.weekly_email.data,
            )
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            db.session.commit()
            flash(_saved_message(changes), "success" if changes else "info")
            return redirect(url_for(".profile"))
    return _page(form, _password_form())


def _saved_message(changes: dict) -> str:
    if not changes:
        return "Nothing to change."
    weekly = changes.get("weekly_email", {}).get("to")
    if weekly is False:
        return "Saved. You will not receive the weekly email any more; switch it back on any time."
    if weekly is True:
        return "Saved. Welcome back: the weekly email will reach you again on Friday."
    return "Profile saved."


@bp.route("/password", methods=["POST"])
@login_required
def password():
    form = _password_form(request.form)
    if form.validate():
        user = _me()
        try:
            services.change_password(user, current=form.current.data, new=form.password.data)
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            db.session.commit()
            # The new security stamp ended every session, this one included: sign in again,
            # keeping "remember me" if this browser had it.
            cookie = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
            remembered = cookie in request.cookies
            login_user(user, remember=remembered, fresh=True)
            flash("Password changed. Other devices have been signed out.", "success")
            return redirect(url_for(".profile"))
    return _page(_profile_form(), form)
