"""The archive (`/editions`, `/editions/<n>`, `/editions.atom`) and one-click unsubscribe.

Archive pages are for signed-in staff only (the stories are internal). `/editions.atom` needs a
signed-in session too (browsers' feed readers and intranet portals that share the session);
real feed readers use each person's private, revocable feed address (app.branding.views), and
the document itself is built by app.newsletter.feeds.
"""

from __future__ import annotations

from flask import Response
from flask import abort
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user

from app.auth.access import admin_required
from app.auth.access import curator_required
from app.auth.access import login_required
from app.auth.access import public
from app.engagement.queries import edition_readership
from app.engagement.report import comparisons
from app.errors import TokenError
from app.extensions import csrf
from app.extensions import db
from app.models import Edition
from app.models import EditionStatus
from app.models import User
from app.newsletter import bp
from app.newsletter import queries
from app.newsletter import sending
from app.newsletter import services
from app.newsletter.compose import WEB_URL
from app.newsletter.compose import marker
from app.newsletter.compose import render_as_it_will_go_out
from app.newsletter.feeds import atom
from app.newsletter.tokens import read_unsubscribe_token
from app.numbers import positive_int
from app.settings import get_setting
from app.web.nav import nav_entry

nav_entry("Editions", "newsletter.archive", order=20, also_active=("newsletter.edition",))


@bp.get("/editions")
@login_required
def archive():
    page = request.args.get("page", 1, type=positive_int)
    result = queries.archive_page(page)
    if page > 1 and not result.entries:
        abort(404)
    return render_template(
        "newsletter/archive.html",
        page=result,
        days=queries.archive_days(result.entries, zone=get_setting("timezone"),
                                  weekday=int(get_setting("send_weekday"))),
        prev_url=url_for(".archive", page=page - 1) if result.has_prev else None,
        next_url=url_for(".archive", page=page + 1) if result.has_next else None,
    )


@bp.get("/editions/<int:number>")
@login_required
def edition(number: int):
    item = _edition_or_404(number)
    if item.status == EditionStatus.SKIPPED:
        return _skipped_page(item)
    is_sent = item.status == EditionStatus.SENT
    if is_sent:
        services.count_view(item)
        db.session.commit()
        db.session.refresh(item)
    body = render_as_it_will_go_out(item).web_html.replace(marker(WEB_URL), request.base_url)
    older, newer = queries.neighbours(item)
    curator = current_user.is_editor
    readership = edition_readership(item) if curator and is_sent else None
    figures = queries.progress(item) if curator else None
    return render_template(
        "newsletter/edition.html",
        edition=item,
        readership=readership,
        comparisons=comparisons(readership) if readership else [],
        body=body,
        older=older,
        newer=newer,
        is_preview=not is_sent and not item.content_html,
        progress=figures,
        estimate=_estimate(item, figures),
        zone=get_setting("timezone"),
        failed=queries.failed_deliveries(item.id) if curator else [],
        report=queries.recipient_report(item.id) if curator else None,
        pause=queries.send_pause(item) if curator else None,
        starting=curator and queries.is_starting(item),  # "send now" done, not yet taken
        stalled=curator and queries.is_stalled(item),
    )


@bp.get("/editions/<int:number>/progress")
@curator_required
def progress(number: int):
    item = _edition_or_404(number)
    figures = queries.progress(item)
    estimate = _estimate(item, figures)
    known = estimate.as_json(get_setting("timezone")) if estimate else {}
    # "estimate" / "paused" (and their times) only when there is something to say.
    return jsonify({**figures.as_json(), **{k: v for k, v in known.items() if v is not None}})


@bp.post("/editions/<int:number>/retry-failed")
@admin_required
def retry_failed(number: int):
    item = _edition_or_404(number)
    count = sending.retry_failed(item, current_user._get_current_object())
    db.session.commit()
    if count:
        flash(f"{count} failed deliveries are queued again; the sender retries them within a "
              "minute.", "success")
    else:
        flash("There were no failed deliveries to retry.", "info")
    return redirect(url_for(".edition", number=number))


@bp.get("/editions.atom")
@login_required
def feed():
    editions = queries.feed_editions()
    return Response(atom(editions), mimetype="application/atom+xml")


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public
def unsubscribe(token: str):
    """GET asks (link scanners must not unsubscribe anyone); POST does it, without login or
    CSRF token (RFC 8058 one-click from the mail client), but only with a valid signed token."""
    target = read_unsubscribe_token(token)
    user = db.session.get(User, target.user_id) if target.user_id is not None else None
    if target.user_id is not None and user is None:
        raise TokenError("This unsubscribe link belongs to an account that no longer exists.")
    done = False
    if request.method == "POST":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        services.unsubscribe(target, user, one_click=one_click)
        db.session.commit()
        done = True
    return render_template(
        "newsletter/unsubscribe.html",
        token=token,
        user=user,
        email=user.email if user else target.email,
        done=done,
        already=user is not None and user.email_opt_out and not done,
        profile_url=url_for("account.profile"),
    )


csrf.exempt(unsubscribe)


def _edition_or_404(number: int) -> Edition:
    """An edition readers may see (sent, or a skipped week's note); editors see every one."""
    item = queries.edition_by_number(number)
    if item is None or (item.status not in queries.ARCHIVED and not current_user.is_editor):
        abort(404)
    return item


def _estimate(item: Edition, figures: queries.Progress | None) -> queries.SendEstimate | None:
    """Expected finish and the cap's pause, while deliveries are open (editors only)."""
    if figures is None or item.status not in (EditionStatus.SENDING, EditionStatus.SENT):
        return None
    return queries.send_estimate(item, figures.pending)


def _skipped_page(item: Edition) -> str:
    """A skipped week: its number was used, so its page says so (as the archive does)."""
    older, newer = queries.neighbours(item)
    return render_template(
        "newsletter/skipped.html",
        edition=item,
        day=queries.week_day(item.iso_week, int(get_setting("send_weekday"))),
        older=older,
        newer=newer,
    )
