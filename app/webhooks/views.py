"""Admin → Webhooks: register endpoints, see and replay their deliveries. Thin views over
app.webhooks.services (writes) and app.webhooks.queries (reads); admins only. A secret is shown
once, in the response right after it is created or rotated (rendered, never redirected to, and
not cached)."""

from __future__ import annotations

import json

from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user

from app.auth.access import role_required
from app.extensions import db
from app.models import Role
from app.models import User
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
from app.models import WebhookEndpoint
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import ADMINS
from app.web.nav import PagesOf
from app.web.nav import nav_entry
from app.webhooks import bp
from app.webhooks import delivery
from app.webhooks import queries
from app.webhooks import services
from app.webhooks.catalog import EVENT_TYPES
from app.webhooks.catalog import LABELS
from app.webhooks.forms import ConfirmForm
from app.webhooks.forms import EndpointForm
from app.webhooks.forms import FilterForm

S = WebhookDeliveryStatus
admins_only = role_required(Role.ADMIN)

nav_entry("Webhooks", "webhooks.endpoints", roles=ADMINS, menu="user", order=85,
          also_active=PagesOf("webhooks"))


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _data(form: EndpointForm) -> services.EndpointData:
    return services.EndpointData(url=form.url.data or "", events=list(form.events.data or []),
                                 description=form.description.data or "",
                                 active=bool(form.active.data))


def _context(**values):
    return dict(values, event_types=EVENT_TYPES, labels=LABELS, host_of=services.host_of, S=S)


def _acting_on(endpoint_id: int) -> tuple[WebhookEndpoint, str]:
    """The endpoint a button acts on, and its page, where a refusal is shown (flashed)."""
    row = db.get_or_404(WebhookEndpoint, endpoint_id)
    back = url_for(".endpoint", endpoint_id=row.id)
    errors_redirect_to(back)
    return row, back


def _confirming(endpoint_id: int) -> tuple[WebhookEndpoint, ConfirmForm]:
    """The endpoint a destructive action is about, and the form confirming it (CSRF)."""
    return db.get_or_404(WebhookEndpoint, endpoint_id), ConfirmForm()


def _secret_page(endpoint: WebhookEndpoint, secret: str, *, rotated: bool):
    """The only response that holds the secret: not cached, not redirected to."""
    page = make_response(render_template("webhooks/secret.html", **_context(
        endpoint=endpoint, secret=secret, rotated=rotated)))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.route("/")
@admins_only
def endpoints():
    return render_template("webhooks/endpoints.html", **_context(rows=queries.endpoints()))


@bp.route("/new", methods=["GET", "POST"])
@admins_only
def new():
    form = EndpointForm()
    if form.validate_on_submit():
        with form_errors(form):
            endpoint, secret = services.create_endpoint(_data(form), actor=_me())
            db.session.commit()
            return _secret_page(endpoint, secret, rotated=False)
    return render_template("webhooks/form.html", **_context(form=form, endpoint=None))


@bp.route("/<int:endpoint_id>")
@admins_only
def endpoint(endpoint_id: int):
    row = db.get_or_404(WebhookEndpoint, endpoint_id)
    filters = FilterForm(request.args)
    wanted = request.args.get("status") or ""
    status = S(wanted) if wanted in {s.value for s in S} else None
    cursor = request.args.get("cursor")
    page = queries.deliveries(row.id, status=status, cursor=cursor)
    counts = queries.delivery_counts([row.id]).get(row.id, queries.Counts())
    return render_template("webhooks/endpoint.html", **_context(
        endpoint=row, page=page, counts=counts, filters=filters,
        status=status.value if status else "", newest=not page.prev_cursor))


@bp.route("/<int:endpoint_id>/edit", methods=["GET", "POST"])
@admins_only
def edit(endpoint_id: int):
    row = db.get_or_404(WebhookEndpoint, endpoint_id)
    form = EndpointForm(data={"url": row.url, "description": row.description,
                              "events": list(row.events or []), "active": row.active})
    if form.validate_on_submit():
        with form_errors(form):
            services.update_endpoint(row, _data(form), actor=_me())
            db.session.commit()
            flash(f"The endpoint {services.host_of(row.url)} is saved.", "success")
            return redirect(url_for(".endpoint", endpoint_id=row.id))
    return render_template("webhooks/form.html", **_context(form=form, endpoint=row))


