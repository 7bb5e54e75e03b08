"""Admin → Provisioning (SCIM): the tokens identity providers use. Thin views over
app.scim.services; a token's secret is shown once, on the page right after it is created."""

from __future__ import annotations

from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user

from app.auth.access import admin_required
from app.extensions import db
from app.models import User
from app.scim import admin
from app.scim import queries
from app.scim import services
from app.scim.forms import ConfirmRevokeForm
from app.scim.forms import TokenForm
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import ADMINS
from app.web.nav import nav_entry
from app.web.urls import absolute_url

nav_entry(
    "Provisioning (SCIM)",
    "scim.admin.tokens",
    roles=ADMINS,
    menu="user",
    order=83,
    also_active=("scim.admin.revoke",),
)


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@admin.route("/", methods=["GET", "POST"])
@admin_required
def tokens():
    form = TokenForm()
    if form.validate_on_submit():
        with form_errors(form.name):
            token, secret = services.create_token(form.name.data or "", actor=_me())
            db.session.commit()
            # Rendered, not redirected: the secret exists only in this response, never cached.
            page = make_response(render_template(
                "scim/created.html", token=token, secret=secret, base_url=_base_url()))
            page.headers["Cache-Control"] = "no-store"
            return page
    return render_template(
        "scim/tokens.html", form=form, tokens=queries.tokens(), base_url=_base_url()
    )


def _base_url() -> str:
    """What the identity provider is given: BASE_URL + /scim/v2."""
    return absolute_url("scim.api.service_provider_config").removesuffix("/ServiceProviderConfig")


@admin.route("/<int:token_id>/revoke", methods=["GET", "POST"])
@admin_required
def revoke(token_id: int):
    token = services.get_token(token_id)
    back = url_for(".tokens")
    if token.revoked_at is not None:
        flash(f"The token {token.name!r} is already revoked.", "info")
        return redirect(back)
    form = ConfirmRevokeForm()
    if request.method == "POST" and form.validate_on_submit():
        errors_redirect_to(back)
        services.revoke_token(token, actor=_me())
        db.session.commit()
        flash(f"The token {token.name!r} is revoked: requests with it are refused now.",
              "success")
        return redirect(back)
    return render_template("scim/revoke.html", token=token, form=form)
