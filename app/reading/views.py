"""Reading pages: story permalinks, people, teams, tags, touchpoints, search, and applause."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import click
from flask import abort
from flask import current_app
from flask import get_template_attribute
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from app.auth.access import login_required
from app.comments import queries as comment_queries
from app.comments import services as comment_services
from app.comments.forms import CommentForm
from app.extensions import db
from app.reading import bp
from app.reading import cache
from app.reading import queries
from app.reading import search
from app.reading import services
from app.reading.forms import SearchForm
from app.reading.pagination import Page
from app.web.context import org_timezone
from app.web.nav import nav_entry
from app.web.security import is_safe_redirect

READING_PAGES = ("reading.story", "reading.team", "reading.tag", "reading.touchpoint")
nav_entry("Stories", "reading.search", order=30, also_active=READING_PAGES)
nav_entry("Your page", "reading.me", menu="user", order=5, also_active=("reading.person",))


# --------------------------------------------------------------------------- template helpers


def _url_if(endpoint: str, **values: Any) -> str | None:
    """A link to another feature's page, or None while that feature is not installed."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


@bp.app_template_global()
def share_story_url() -> str | None:
    return _url_if("submissions.new_story")


@bp.app_template_global()
def edition_url(number: int) -> str | None:
    return _url_if("newsletter.edition", number=number)


@bp.app_template_global()
def archive_url() -> str | None:
    return _url_if("newsletter.archive") or _url_if("newsletter.editions")


@bp.app_template_global()
def cover_url(name: str | None) -> str | None:
    return _url_if("submissions.upload", name=name) if name else None


def local_timezone() -> tzinfo:
    """The organization's time zone (an admin setting), remembered like page content."""
    return cache.remember(("org-timezone",), org_timezone)


def render_macro(template: str, name: str, *args: Any) -> Markup:
    """A template macro's output, to keep or insert as is (Jinja escaped it already)."""
    return Markup(get_template_attribute(template, name)(*args))  # noqa: S704


@bp.app_template_global()
def card_html(card: queries.StoryCard, tz: tzinfo, heading_level: int = 3) -> Markup:
    """The story card for `card`, rendered once per card object.

    Rendering a card through the shared macros costs far more than the queries behind it. The
    cards a page shows live in the reading cache (`cache.remember`) with the rest of its data,
    one copy per content version, so keeping the HTML on the card renders it once per version
    and can never show a stale card; no separate cache to size or key.
    """
    key = (str(tz), heading_level, request.script_root)
    html = card.rendered.get(key)
    if html is None:
        html = render_macro("reading/_cards.html", "story_card", card, tz, heading_level)
        card.rendered[key] = html
    return html


def pager_urls(page: Page, param: str = "cursor") -> tuple[str | None, str | None]:
    """Newer/older links for `page`, keeping every other query argument of this request."""
    args = {k: v for k, v in request.args.items(multi=False) if k != param}
    values = {**(request.view_args or {}), **args}

    def link(cursor: str | None) -> str | None:
        return url_for(request.endpoint, **values, **{param: cursor}) if cursor else None

    return link(page.prev_cursor), link(page.next_cursor)


# --------------------------------------------------------------------------- pages


@bp.route("/stories/<int:story_id>")
@login_required
def story(story_id: int):
    return story_page(story_id)


def story_page(story_id: int, comment_form: CommentForm | None = None):
    """The story's page; the comments feature renders it too, to show a refused comment on its
    form with what was typed."""
    detail = cache.remember(("story", story_id), lambda: queries.story_detail(story_id))
    if detail is None:
        status = queries.story_status(story_id)
        may_see_draft = status is not None and (
            current_user.id == status.author_id or current_user.is_editor
        )
        target = _url_if("submissions.my_story", story_id=story_id) if may_see_draft else None
        if target is None:
            abort(404)
        return redirect(target)
    viewer = current_user._get_current_object()
    story_author_id = detail.story.author_id
    everything = request.args.get("comments") == "all"
    return render_template(
        "reading/story.html",
        detail=detail,
        story=detail.story,
        applauded=queries.has_applauded(story_id, current_user.id),
        # Every signed-in colleague sees who applauded (the page needs a sign-in).
        applauders=cache.remember(
            ("applauders", story_id), lambda: comment_queries.applauders(story_id)
        )
        if detail.applause
        else [],
        # Cached like the story: posting or removing a comment changes the content version.
        thread=cache.remember(
            ("comments", story_id, everything),
            lambda: comment_queries.story_comments(story_id, everything=everything),
        ),
        comment_form=comment_form or CommentForm(),
        may_remove=lambda c: comment_services.may_remove(viewer, c.author_id, story_author_id),
        tz=local_timezone(),
    )


@bp.route("/stories/<int:story_id>/applause", methods=["POST"])
@login_required
def applause(story_id: int):
    """Applaud or take it back; JSON for app.js `fgf.postJSON`, otherwise back to the page."""
    data = request.get_json(silent=True) if request.is_json else request.form
    wanted = (data or {}).get("applaud")
    applaud = None if wanted in (None, "") else wanted in (True, "1", "true", "on")
    state = services.set_applause(story_id, current_user._get_current_object(), applaud)
    db.session.commit()
    if request.accept_mimetypes.best == "application/json":
        return jsonify(applauded=state.applauded, count=state.count)
    target = request.form.get("next")
    if not is_safe_redirect(target):
        target = url_for("reading.story", story_id=story_id)
    return redirect(f"{target}#applause" if "#" not in target else target, code=303)


