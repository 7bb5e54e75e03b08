"""Auth views: thin wrappers over app.auth.services."""

from __future__ import annotations

from functools import partial

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user

from app.auth import bp
from app.auth import services as auth
from app.auth.access import login_required
from app.auth.access import public
from app.auth.forms import ForgotPasswordForm
from app.auth.forms import LoginForm
from app.auth.forms import SetPasswordForm
from app.auth.sso import SsoSettings
from app.errors import TokenError
from app.extensions import db
from app.extensions import limiter
from app.extensions import login_manager
from app.web.errors import caught
from app.web.errors import form_errors
from app.web.security import is_safe_redirect


@login_manager.user_loader
def _load_user(session_id: str):
    return auth.load_user(session_id)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _after_login_target() -> str:
    target = request.args.get("next")
    return target if is_safe_redirect(target) else url_for("main.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(_after_login_target())
    settings = SsoSettings.from_config(current_app.config)
    # Password sign-in turned off (SSO on): the page shows the provider's button only; the
    # form stays reachable at /login?password=1 and accepts administrators only (break-glass).
    break_glass = not settings.password_login and request.args.get("password") == "1"
    form = LoginForm()
    if form.validate_on_submit():
        with form_errors(form.password):
            user = auth.authenticate(
                form.email.data, form.password.data, admins_only=not settings.password_login
            )
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(_after_login_target())
        break_glass = not settings.password_login  # show the refusal on the form
    next_target = request.args.get("next")
    return render_template(
        "auth/login.html",
        form=form,
        sso=settings,
        show_password_form=settings.password_login or break_glass,
        break_glass=break_glass,
        next_target=next_target if is_safe_redirect(next_target) else None,
    )


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Ends the local session whole: the user, and whatever a sign-in left in the session
    (single sign-on state, where to go next). The identity provider's own session is its own."""
    logout_user()
    # Flask-Login's "_remember": "clear" tells it to delete the remember-me cookie: kept.
    kept = {key: session[key] for key in ("_remember",) if key in session}
    session.clear()
    session.update(kept)
    flash("You are signed out. See you on Friday!", "info")
    return redirect(url_for("auth.login"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        settings = SsoSettings.from_config(current_app.config)
        auth.request_password_reset(form.email.data, admins_only=not settings.password_login)
        db.session.commit()
        return render_template("auth/reset_sent.html", email=form.email.data)
    return render_template("auth/forgot_password.html", form=form)


def _bad_link(error: TokenError, purpose: str):
    """An invitation cannot be renewed by its recipient (an admin re-sends it); a reset link can."""
    invite = purpose == auth.INVITE
    return render_template("auth/bad_link.html", message=error.message, invite=invite), 400


def _token_page(token: str, purpose: str, template: str, apply, *, admins_only: bool = False):
    """Shared flow for invitation and reset links: check the link first, then the new password."""
    try:
        user = auth.user_from_token(token, purpose, admins_only=admins_only)
    except TokenError as error:
        return _bad_link(error, purpose)
    sso = SsoSettings.from_config(current_app.config)
    if purpose == auth.INVITE and not sso.uses_password(user):  # an invitation sent before
        flash(f"Your account is ready: sign in with {sso.provider_name}.", "info")
        return redirect(url_for("auth.login"))
    form = SetPasswordForm()
    if form.validate_on_submit():
        with form_errors(form.password), caught(TokenError) as bad_link:
            user = apply(token, form.password.data)
            db.session.commit()
            # Only here, after a valid link and a POST, may the session change: whoever was
            # signed in on this browser gives way to the person who set the password.
            if current_user.is_authenticated:
                logout_user()
            login_user(user)
            flash("Your password is set. Welcome to Feel Good Fridays!", "success")
            return redirect(url_for("main.home"))
        if bad_link.error is not None:
            return _bad_link(bad_link.error, purpose)
    return render_template(template, form=form, user=user)


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
def accept_invite(token: str):
    """GET only shows the form (any page can make a browser GET a link, so it must not sign
    anyone out); `_token_page` switches the session after a valid POST."""
    return _token_page(token, auth.INVITE, "auth/accept_invite.html", auth.accept_invite)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    admins_only = not SsoSettings.from_config(current_app.config).password_login
    return _token_page(
        token,
        auth.RESET,
        "auth/reset_password.html",
        partial(auth.reset_password, admins_only=admins_only),
        admins_only=admins_only,
    )
