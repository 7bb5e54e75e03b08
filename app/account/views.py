"""The profile page: one page, three forms (profile, email notifications, password), each posting
to its own URL; and the signed "stop these emails" link from notification footers."""

from __future__ import annotations

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login.config import COOKIE_NAME

from app.account import bp
from app.account import services
from app.account.forms import SWITCHABLE
from app.account.forms import NotificationsForm
from app.account.forms import PasswordForm
from app.account.forms import ProfileForm
from app.admin.forms import as_choices
from app.admin.queries import team_choices
from app.auth.access import login_required
from app.auth.access import public
from app.auth.sso import SsoSettings
from app.errors import TokenError
from app.extensions import csrf
from app.extensions import db
from app.models import User
from app.notifications import preferences
from app.notifications.tokens import read_token
from app.settings import get_settings
from app.timezones import zone_names
from app.web.errors import form_errors
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


def _notifications_form(formdata=None) -> NotificationsForm:
    current = preferences.preferences_for(_me())
    return NotificationsForm(formdata=formdata, prefix="n",
                             data={kind.key: current[kind.key] for kind in SWITCHABLE})


def _page(
    profile_form: ProfileForm,
    password_form: PasswordForm,
    notifications_form: NotificationsForm | None = None,
    **extra: object,
):
    visible = preferences.visible_kinds(_me())
    form = notifications_form or _notifications_form()
    return render_template(
        "account/profile.html",
        form=profile_form,
        password_form=password_form,
        notifications_form=form,
        notification_fields=[form[k.key] for k in SWITCHABLE if k in visible],
        essential_kinds=[k for k in visible if k.essential],
        timezones=zone_names(),
        org_timezone=get_settings("timezone")["timezone"],
        # Someone who never chose a zone gets this device's preselected (js/timezone.js); not
        # when the form comes back with their own input, which may be a deliberate empty.
        suggest_timezone=_me().timezone is None and profile_form.timezone.raw_data is None,
        uses_password=SsoSettings.from_config(current_app.config).uses_password(_me()),
        **extra,
    )


def profile_page(**extra: object) -> str:
    """The profile page with its forms as a GET shows them, plus `extra` template context
    (app.photos.views shows the photo form with its errors this way)."""
    return _page(_profile_form(), _password_form(), **extra)


@bp.route("/", methods=["GET", "POST"])
@login_required
def profile():
    form = _profile_form(request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        with form_errors(form):
            changes = services.update_profile(
                _me(),
                display_name=form.display_name.data,
                team_id=form.team.data,
                timezone=form.timezone.data,
                weekly_email=form.weekly_email.data,
            )
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


@bp.route("/notifications", methods=["POST"])
@login_required
def notifications():
    form = _notifications_form(request.form)
    if form.validate():
        changed = services.update_notifications(
            _me(), {kind.key: bool(form[kind.key].data) for kind in SWITCHABLE}
        )
        db.session.commit()
        flash("Email settings saved." if changed else "Nothing to change.",
              "success" if changed else "info")
        return redirect(url_for(".profile") + "#notifications")
    return _page(_profile_form(), _password_form(), form)


@bp.route("/notifications/off/<token>", methods=["GET", "POST"])
@public
def notification_off(token: str):
    """GET asks (link scanners must not change anything); POST switches the kind off, without
    sign-in or CSRF token (RFC 8058 one-click from the mail client), only with a valid signed
    token for that person and kind."""
    user_id, kind = read_token(token)
    user = db.session.get(User, user_id)
    if user is None:
        raise TokenError("This link belongs to an account that no longer exists.")
    done = False
    if request.method == "POST":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        services.turn_off(user, kind, via="one_click" if one_click else "unsubscribe_link")
        db.session.commit()
        done = True
    return render_template(
        "account/notification_off.html",
        token=token,
        kind=kind,
        email=user.email,
        done=done,
        already=not done and not preferences.is_enabled(user, kind),
    )


csrf.exempt(notification_off)


@bp.route("/password", methods=["POST"])
@login_required
def password():
    form = _password_form(request.form)
    if form.validate():
        user = _me()
        with form_errors(form):
            services.change_password(user, current=form.current.data, new=form.password.data)
            db.session.commit()
            # The new security stamp ended every session, this one included: sign in again,
            # keeping "remember me" if this browser had it.
            cookie = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
            remembered = cookie in request.cookies
            login_user(user, remember=remembered, fresh=True)
            flash("Password changed. Other devices have been signed out.", "success")
            return redirect(url_for(".profile"))
    return _page(_profile_form(), form)
