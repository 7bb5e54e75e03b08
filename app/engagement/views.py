"""Tracked links (/r/), the open image (/o/), applause from the email (/a/), and the admin's
readership settings.

The three email routes are public (signed values stand in for a session) and quick: a click is
a token check, a settings read and one INSERT before the redirect. Recording is limited per IP
address and message tag (ENGAGEMENT_RATE_LIMIT) so a bot cannot flood the table; past the limit
a click still redirects and the image still loads, they are just not counted.
"""

from __future__ import annotations

import base64
import logging

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse as parse_limit

from app.auth.access import admin_required
from app.auth.access import public
from app.database import begin_write
from app.engagement import queries
from app.engagement import services
from app.engagement import tokens
from app.engagement.applause import NO_ACCOUNT
from app.engagement.applause import ApplauseRefused
from app.engagement.applause import applause_target
from app.engagement.forms import ApplaudForm
from app.engagement.forms import ReadershipSettingsForm
from app.engagement.privacy import privacy_sentence
from app.extensions import csrf
from app.extensions import db
from app.extensions import limiter
from app.settings import get_settings
from app.web.errors import caught
from app.web.errors import form_errors

bp = Blueprint("engagement", __name__)

NO_TAG = "-"
TAG_KEY_LENGTH = 64  # longer than any genuine tag; bounds the rate limiter's keys
# The smallest transparent GIF: 1×1, one transparent colour.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"
# Apple Mail Privacy Protection loads every remote image through Apple's proxy when the message
# arrives, whether or not it is ever read, with this bare User-Agent (a real Mail.app or iOS
# Mail load names the browser engine). Google's image proxy (Gmail) fetches when the reader
# opens the message, so it is a real open; other providers' proxies are not told apart.
PRIVACY_PROXY_AGENTS = frozenset({"Mozilla/5.0"})

log = logging.getLogger(__name__)


def _may_record(tag: str) -> bool:
    """One more recorded click or open of this message from this address within the limit?
    Keyed on the address *and* the message's tag: behind a company proxy or NAT, Gmail's image
    proxy or Apple's, everyone shares a few addresses, and a limit per address alone would drop
    a whole send's reads; a message's repeated hits never change its distinct counts anyway.
    Counted by hand, not by `@limiter.limit`: past the limit the reader still gets the page."""
    if not limiter.enabled:
        return True
    rule = current_app.config["ENGAGEMENT_RATE_LIMIT"]
    try:
        return limiter.limiter.hit(parse_limit(rule), current_app.config["RATELIMIT_KEY_PREFIX"],
                                   "engagement", get_remote_address(), tag[:TAG_KEY_LENGTH])
    except Exception:  # noqa: BLE001 - the shared storage (Redis) is down: never refuse a reader
        log.warning("engagement rate limit storage unreachable; the read is counted")
        return True


def _is_privacy_proxy() -> bool:
    return (request.user_agent.string or "").strip() in PRIVACY_PROXY_AGENTS


@bp.route("/r/<token>/<tag>")
@public
def click(token: str, tag: str):
    """Record the click (unless a preview's "-" or a tag that proves nothing), then go to the
    URL signed in the token, exactly; a tampered token is a friendly 404, never a redirect."""
    target = tokens.read_link_token(token)
    if target is None:
        return render_template("engagement/bad_link.html"), 404
    if request.method == "GET" and tag != NO_TAG and _may_record(tag):
        begin_write()
        services.record_click(target, tag)
        db.session.commit()
    response = redirect(target.url, 302)
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/o/<token>/<tag>.gif")
@public
def open_image(token: str, tag: str):
    """The 1×1 image: counts an open (or a privacy proxy's fetch), always answers the image."""
    edition_id = tokens.read_edition_token(token)
    if edition_id is not None and request.method == "GET" and tag != NO_TAG and _may_record(tag):
        begin_write()
        services.record_open(edition_id, tag, proxy=_is_privacy_proxy())
        db.session.commit()
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Pragma"] = "no-cache"
    response.headers["Expires"] = "0"
    return response


