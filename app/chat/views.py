"""Admin → Chat: connect Slack and Teams destinations. Thin views over app.chat.services
(writes) and app.chat.queries (reads); admins only. The webhook URL is a secret: no page shows
it once saved (only `url_hint`), and the edit form starts with the field empty."""

from __future__ import annotations

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user

from app.auth.access import admin_required
from app.chat import bp
from app.chat import delivery
from app.chat import queries
from app.chat import services
from app.chat.forms import ConfirmForm
from app.chat.forms import DestinationForm
from app.chat.providers import PROVIDERS
from app.extensions import db
from app.models import ChatDestination
from app.models import ChatPost
from app.models import ChatPostStatus
from app.models import User
from app.numbers import positive_int
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.nav import ADMINS
from app.web.nav import PagesOf
from app.web.nav import nav_entry

nav_entry("Chat (Slack, Teams)", "chat.destinations", roles=ADMINS, menu="user", order=84,
          also_active=PagesOf("chat"))


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _data(form: DestinationForm) -> services.DestinationData:
    return services.DestinationData(
        name=form.name.data or "",
        kind=form.kind.data or "",
        webhook_url=form.webhook_url.data,
        on_edition_sent=form.on_edition_sent.data,
        on_colleague_featured=form.on_colleague_featured.data,
        on_story_published=form.on_story_published.data,
        team_id=form.team.data,
        active=form.active.data,
    )


def _context(**values):
    return dict(values, providers=PROVIDERS, labels=services.EVENT_LABELS,
                url_hint=services.url_hint, S=ChatPostStatus)


@bp.route("/")
@admin_required
def destinations():
    return render_template("chat/destinations.html",
                           **_context(rows=queries.destinations(), confirm=ConfirmForm()))


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    form = DestinationForm()
    form.set_teams(queries.team_choices())
    if form.validate_on_submit():
        with form_errors(form):
            destination, warning = services.create_destination(_data(form), actor=_me())
            db.session.commit()
            flash(f"“{destination.name}” is connected. Send a test post to check it.", "success")
            if warning:
                flash(warning, "warning")
            return redirect(url_for(".destination", destination_id=destination.id))
    return render_template("chat/form.html", **_context(form=form, destination=None))


@bp.route("/<int:destination_id>")
@admin_required
def destination(destination_id: int):
    row = db.get_or_404(ChatDestination, destination_id)
    page = queries.recent_posts(row.id, before=request.args.get("before", type=positive_int))
    counts = queries.post_counts([row.id]).get(row.id, (0, 0, 0))
    return render_template("chat/destination.html", **_context(
        destination=row, page=page, waiting=counts[0], failed=counts[1], sent=counts[2],
        confirm=ConfirmForm(), newest=request.args.get("before") is None))


@bp.route("/<int:destination_id>/edit", methods=["GET", "POST"])
@admin_required
def edit(destination_id: int):
    row = db.get_or_404(ChatDestination, destination_id)
    form = DestinationForm(data={
        "name": row.name, "kind": str(row.kind), "webhook_url": "",
        "on_edition_sent": row.on_edition_sent, "on_colleague_featured": row.on_colleague_featured,
        "on_story_published": row.on_story_published, "team": row.team_id, "active": row.active,
    })  # fmt: skip  -- never `obj=row`: the stored URL must not reach the page
    form.set_teams(queries.team_choices())
    if form.validate_on_submit():
        with form_errors(form):
            warning, dropped = services.update_destination(row, _data(form), actor=_me())
            db.session.commit()
            flash(f"“{row.name}” is saved.", "success")
            if dropped:
                flash(f"{dropped} waiting post(s) were dropped: they were meant for the "
                      "destination as it was.", "info")
            if warning:
                flash(warning, "warning")
            return redirect(url_for(".destination", destination_id=row.id))
    return render_template("chat/form.html", **_context(form=form, destination=row))


@bp.route("/<int:destination_id>/test", methods=["POST"])
@admin_required
def send_test(destination_id: int):
    """Record a test post, commit, post it now (at most CHAT_TIMEOUT_SECONDS) and say how it
    went: the admin is waiting for exactly that answer."""
    row = db.get_or_404(ChatDestination, destination_id)
    back = url_for(".destination", destination_id=row.id)
    errors_redirect_to(back)
    post = services.record_test_post(row, actor=_me())
    post_id, name = post.id, row.name  # read before the commit: after it, a read would begin
    db.session.commit()  # a snapshot older than the post's answer (SQLite)
    delivery.deliver_posts(ids=[post_id])
    post = db.session.get(ChatPost, post_id)  # expired by the commit: loaded afresh
    if post is None:  # the destination was deleted meanwhile, its posts with it
        flash(f"“{name}” was deleted while the test post was being sent, so there is no answer "
              "to show. Nothing more is posted there.", "warning")
        return redirect(url_for(".destinations"))
    if post.status is ChatPostStatus.SENT:
        flash(f"Test post delivered to “{name}” ({post.response_code}). Check the channel.",
              "success")
    elif post.status is ChatPostStatus.FAILED:
        flash(f"The test post to “{name}” was refused: {_answer(post)}. Check the URL.",
              "error")
    else:
        flash(f"The test post to “{name}” did not go through: {_answer(post)}. It will be "
              "tried again.", "warning")
    return redirect(back)


def _answer(post: ChatPost) -> str:
    if post.response_code is None:
        return post.response_text or "no answer"
    return f"{post.response_code} {post.response_text or ''}".strip()


@bp.route("/<int:destination_id>/retry", methods=["POST"])
@admin_required
def retry(destination_id: int):
    row = db.get_or_404(ChatDestination, destination_id)
    back = url_for(".destination", destination_id=row.id)
    errors_redirect_to(back)
    count = services.retry_failed(row, actor=_me())
    db.session.commit()
    flash(f"{count} failed post(s) will be tried again now." if count
          else "There are no failed posts to retry.", "success" if count else "info")
    return redirect(back)


@bp.route("/<int:destination_id>/delete", methods=["GET", "POST"])
@admin_required
def delete(destination_id: int):
    row = db.get_or_404(ChatDestination, destination_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        errors_redirect_to(url_for(".destinations"))
        name = row.name
        services.delete_destination(row, actor=_me())
        db.session.commit()
        flash(f"“{name}” is deleted: nothing more is posted there.", "success")
        return redirect(url_for(".destinations"))
    counts = queries.post_counts([row.id]).get(row.id, (0, 0, 0))
    return render_template("chat/delete.html", **_context(destination=row, form=form,
                                                          waiting=counts[0]))