@bp.route("/people/me")
@login_required
def me() -> Response:
    return redirect(url_for("reading.person", user_id=current_user.id))


def _profile_or_404(
    key: tuple[Any, ...], profile: Callable[[], Any], lists: Callable[[], tuple[Any, ...]]
) -> tuple[Any, ...]:
    """A profile and its lists, cached as one; an unknown id is a 404 (and its lists unread)."""

    def load() -> tuple[Any, ...] | None:
        found = profile()
        return None if found is None else (found, *lists())

    found = cache.remember(key, load)
    if found is None:
        abort(404)
    return found


@bp.route("/people/<int:user_id>")
@login_required
def person(user_id: int):
    recognized_at, shared_at = request.args.get("recognized"), request.args.get("shared")
    profile, recognized, shared, active = _profile_or_404(
        ("person", user_id, recognized_at, shared_at),
        lambda: queries.person_profile(user_id),
        lambda: (
            queries.stories_recognizing(user_id, recognized_at),
            queries.stories_shared_by(user_id, shared_at),
            comment_queries.is_active_person(user_id),
        ),
    )
    is_me = user_id == current_user.id
    return render_template(
        "reading/person.html",
        profile=profile,
        is_me=is_me,
        # A new story with this person already credited (not yourself, nor a former colleague).
        recognize_url=None
        if is_me or not active
        else _url_if("submissions.new_story", colleague=user_id),
        recognized=recognized,
        recognized_pager=pager_urls(recognized, "recognized"),
        shared=shared,
        shared_pager=pager_urls(shared, "shared"),
        tz=local_timezone(),
    )


@bp.route("/teams/<int:team_id>")
@login_required
def team(team_id: int):
    cursor = request.args.get("cursor")
    profile, people, stories = _profile_or_404(
        ("team", team_id, cursor),
        lambda: queries.team_profile(team_id),
        lambda: (queries.team_recognized_people(team_id), queries.team_stories(team_id, cursor)),
    )
    return render_template(
        "reading/team.html",
        profile=profile,
        people=people,
        stories=stories,
        pager=pager_urls(stories),
        tz=local_timezone(),
    )


def _topic_page(kind: str, topic: queries.Topic | None):
    if topic is None:
        abort(404)
    return render_template(
        "reading/topic.html",
        kind=kind,
        title=topic.title,
        filter_args={kind: topic.id},
        stories=topic.stories,
        pager=pager_urls(topic.stories),
        tz=local_timezone(),
    )


@bp.route("/tags/<name>")
@login_required
def tag(name: str):
    cursor = request.args.get("cursor")
    key = ("tag", name.strip().lower(), cursor)
    return _topic_page("tag", cache.remember(key, lambda: queries.tag_topic(name, cursor)))


@bp.route("/touchpoints/<slug>")
@login_required
def touchpoint(slug: str):
    cursor = request.args.get("cursor")
    found = cache.remember(
        ("touchpoint", slug, cursor), lambda: queries.touchpoint_topic(slug, cursor)
    )
    return _topic_page("touchpoint", found)


@bp.route("/search", endpoint="search")
@login_required
def search_page():
    """Search (words given) or browse everything published (no words), with filters.

    The form and the results are each rendered once per distinct query string and content
    version (`cache.remember`): popular searches and the browse pages cost no queries.
    """
    form = SearchForm(request.args)
    form.set_choices(cache.remember(("filter_options",), queries.filter_options))
    form.validate()
    tz = local_timezone()
    query = (form.q.data or "").strip()
    cursor = request.args.get("cursor")

    def render_results() -> Markup:
        results = queries.search_results(form.q.data, form.filters(tz), cursor)
        html = render_template(
            "reading/_search_results.html",
            form=form,
            query=query,
            results=results,
            pager=pager_urls(results),
            tz=tz,
        )
        return Markup(html)  # noqa: S704 - rendered by Jinja

    args = tuple(sorted(request.args.items(multi=True)))
    place = (str(tz), request.script_root)
    results_html = cache.remember(("search-results", args, place), render_results)
    if request.headers.get("X-Requested-With") == "fetch":  # results as you type (reading.js)
        return results_html
    without_cursor = tuple(item for item in args if item[0] != "cursor")
    form_html = cache.remember(
        ("search-form", without_cursor, request.script_root),
        lambda: render_macro("reading/_search_form.html", "search_form", form, query),
    )
    return render_template(
        "reading/search.html", form_html=form_html, results_html=results_html, query=query
    )


# --------------------------------------------------------------------------- command line


@bp.cli.command("reindex")
def reindex_command() -> None:
    """Rebuild the search index from the published stories and quotes (`flask reading reindex`).

    Needed only after data was loaded behind the ORM's back (bulk SQL, a restore).
    """
    count = search.rebuild()
    db.session.commit()
    click.echo(f"Indexed {count} published stories and quotes.")