@bp.route("/a/<int:story_id>/<token>", methods=["GET", "POST"])
@public
def applaud(story_id: int, token: str):
    """GET: "Applaud <title>?" with one button (mail scanners open links, so nothing happens
    here); POST: applaud as the person the link names, then say thank you."""
    story_url = url_for("reading.story", story_id=story_id)
    sign_in_url = url_for("auth.login", next=story_url)
    if token == NO_ACCOUNT:
        return render_template("engagement/applaud_sign_in.html", story_url=story_url,
                               sign_in_url=sign_in_url)
    form = ApplaudForm()
    if form.validate_on_submit():
        with caught(ApplauseRefused) as refused:
            target = services.applaud_from_email(story_id, token)
            db.session.commit()
            return render_template("engagement/applauded.html", target=target,
                                   story_url=story_url)
    else:
        with caught(ApplauseRefused) as refused:
            target = applause_target(story_id, token)
            # A POST that failed its check (CSRF token missing or from an expired session):
            # say so, or the reader sees the same page again and thinks the applause counted.
            failed = request.method == "POST"
            return render_template("engagement/applaud.html", target=target, form=form,
                                   story_url=story_url, failed=failed), 400 if failed else 200
    return render_template("engagement/applause_refused.html", message=refused.error.message,
                           story_url=story_url, sign_in_url=sign_in_url), 400


# The form checks its own CSRF token, so a failed check re-shows this page with the reason and a
# working button instead of the generic "form expired" error page.
csrf.exempt(applaud)


@bp.route("/admin/settings/readership", methods=["GET", "POST"])
@admin_required
def readership_settings():
    stored = get_settings(*ReadershipSettingsForm.KEYS)
    form = ReadershipSettingsForm(data=stored)
    person_messages = queries.person_events_count() if stored["analytics_mode"] == "person" else 0
    confirm = False
    if form.validate_on_submit():
        leaving = stored["analytics_mode"] == "person" and form.analytics_mode.data == "aggregate"
        if leaving and person_messages and form.confirmed.data != "yes":
            confirm = True  # say what will be anonymized, keep what was typed, ask again
            form.confirmed.data = "yes"  # the next submit of this form is the confirmation
        else:
            with form_errors(form):
                changed, anonymized = services.save_readership_settings(
                    form.values(), actor=current_user._get_current_object()
                )
                db.session.commit()
                flash("Readership settings saved." if changed else "Nothing changed.", "success")
                if anonymized:
                    flash(f"Per-person reading data of {anonymized:,} "
                          f"message{'s' if anonymized != 1 else ''} anonymized: the counts stay, "
                          "the names are gone.", "info")
                return redirect(url_for(".readership_settings"))
    sentences = {
        mode: privacy_sentence(clicks=bool(stored["track_clicks"]),
                               opens=bool(stored["track_opens"]), mode=mode,
                               days=int(stored["engagement_person_days"]))
        for mode in ("aggregate", "person")
    }
    return render_template("engagement/settings.html", form=form, stored=stored,
                           sentences=sentences, notice=readership_notice(),
                           person_messages=person_messages, confirm=confirm)


@bp.app_template_global()
def readership_notice() -> dict:
    """What staff are told about reading data (the profile page, the readership settings and
    every edition's report show the same `sentence`)."""
    settings = get_settings("track_clicks", "track_opens", "analytics_mode",
                            "engagement_person_days")
    clicks, opens = bool(settings["track_clicks"]), bool(settings["track_opens"])
    mode, days = settings["analytics_mode"], int(settings["engagement_person_days"])
    return {
        "clicks": clicks,
        "opens": opens,
        "per_person": mode == "person",
        "days": days,
        "sentence": privacy_sentence(clicks=clicks, opens=opens, mode=mode, days=days),
    }
