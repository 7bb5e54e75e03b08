"""Auth views: thin wrappers over app.auth.services."""

from __future__ import annotations

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
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
    form = LoginForm()
    if form.validate_on_submit():
        with form_errors(form.password):
            user = auth.authenticate(form.email.data, form.password.data)
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(_after_login_target())
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("You are signed out. See you on Friday!", "info")
    return redirect(url_for("auth.login"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        auth.request_password_reset(form.email.data)
        db.session.commit()
        return render_template("auth/reset_sent.html", email=form.email.data)
    return render_template("auth/forgot_password.html", form=form)


def _bad_link(error: TokenError, purpose: str):
    """An invitation cannot be renewed by its recipient (an admin re-sends it); a reset link can."""
    invite = purpose == auth.INVITE
    return render_template("auth/bad_link.html", message=error.message, invite=invite), 400


def _token_page(token: str, purpose: str, template: str, apply):
    """Shared flow for invitation and reset links: check the link first, then the new password."""
    try:
        user = auth.user_from_token(token, purpose)
    except TokenError as error:
        return _bad_link(error, purpose)
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
    return _token_page(token, auth.RESET, "auth/reset_password.html", auth.reset_password)
