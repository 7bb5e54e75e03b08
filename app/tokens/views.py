"""The token pages: a person's own API tokens (/account/tokens) and every API token for admins
(/admin/api-tokens). Thin views over app.tokens.services and queries.

A token's secret exists only in the response to the POST that created it: rendered there (not
redirected to, not flashed, never in a URL), marked `no-store`, and shown once.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from flask import Blueprint
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth.access import admin_required
from app.auth.access import login_required
from app.errors import PermissionDenied
from app.extensions import db
from app.models import AccessToken
from app.models import User
from app.models import utcnow
from app.tokens import queries
from app.tokens import scopes as scope_rules
from app.tokens import services
from app.tokens.forms import ConfirmRevokeForm
from app.tokens.forms import PersonalTokenForm
from app.tokens.forms import ServiceTokenForm
from app.web.context import org_timezone
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import nav_entry
from app.web.urls import base_url

bp = Blueprint("tokens", __name__)

nav_entry("API tokens", "tokens.mine", menu="user", order=15,
          also_active=("tokens.revoke_mine",))

ME_PATH = "/api/v1/me"  # what the curl example calls: the API's "who am I"


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _expiry(form: PersonalTokenForm | ServiceTokenForm):
    return services.expiry_from_choice(
        form.expires.data or "", form.expires_on.data, zone=org_timezone()
    )


def _created(template: str, token: AccessToken, secret: str, back: str) -> Response:
    """The only page that shows the secret: rendered in the POST's response, never cached."""
    page = make_response(render_template(
        template, token=token, secret=secret, back=back, me_url=base_url() + ME_PATH,
        **_page_context(),
    ))
    page.headers["Cache-Control"] = "no-store"
    return page


def ago(moment: datetime, now: datetime) -> str:
    """"just now", "5 minutes ago", "3 days ago": how long since a token was last used."""
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400),
                       ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"  # unreachable: seconds >= 60 matched "minute"


def _page_context() -> dict[str, object]:
    now = utcnow()
    today = now.astimezone(org_timezone()).date()
    last_day = (now + services.MAX_LIFETIME).astimezone(org_timezone()).date() - timedelta(days=1)
    return {
        "all_scopes": scope_rules.SCOPES,
        "descriptions": scope_rules.DESCRIPTIONS,
        "status_of": queries.status,
        "effective": scope_rules.effective,
        "parse_scopes": scope_rules.parse,
        "ago": ago,
        "now": now,
        "min_date": today.isoformat(),
        "max_date": last_day.isoformat(),
    }


# A person's own tokens ---------------------------------------------------------------------------
@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def mine():
    me = _me()
    form = PersonalTokenForm()
    form.limit_scopes(scope_rules.allowed_for(me))
    if form.validate_on_submit():
        with form_errors(form):
            token, secret = services.create_personal_token(
                me, name=form.name.data or "", scopes=form.scopes.data or [],
                expires_at=_expiry(form),
            )
            db.session.commit()
            return _created("tokens/created_mine.html", token, secret, url_for(".mine"))
    return render_template(
        "tokens/mine.html", form=form, tokens=queries.tokens_of(me), **_page_context()
    )


def _revocable(token_id: int, purpose: str | None) -> AccessToken:
    token = queries.get_api_token(token_id, purpose)
    if not services.may_revoke(token, _me()):
        raise PermissionDenied("Only the token's owner or an administrator can revoke it.")
    return token


def _revoke(token: AccessToken, back: str, template: str):
    if token.revoked_at is not None:
        flash(f"The token “{token.name}” is already revoked.", "info")
        return redirect(back)
    form = ConfirmRevokeForm()
    if form.validate_on_submit():
        errors_redirect_to(back)
        services.revoke_token(token, actor=_me())
        db.session.commit()
        flash(f"The token “{token.name}” is revoked: requests with it are refused now.",
              "success")
        return redirect(back)
    return render_template(template, token=token, form=form, back=back)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke_mine(token_id: int):
    token = _revocable(token_id, scope_rules.PERSONAL)
    return _revoke(token, url_for(".mine"), "tokens/revoke_mine.html")


# Every API token, for admins ---------------------------------------------------------------------
def _admin_list_url(filters: queries.Filters, cursor: str | None = None) -> str:
    args = {k: v for k, v in (("kind", filters.kind), ("status", filters.status)) if v != "all"}
    return url_for(".admin_list", **args, **({"cursor": cursor} if cursor else {}))


@bp.route("/admin/api-tokens")
@admin_required
def admin_list():
    filters = queries.Filters.parse(request.args.get("kind"), request.args.get("status"))
    page = queries.api_tokens(filters, request.args.get("cursor"))
    return render_template(
        "tokens/admin_list.html",
        page=page,
        filters=filters,
        kinds=queries.KINDS,
        statuses=queries.STATUSES,
        next_url=_admin_list_url(filters, page.next_cursor) if page.next_cursor else None,
        prev_url=_admin_list_url(filters, page.prev_cursor) if page.prev_cursor else None,
        filtered=filters != queries.Filters(),
        **_page_context(),
    )


@bp.route("/admin/api-tokens/new", methods=["GET", "POST"])
@admin_required
def admin_new():
    me = _me()
    form = ServiceTokenForm(data={"acts_as": me.email})
    if form.validate_on_submit():
        with form_errors(form):
            token, secret = services.create_service_token(
                actor=me, name=form.name.data or "",
                acts_as=services.acting_person(form.acts_as.data),
                scopes=form.scopes.data or [], expires_at=_expiry(form),
            )
            db.session.commit()
            return _created("tokens/created_admin.html", token, secret,
                            url_for(".admin_list"))
    return render_template("tokens/admin_new.html", form=form, **_page_context())


@bp.route("/admin/api-tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@admin_required
def admin_revoke(token_id: int):
    token = _revocable(token_id, None)
    return _revoke(token, url_for(".admin_list"), "tokens/revoke_admin.html")
