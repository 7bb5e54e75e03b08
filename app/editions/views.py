"""The upcoming edition: arrange it, write its subject and intro, preview it, send a test, set
its time, skip the week or send it now.

Views stay thin: parse, call `services` / `queries`, commit, redirect (or answer JSON to
editions.js, which enhances the same forms). Every change carries the edition version the
editor saw; a Conflict is shown on the page with who changed it, never a silent overwrite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from app.auth.access import curator_required
from app.editions import bp
from app.editions import services
from app.editions.forms import ActionForm
from app.editions.forms import ContentForm
from app.editions.forms import ScheduleForm
from app.editions.queries import OPEN_STATUSES
from app.editions.queries import approved_pool
from app.editions.queries import edition_counts
from app.editions.queries import in_flight
from app.editions.queries import load_edition
from app.editions.queries import local_to_utc
from app.editions.queries import open_editions
from app.editions.queries import ordered_items
from app.editions.queries import schedule_label
from app.editions.queries import send_times
from app.editions.queries import weekly_slot
from app.engagement.recipients import RecipientKeys
from app.errors import Conflict
from app.errors import ValidationError
from app.extensions import db
from app.models import Edition
from app.models import User
from app.models import utcnow
from app.newsletter import compose
from app.newsletter import links
from app.newsletter import tokens
from app.newsletter.mime import GMAIL_CLIP_BYTES
from app.newsletter.mime import MessageSize
from app.newsletter.mime import measure
from app.newsletter.queries import is_starting
from app.newsletter.queries import send_estimate
from app.newsletter.queries import send_outage_alerts
from app.newsletter.sending import mailer_for
from app.newsletter.sending import may_send
from app.numbers import bounded_int
from app.review.queries import model_for
from app.richtext import excerpt
from app.settings import get_setting
from app.submissions.rules import InvalidInput
from app.titles import item_title
from app.web.errors import caught
from app.web.errors import errors_redirect_to
from app.web.errors import form_errors
from app.web.errors import wants_json
from app.web.nav import CURATORS
from app.web.nav import nav_entry
from app.web.urls import base_url

nav_entry(
    "Upcoming",
    "editions.upcoming",
    roles=CURATORS,
    order=50,
    also_active=("editions.edition", "editions.preview", "editions.preview_upcoming",
                 "editions.confirm_skip", "editions.confirm_send"),
)


def email_frame_csp() -> str:
    """The email preview is a document of its own inside a sandboxed frame: nothing may run or
    navigate, only images load (ours, from BASE_URL as in the real email, or https), and only
    this site may frame it."""
    base = urlsplit(base_url())
    origin = f"{base.scheme}://{base.netloc}" if base.scheme and base.netloc else ""
    return "; ".join([
        "default-src 'none'",
        f"img-src 'self' data: https: {origin}".rstrip(),
        "style-src 'unsafe-inline'",
        "font-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ])



@bp.context_processor
def _helpers() -> dict:
    return {"excerpt": excerpt}


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _page_url(edition: Edition, anchor: str | None = None) -> str:
    editions = open_editions()
    if editions and editions[0].id == edition.id:
        url = url_for("editions.upcoming")
    elif edition.status in OPEN_STATUSES:
        url = url_for("editions.edition", edition_id=edition.id)
    else:
        url = url_for("editions.upcoming")
    return url + (f"#{anchor}" if anchor else "")


def _version() -> int:
    form = ActionForm()
    if not form.validate_on_submit():
        raise ValidationError("That form is out of date. Reload the page and try again.")
    return int(form.version.data)


def _done(edition: Edition, message: str, *, anchor: str | None = None, **payload) -> Response:
    """Commit, then answer the page (flash + redirect) or editions.js (JSON with the version)."""
    db.session.commit()
    if wants_json():
        return jsonify(message=message, version=edition.version, **payload)
    flash(message, "success")
    return redirect(_page_url(edition, anchor))


def _refusals_back_to(edition_id: int, anchor: str | None = None) -> None:
    """A refused change from here on: the error handler answers editions.js with the JSON
    error, and a page with the message, back where the editor was."""

    def target() -> str:
        edition = db.session.get(Edition, edition_id)
        return _page_url(edition, anchor) if edition else url_for("editions.upcoming")

    errors_redirect_to(target)


# -- pages ---------------------------------------------------------------------------------------


@bp.route("/upcoming")
@curator_required
def upcoming():
    services.open_upcoming()
    db.session.commit()
    editions = open_editions()
    # An edition already on its way (send now) is shown with its progress, above the next one.
    shown = next((e for e in editions if not is_starting(e)), editions[0])
    return _edition_page(shown.id, editions)


@bp.route("/upcoming/<int:edition_id>")
@curator_required
def edition(edition_id: int):
    services.open_upcoming()
    db.session.commit()
    editions = open_editions()
    if edition_id not in {e.id for e in editions}:
        closed = db.get_or_404(Edition, edition_id)
        flash(f"Edition #{closed.number} is {closed.status.label.lower()}; here is the upcoming "
              "edition.", "info")
        return redirect(url_for("editions.upcoming"))
    return _edition_page(edition_id, editions)


def _edition_page(
    edition_id: int,
    editions: list[Edition],
    *,
    content_form: ContentForm | None = None,
    schedule_form: ScheduleForm | None = None,
    conflict: str | None = None,
    status: int = 200,
):
    me = _me()
    edition = load_edition(edition_id)
    times = send_times(me)
    send_time = times[edition.id]
    slot = weekly_slot()
    if content_form is None:
        content_form = ContentForm(data={
            "version": edition.version, "subject": edition.subject, "intro_md": edition.intro_md,
        })
    if schedule_form is None:
        local = send_time.org_local
        schedule_form = ScheduleForm(data={
            "version": edition.version, "day": local.date(), "clock": local.time(), "zone": "org",
        })
    schedule_form.set_zones(slot.zone.key, send_time.user_zone.key)
    later = next((e for e in editions if e.number > edition.number), None)
    going = in_flight(editions)
    return render_template(
        "editions/upcoming.html",
        edition=edition,
        editions=editions,
        entries=ordered_items(edition),
        pool=approved_pool(),
        counts=edition_counts(edition),
        send_time=send_time,
        times=times,
        schedule_label=schedule_label(slot),
        content_form=content_form,
        schedule_form=schedule_form,
        action_form=ActionForm(data={"version": edition.version}),
        later=later,
        on_its_way=going,
        # When each one should be out, within the relay's limits (and the cap's pause, if any).
        estimates={g.edition.id: send_estimate(g.edition, g.progress.pending) for g in going},
        zone=slot.zone.key,
        starting=is_starting(edition),
        conflict=conflict,
        send_outages=send_outage_alerts(),  # an edition stuck sending, on the page editors watch
    ), status


# -- arranging -----------------------------------------------------------------------------------


def _entry_action(edition_id: int, entry_id: int, run) -> Response:
    edition = load_edition(edition_id, for_update=True)
    anchor = f"entry-{entry_id}"
    _refusals_back_to(edition_id, anchor)
    message, payload = run(edition, _version())
    return _done(edition, message, anchor=payload.pop("anchor", anchor), **payload)


@bp.post("/upcoming/<int:edition_id>/items/<int:entry_id>/move")
@curator_required
def move(edition_id: int, entry_id: int) -> Response:
    direction = request.values.get("direction") or (request.get_json(silent=True) or {}).get(
        "direction", "")

    def run(edition: Edition, version: int):
        moved = services.move_item(edition, entry_id, direction, actor=_me(),
                                   seen_version=version)
        end = "top" if direction == "up" else "bottom"
        message = f"Moved {direction}." if moved else f"It is already at the {end}."
        return message, {"moved": moved, "order": [e.id for e in ordered_items(edition)]}

    return _entry_action(edition_id, entry_id, run)


@bp.post("/upcoming/<int:edition_id>/items/<int:entry_id>/pin")
@curator_required
def pin(edition_id: int, entry_id: int) -> Response:
    pinned = request.values.get("pinned", "1") == "1"

    def run(edition: Edition, version: int):
        services.set_pinned(edition, entry_id, pinned, actor=_me(), seen_version=version)
        message = "Featured at the top." if pinned else "No longer featured."
        return message, {}

    return _entry_action(edition_id, entry_id, run)


@bp.post("/upcoming/<int:edition_id>/items/<int:entry_id>/remove")
@curator_required
def remove(edition_id: int, entry_id: int) -> Response:
    def run(edition: Edition, version: int):
        item = services.remove_item(edition, entry_id, actor=_me(), seen_version=version)
        return (f"Removed “{item_title(item, 60)}”: it waits in the approved pool until you "
                "add it again.", {"anchor": "pool"})

    return _entry_action(edition_id, entry_id, run)


@bp.post("/upcoming/<int:edition_id>/items/<int:entry_id>/later")
@curator_required
def later(edition_id: int, entry_id: int) -> Response:
    def run(edition: Edition, version: int):
        item, target = services.move_to_later(edition, entry_id, actor=_me(),
                                              seen_version=version)
        where = (f"edition #{target.number}" if target else
                 f"the next edition (#{edition.number + 1}), which it will open")
        return f"Moved “{item_title(item, 60)}” to {where}.", {"anchor": "items"}

    return _entry_action(edition_id, entry_id, run)


@bp.post("/upcoming/<int:edition_id>/reorder")
@curator_required
def reorder(edition_id: int) -> Response:
    """The drag-and-drop order: JSON {"order": [entry ids], "version": n}."""
    edition = load_edition(edition_id, for_update=True)
    _refusals_back_to(edition_id)
    data = request.get_json(silent=True) or {}
    raw = data.get("order") if request.is_json else request.form.get("order", "").split(",")
    try:
        order = [bounded_int(v) for v in (raw or [])]
    except (ValueError, TypeError):
        raise ValidationError("The new order was not understood.") from None
    changed = services.reorder(edition, order, actor=_me(), seen_version=_version())
    return _done(edition, "New order saved." if changed else "The order is unchanged.",
                 anchor="items", order=[e.id for e in ordered_items(edition)])


@bp.post("/upcoming/<int:edition_id>/add")
@curator_required
def add(edition_id: int) -> Response:
    edition = load_edition(edition_id, for_update=True)
    _refusals_back_to(edition_id, "pool")
    kind, _, raw_id = (request.form.get("item") or "").partition(":")
    model_for(kind)
    try:
        item_id = bounded_int(raw_id)
    except ValueError:
        raise ValidationError("Choose an item from the pool.") from None
    item = services.add_from_pool(edition, kind, item_id, actor=_me(), seen_version=_version())
    return _done(edition, f"Added “{item_title(item, 60)}” at the end of edition "
                          f"#{edition.number}.", anchor="items")


# -- subject, intro and time ---------------------------------------------------------------------


@bp.post("/upcoming/<int:edition_id>/content")
@curator_required
def content(edition_id: int):
    edition = load_edition(edition_id, for_update=True)
    _refusals_back_to(edition_id)
    form = ContentForm()
    if not form.validate_on_submit():
        raise ValidationError("That form is out of date. Reload the page.")
    with caught(Conflict) as refused, form_errors(form, InvalidInput):
        changed = services.update_content(
            edition, subject=form.subject.data or "", intro_md=form.intro_md.data or "",
            actor=_me(), seen_version=form.version.data,
        )
        return _done(edition, "Subject and intro saved." if changed else "Nothing changed.",
                     anchor="content")
    if refused.error is None:
        return _edition_page(edition_id, open_editions(), content_form=form, status=400)
    # Keep what the editor wrote; the form now carries the latest version, so saving again is
    # a deliberate choice made after reading who changed the edition.
    latest = db.session.get(Edition, edition_id)
    if latest is None or latest.status not in OPEN_STATUSES:
        raise refused.error
    form.version.data = latest.version
    return _edition_page(edition_id, open_editions(), content_form=form,
                         conflict=refused.error.message, status=409)


@bp.post("/upcoming/<int:edition_id>/schedule")
@curator_required
def schedule(edition_id: int) -> Response:
    edition = load_edition(edition_id, for_update=True)
    form = ScheduleForm()
    slot = weekly_slot()
    me = _me()
    user_zone = send_times(me)[edition.id].user_zone if edition.status in OPEN_STATUSES else (
        slot.zone)
    form.set_zones(slot.zone.key, user_zone.key)
    _refusals_back_to(edition_id, "schedule")
    if not form.validate_on_submit():
        raise ValidationError("Enter a date and a time, like 14/03/2026 and 09:00.")
    if request.form.get("action") == "weekly":
        when = None
    else:
        if form.day.data is None or form.clock.data is None:
            raise ValidationError("Enter both a date and a time.")
        zone = user_zone if form.zone.data == "mine" else slot.zone
        when = local_to_utc(form.day.data, form.clock.data, zone)
    services.set_send_time(edition, when, actor=me, seen_version=form.version.data)
    message = ("Back to the weekly schedule." if when is None else
               "New send time saved for this edition.")
    return _done(edition, message, anchor="schedule")


# -- skip and send now ---------------------------------------------------------------------------


def _confirm_page(
    edition_id: int, template: str, extra: Callable[[Edition], dict[str, Any]]
) -> str | Response:
    """A skip/send confirmation page; an edition no longer open goes back to the list."""
    edition = load_edition(edition_id)
    if edition.status not in OPEN_STATUSES:
        flash(f"Edition #{edition.number} is {edition.status.label.lower()} already.", "info")
        return redirect(url_for("editions.upcoming"))
    if is_starting(edition):
        flash(f"Edition #{edition.number} is already on its way: sending starts within a "
              "minute.", "info")
        return redirect(url_for("newsletter.edition", number=edition.number))
    return render_template(
        template,
        edition=edition,
        counts=edition_counts(edition),
        send_time=send_times(_me())[edition.id],
        form=ActionForm(data={"version": edition.version}),
        **extra(edition),
    )


@bp.route("/upcoming/<int:edition_id>/skip", methods=["GET"])
@curator_required
def confirm_skip(edition_id: int):
    def next_number(edition: Edition) -> dict[str, Any]:
        editions = open_editions()
        later = next((e for e in editions if e.number > edition.number), None)
        return {"next_number": later.number if later else max(e.number for e in editions) + 1}

    return _confirm_page(edition_id, "editions/confirm_skip.html", next_number)


@bp.post("/upcoming/<int:edition_id>/skip")
@curator_required
def skip(edition_id: int) -> Response:
    edition = load_edition(edition_id, for_update=True)
    _refusals_back_to(edition_id)
    target = services.skip(edition, actor=_me(), seen_version=_version())
    number, moved = edition.number, len(target.items)
    db.session.commit()
    flash(f"Edition #{number} is skipped. Its items moved to edition #{target.number}"
          f" ({moved} item{'s' if moved != 1 else ''} lined up).", "success")
    return redirect(url_for("editions.upcoming"))


@bp.route("/upcoming/<int:edition_id>/send", methods=["GET"])
@curator_required
def confirm_send(edition_id: int):
    return _confirm_page(
        edition_id,
        "editions/confirm_send.html",
        lambda edition: {"may_send": may_send(edition), "subject": edition.full_subject,
                         "today": utcnow().astimezone(weekly_slot().zone)},
    )


@bp.post("/upcoming/<int:edition_id>/send")
@curator_required
def send(edition_id: int) -> Response:
    edition = load_edition(edition_id, for_update=True)
    _refusals_back_to(edition_id)
    services.send_now(edition, actor=_me(), seen_version=_version())
    number = edition.number
    db.session.commit()
    flash(f"Edition #{number} is on its way: sending starts within a minute. This page "
          "follows it until everyone has it.", "success")
    return redirect(url_for("newsletter.edition", number=number))  # its live progress


# -- preview and test --------------------------------------------------------------------------


def _recipient_values(edition: Edition, me: User) -> dict[str, str | None]:
    return {
        "first_name": me.first_name,
        "unsubscribe_url": links.unsubscribe_url(tokens.make_unsubscribe_token(user_id=me.id)),
        "web_url": links.edition_url(edition.number),
        "applause": RecipientKeys(edition.id).applause(me.id),
    }


def _personalized(edition: Edition) -> tuple[compose.RenderedEdition, str, str, str]:
    """The edition as this editor would receive it: (rendered, email html, text, web html).
    The HTML as a browser preview shows it (`compose.for_browser_preview`): embedded pictures
    (cid:) from the site, no open image."""
    rendered = compose.render_as_it_will_go_out(edition)  # dated as the test email is
    values = _recipient_values(edition, _me())
    html, text = compose.personalize(rendered, **values)
    web = compose.RenderedEdition(rendered.subject, rendered.web_html, "", "")
    web_html, _ = compose.personalize(web, **values)
    return rendered, compose.for_browser_preview(html), text, web_html


def _message_sizes(edition: Edition, rendered: compose.RenderedEdition) -> dict[str, Any]:
    """One message on the wire, built by the sender's own builder for this editor: as it will
    go out, with the cover pictures embedded and without them (remote links)."""
    me = _me()
    message_id = f"<fgf.{edition.number}.preview@{urlsplit(base_url()).hostname or 'localhost'}>"

    def size(version: compose.RenderedEdition) -> MessageSize:
        values = _recipient_values(edition, me)
        message = mailer_for(edition, version).message(
            email_address=me.email, name=me.display_name, first_name=values["first_name"],
            message_id=message_id,
            unsubscribe_url=values["unsubscribe_url"], applause=values["applause"],
        )
        return measure(message)

    plain = compose.RenderedEdition(rendered.subject, compose.with_remote_images(rendered.html),
                                    rendered.text, "")
    embedded = rendered if compose.CID_RE.search(rendered.html) else None
    if embedded is None and edition.status in OPEN_STATUSES:
        embedded = compose.render_as_it_will_go_out(edition, embed=True)
        embedded = embedded if compose.CID_RE.search(embedded.html) else None
    as_sent = size(rendered)
    return {
        "as_sent": as_sent,
        "without_images": size(plain),
        "with_images": size(embedded) if embedded is not None else None,
        "embedding": get_setting("embed_images"),
        "clip_kb": GMAIL_CLIP_BYTES // 1024,
    }


@bp.route("/upcoming/preview")
@curator_required
def preview_upcoming():
    services.open_upcoming()
    db.session.commit()
    return _preview(open_editions()[0].id)


@bp.route("/upcoming/<int:edition_id>/preview")
@curator_required
def preview(edition_id: int):
    return _preview(edition_id)


def _preview(edition_id: int):
    edition = load_edition(edition_id)
    rendered, _html, text, web_html = _personalized(edition)
    counts = edition_counts(edition)
    threshold = get_setting("teaser_threshold")
    return render_template(
        "editions/preview.html",
        edition=edition,
        subject=rendered.subject,
        sizes=_message_sizes(edition, rendered),
        teaser_threshold=threshold,
        teasers=compose.uses_teasers(counts.stories, threshold),
        text=text,
        web_html=Markup(web_html),  # noqa: S704 - our templates around sanitized content
        counts=counts,
        is_open=edition.status in OPEN_STATUSES,
        test_form=ActionForm(data={"version": edition.version}),
    )


@bp.route("/upcoming/<int:edition_id>/preview/email")
@curator_required
def preview_email(edition_id: int) -> Response:
    """The HTML email alone, for the preview's sandboxed frame, under its own strict policy."""
    _rendered, html, _text, _web = _personalized(load_edition(edition_id))
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = email_frame_csp()
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/upcoming/<int:edition_id>/test")
@curator_required
def send_test(edition_id: int) -> Response:
    edition = load_edition(edition_id)
    me = _me()
    back = url_for("editions.preview", edition_id=edition_id)
    errors_redirect_to(back)
    _version()
    result = services.send_test(edition, me)
    db.session.commit()
    if getattr(result, "ok", True):
        flash(f"Test sent to {me.email}. It has “[TEST]” in the subject.", "success")
    else:
        flash(f"The test could not be sent to {me.email}: "
              f"{getattr(result, 'error', None) or 'the mail server refused it'}.", "error")
    return redirect(back)
