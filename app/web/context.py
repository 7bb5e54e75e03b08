"""Values every template can use: navigation for the current user, time formatting helpers."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask import current_app
from flask import g
from flask import has_request_context
from flask import request
from flask import url_for
from flask_login import current_user

from app.richtext import excerpt
from app.settings import page_settings
from app.titles import item_title
from app.web.avatars import avatar_for
from app.web.nav import NavItem
from app.web.nav import entries


def _nav_items(menu: str) -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    endpoint = request.endpoint or ""
    items = []
    for entry in entries(menu):
        if current_user.role not in entry.roles or entry.endpoint not in current_app.view_functions:
            continue
        badge = entry.badge(current_user) if entry.badge else None
        active = endpoint == entry.endpoint or endpoint in entry.also_active
        items.append(NavItem(entry.label, url_for(entry.endpoint), active, badge or None))
    return items


def org_timezone() -> ZoneInfo:
    """The organization's timezone (admin setting, else TIMEZONE), read once per request."""
    zone = g.get("_org_timezone")
    if zone is None:
        zone = g._org_timezone = ZoneInfo(page_settings()["timezone"])
    return zone


def local_time(value: datetime | None) -> datetime | None:
    """A stored UTC time in the organization's timezone, for display."""
    if value is None or not isinstance(value, datetime):
        return value
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(org_timezone())


def format_datetime(
    value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M", tz: str | None = None
) -> str:
    if value is None:
        return ""
    zone = ZoneInfo(tz) if tz else org_timezone()
    return value.astimezone(zone).strftime(fmt)


def init_template_context(app: Flask) -> None:
    @app.context_processor
    def navigation() -> dict:
        if not has_request_context():  # emails rendered by the scheduler or CLI
            return {"nav_items": [], "user_menu_items": []}
        try:
            main, user = _nav_items("main"), _nav_items("user")
        except Exception:  # an error page must render even when the database is the problem
            current_app.logger.exception("navigation unavailable")
            main, user = [], []
        return {"nav_items": main, "user_menu_items": user, "home_url": url_for("main.home")}

    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["excerpt"] = excerpt
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.globals["app_name"] = "Feel Good Fridays"
    app.jinja_env.globals["item_title"] = item_title
    app.jinja_env.globals["avatar_for"] = avatar_for