@bp.route("/<int:endpoint_id>/test", methods=["POST"])
@admins_only
def send_test(endpoint_id: int):
    """Record a `webhook.test` delivery, commit, send it now (at most WEBHOOK_TIMEOUT_SECONDS)
    and say how it went: the admin is waiting for exactly that answer."""
    row, back = _acting_on(endpoint_id)
    test = services.record_test(row, actor=_me())
    test_id, host = test.id, services.host_of(row.url)
    db.session.commit()
    delivery.deliver(ids=[test_id])
    test = db.session.get(WebhookDelivery, test_id)  # expired by the commit: loaded afresh
    if test is None:  # the endpoint was deleted meanwhile, its deliveries with it
        flash("The endpoint was deleted while the test was being sent.", "warning")
        return redirect(url_for(".endpoints"))
    answer = _answer(test)
    if test.status is S.DELIVERED:
        flash(f"Test delivery accepted by {host} ({answer}).", "success")
    else:
        flash(f"The test delivery to {host} did not go through: {answer}.", "error")
    return redirect(back)


def _answer(row: WebhookDelivery) -> str:
    if row.response_code is None:
        return row.response_text or "no answer"
    return f"{row.response_code} {row.response_text or ''}".strip()


@bp.route("/<int:endpoint_id>/rotate", methods=["GET", "POST"])
@admins_only
def rotate(endpoint_id: int):
    """GET asks first; the confirmed POST makes the new secret and shows it once."""
    row, form = _confirming(endpoint_id)
    if not form.validate_on_submit():
        return render_template("webhooks/rotate.html", **_context(endpoint=row, form=form))
    errors_redirect_to(url_for(".endpoint", endpoint_id=row.id))
    secret = services.rotate_secret(row, actor=_me())
    db.session.commit()
    return _secret_page(row, secret, rotated=True)


@bp.route("/<int:endpoint_id>/delete", methods=["GET", "POST"])
@admins_only
def delete(endpoint_id: int):
    """GET asks first (saying what goes with it); the confirmed POST deletes."""
    row, form = _confirming(endpoint_id)
    if not form.validate_on_submit():
        counts = queries.delivery_counts([row.id]).get(row.id, queries.Counts())
        return render_template("webhooks/delete.html", **_context(endpoint=row, form=form,
                                                                  counts=counts))
    errors_redirect_to(url_for(".endpoints"))
    host = services.host_of(row.url)
    logged = services.delete_endpoint(row, actor=_me())
    db.session.commit()
    flash(f"The endpoint {host} is deleted with its {logged} logged delivery(ies): nothing more "
          "is sent there.", "success")
    return redirect(url_for(".endpoints"))


@bp.route("/<int:endpoint_id>/replay-failed", methods=["POST"])
@admins_only
def replay_failed(endpoint_id: int):
    row, back = _acting_on(endpoint_id)
    count = services.replay_failed(row, actor=_me())
    db.session.commit()
    flash(f"{count} failed delivery(ies) will be sent again now." if count
          else "There are no failed deliveries to replay.", "success" if count else "info")
    return redirect(back)


def _delivery(endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    found = db.get_or_404(WebhookDelivery, delivery_id)
    if found.endpoint_id != endpoint_id:
        return db.get_or_404(WebhookDelivery, 0)  # the same 404 as an unknown id
    return found


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>")
@admins_only
def delivery_detail(endpoint_id: int, delivery_id: int):
    """The delivery and what its last attempt carried: the webhook-id and that attempt's
    webhook-timestamp (its `last_attempt_at`, the same clock reading). The signature is not
    stored (each attempt signs anew, with the secret of the moment), so none is shown: one
    made now could differ from the one sent, after a rotation."""
    row = _delivery(endpoint_id, delivery_id)
    body = delivery.encode(row.payload)
    headers = None
    if row.last_attempt_at is not None:
        headers = {"Content-Type": "application/json", "User-Agent": delivery.USER_AGENT,
                   "webhook-id": row.message_id,
                   "webhook-timestamp": str(int(row.last_attempt_at.timestamp()))}
    return render_template("webhooks/delivery.html", **_context(
        endpoint=row.endpoint, delivery=row, headers=headers, size=len(body),
        pretty=json.dumps(row.payload, indent=2, ensure_ascii=False)))


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/replay", methods=["POST"])
@admins_only
def replay(endpoint_id: int, delivery_id: int):
    row = _delivery(endpoint_id, delivery_id)
    back = url_for(".delivery_detail", endpoint_id=endpoint_id, delivery_id=row.id)
    errors_redirect_to(back)
    services.replay(row, actor=_me())
    active = row.endpoint.active or row.event_type == "webhook.test"
    db.session.commit()
    flash("The delivery will be sent again now, with the same webhook-id." if active else
          "The delivery is queued again; the endpoint is switched off, so it waits until it is "
          "switched on.", "success" if active else "warning")
    return redirect(back)
