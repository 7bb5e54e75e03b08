"""Single sign-on pages: "Sign in with <company>" and the provider's way back (thin: the protocol
is app.auth.oidc_client, the rules app.auth.sso). Both answer 404 while SSO is not configured."""

from __future__ import annotations

from flask import abort
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user

from app.auth import bp
from app.auth import oidc_client
from app.auth import sso
from app.auth.access import public
from app.extensions import db
from app.web.errors import caught
from app.web.security import is_safe_redirect
from app.web.urls import absolute_url

NEXT_KEY = "sso_next"  # where to land after the round trip through the provider


def _settings() -> sso.SsoSettings:
    settings = sso.SsoSettings.from_config(current_app.config)
    if not settings.enabled:
        abort(404)
    return settings


def _failed(settings: sso.SsoSettings, error: sso.SsoFailed | sso.SsoRefused):
    return render_template(
        "auth/sso_error.html", message=error.message, provider_name=settings.provider_name
    ), error.status_code


@bp.route("/sso")
@public
def sso_start():
    """A GET link is enough: nothing changes here, and the `state` ties the answer to this
    browser's session, so a forged callback cannot sign anyone in. Not rate limited like the
    password form: there is no secret to guess, and a whole office may share one address."""
    settings = _settings()
    target = request.args.get("next")
    if current_user.is_authenticated:
        return redirect(target if is_safe_redirect(target) else url_for("main.home"))
    session[NEXT_KEY] = target if is_safe_redirect(target) else None
    with caught(sso.SsoFailed) as failed:
        return oidc_client.start(settings, absolute_url("auth.sso_callback"))
    return _failed(settings, failed.error)


@bp.route("/sso/callback")
@public
def sso_callback():
    settings = _settings()
    with caught(sso.SsoFailed, sso.SsoRefused) as failed:
        claims = oidc_client.finish(settings)
        identity = sso.identity_from_claims(claims, settings)
        picture = sso.download_picture(identity.picture) if sso.picture_wanted(identity) else None
        user = sso.sign_in(identity, settings, picture=picture)
        db.session.commit()
        target = session.pop(NEXT_KEY, None)
        login_user(user)
        return redirect(target if is_safe_redirect(target) else url_for("main.home"))
    session.pop(NEXT_KEY, None)
    return _failed(settings, failed.error)
