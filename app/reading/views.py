"""Reading pages: story permalinks, people, teams, tags, touchpoints, search, and applause."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import tzinfo
from typing import Any

import click
from flask import (
    abort,
    current_app,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from app.auth.access import login_required
from app.extensions import db
from app.reading import bp, cache, queries, search, services
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


def share_story_url() -> str | None:
    return _url_if("submissions.new_story")


def edition_url(number: int) -> str | None:
    return _url_if("newsletter.edition", number=number)


def archive_url() -> str | None:
    return _url_if("newsletter.archive") or _url_if("newsletter.editions")


def cover_url(name: str | None) -> str | None:
    return _url_if("submissions.upload", name=name) if name else None


class _RenderedCards:
    """Story cards rendered once per distinct content, then reused (bounded, least recent out).

    Cards are most of the HTML of every list page and rendering one through the shared macros
    costs far more than the queries behind it. The key is everything the card shows, so a
    cached card can never be stale: a changed title, a new applause or a renamed colleague is a
    different key. 8,192 cards of about 2.5 KB: at most some 20 MB per process.
    """

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Markup] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Markup | None:
        with self._lock:
            html = self._items.get(key)
            if html is not None:
                self._items.move_to_end(key)
            return html

    def put(self, key: tuple[Any, ...], html: Markup) -> None:
        with self._lock:
            self._items[key] = html
            if len(self._items) > self.size:
                self._items.popitem(last=False)


_rendered_cards = _RenderedCards()


def local_timezone() -> tzinfo:
    """The organization's time zone (an admin setting), remembered like page content."""
    return cache.remember(("org-timezone",), org_timezone)


def render_macro(template: str, name: str, *args: Any) -> Markup:
    """A template macro's output, to keep or insert as is (Jinja escaped it already)."""
    return Markup(get_template_attribute(template, name)(*args))  # noqa: S704


def card_html(card: queries.StoryCard, tz: tzinfo, heading_level: int = 3) -> Markup:
    """The story card for `card` (see `_RenderedCards`)."""
    key = (card.content_key(), str(tz), heading_level, request.script_root)
    html = _rendered_cards.get(key)
    if html is None:
        html = render_macro("reading/_cards.html", "story_card", card, tz, heading_level)
        _rendered_cards.put(key, html)
    return html


@bp.record_once
def _register_helpers(state) -> None:
    state.app.jinja_env.globals.update(
        share_story_url=share_story_url,
        edition_url=edition_url,
        archive_url=archive_url,
        cover_url=cover_url,
        card_html=card_html,
    )


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
    return render_template(
        "reading/story.html",
        detail=detail,
        story=detail.story,
        applauded=queries.has_applauded(story_id, current_user.id),
        show_applauders=detail.may_see_applauders(current_user.id),
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


@bp.route("/people/<int:user_id>")
@login_required
def person(user_id: int):
    recognized_at, shared_at = request.args.get("recognized"), request.args.get("shared")

    def load():
        profile = queries.person_profile(user_id)
        if profile is None:
            return None
        return (
            profile,
            queries.stories_recognizing(user_id, recognized_at),
            queries.stories_shared_by(user_id, shared_at),
        )

    found = cache.remember(("person", user_id, recognized_at, shared_at), load)
    if found is None:
        abort(404)
    profile, recognized, shared = found
    return render_template(
        "reading/person.html",
        profile=profile,
        is_me=user_id == current_user.id,
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

    def load():
        profile = queries.team_profile(team_id)
        if profile is None:
            return None
        people = queries.team_recognized_people(team_id)
        return profile, people, queries.team_stories(team_id, cursor)

    found = cache.remember(("team", team_id, cursor), load)
    if found is None:
        abort(404)
    profile, people, stories = found
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
