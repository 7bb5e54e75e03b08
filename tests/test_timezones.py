"""Time zone fields: only IANA zones are accepted (the profile and the admin settings alike),
typed names are stored with their canonical spelling, refused ones are re-shown with a clear
message and everything else the person typed, and the pages offer the searchable list."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.errors import ValidationError
from app.extensions import db
from app.models import Setting
from app.models import User
from app.settings import get_settings
from app.timezones import canonical_zone
from app.timezones import zone_names

# ZoneInfo() loads every one of these (files in the system's zoneinfo directory); none is a zone
# a person or an organization can be in.
NOT_IANA = ["localtime", "posixrules", "Factory", "posix/Europe/Paris", "right/UTC"]


def _profile(user: User, **changes) -> dict:
    data = {"display_name": user.display_name, "team": 0, "timezone": "", "weekly_email": "y"}
    data.update(changes)
    return data


SETTINGS = {
    "timezone": "Europe/Paris",
    "send_weekday": "4",
    "send_time": "09:30",
    "reminder_hours_before": "24",
    "missed_run_grace_hours": "6",
    "empty_edition_policy": "skip",
    "nudge_weekday": "2",
    "nudge_time": "10:00",
    "sender": "Feel Good Fridays <fgf@company.example>",
    "extra_recipients": "board@example.com",
}


def test_canonical_zone():
    assert canonical_zone(" europe/paris ") == "Europe/Paris"
    assert canonical_zone("america/new york") == "America/New_York"
    assert canonical_zone("UTC") == "UTC"
    assert canonical_zone("") is None and canonical_zone(None) is None
    for value in [*NOT_IANA, "Moon/Base", "../../etc/passwd", "Europe/Paris\x00"]:
        with pytest.raises(ValidationError, match="is not a known time zone"):
            canonical_zone(value)
    names = zone_names()
    assert "Europe/Paris" in names and "UTC" in names and list(names) == sorted(names)
    assert not set(NOT_IANA) & set(names)


@pytest.mark.parametrize("zone", NOT_IANA)
def test_profile_refuses_what_is_not_an_iana_zone(employee_client, employee, zone):
    response = employee_client.post(
        "/account/", data=_profile(employee, display_name="Erin Rivers", timezone=zone)
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"&#39;{zone}&#39; is not a known time zone; pick one from the list" in page
    assert 'value="Erin Rivers"' in page and f'value="{zone}"' in page  # everything kept
    assert 'aria-invalid="true"' in page
    db.session.expire_all()
    assert (employee.display_name, employee.timezone) == ("Erin Employee", None)


def test_profile_saves_a_zone_with_its_canonical_spelling(employee_client, employee):
    response = employee_client.post("/account/", data=_profile(employee, timezone="asia/tokyo"))
    assert response.status_code == 302
    db.session.expire_all()
    assert employee.timezone == "Asia/Tokyo"
    page = employee_client.get("/account/").get_data(as_text=True)
    assert 'value="Asia/Tokyo"' in page


@pytest.mark.parametrize("zone", ["posix/Europe/Paris", "localtime", "Nowhere/Land"])
def test_settings_refuse_what_is_not_an_iana_zone(admin_client, zone):
    response = admin_client.post(
        "/admin/settings", data={**SETTINGS, "timezone": zone, "send_time": "17:45"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"&#39;{zone}&#39; is not a known time zone" in page
    assert f'value="{zone}"' in page and 'value="17:45"' in page  # the other input is kept
    assert "board@example.com</textarea>" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Setting)) == 0


def test_settings_save_a_zone_with_its_canonical_spelling(admin_client):
    response = admin_client.post(
        "/admin/settings", data={**SETTINGS, "timezone": " america/new york "}
    )
    assert response.status_code == 302
    assert get_settings("timezone")["timezone"] == "America/New_York"


def _timezone_input(page: str) -> str:
    match = re.search(r'<input[^>]*name="timezone"[^>]*>', page)
    assert match, "no time zone field"
    return match.group(0)


def test_pages_offer_the_searchable_list(employee_client, admin_client):
    for client, url in ((employee_client, "/account/"), (admin_client, "/admin/settings")):
        page = client.get(url).get_data(as_text=True)
        field = _timezone_input(page)
        assert 'list="timezone-names"' in field and "data-timezone-picker" in field
        assert 'autocomplete="off"' in field
        options = re.findall(r'<option value="([^"]+)">', page.split('id="timezone-names"')[1])
        assert "Europe/Paris" in options and "localtime" not in options
        assert "js/timezone.js" in page and "css/timezone.css" in page


def test_only_a_never_chosen_zone_is_suggested_from_the_browser(employee_client, employee,
                                                                 admin_client):
    # Never chosen: the page asks the script to preselect this device's zone, and says which
    # zone an empty field means.
    field = _timezone_input(employee_client.get("/account/").get_data(as_text=True))
    assert "data-timezone-suggest" in field and 'data-org-zone="UTC"' in field

    # Back with an error: the person's own (empty) choice is shown as it was, no suggestion.
    page = employee_client.post("/account/", data=_profile(employee, display_name=" ")).get_data(
        as_text=True)
    assert "data-timezone-suggest" not in _timezone_input(page)

    # A chosen zone is never replaced.
    employee.timezone = "Europe/Lisbon"
    db.session.commit()
    field = _timezone_input(employee_client.get("/account/").get_data(as_text=True))
    assert "data-timezone-suggest" not in field and 'value="Europe/Lisbon"' in field

    # The organization's zone (what an empty field means) follows the admin setting.
    admin_client.post("/admin/settings", data=SETTINGS)
    employee.timezone = None
    db.session.commit()
    field = _timezone_input(employee_client.get("/account/").get_data(as_text=True))
    assert 'data-org-zone="Europe/Paris"' in field


@pytest.mark.parametrize("name", ["localtime", "posix/Europe/Paris", "right/UTC", "Factory"])
def test_settings_store_only_iana_zone_names_whoever_saves_them(app, name):
    """Not only the admin form: `set_settings` (CLI, API, imports) refuses zone files that are
    not IANA names, which ZoneInfo alone would open."""
    from app.settings import get_setting
    from app.settings import set_settings

    before = get_setting("timezone")
    with pytest.raises(ValidationError):
        set_settings({"timezone": name}, actor=None)
    assert get_setting("timezone") == before
    set_settings({"timezone": "europe/paris"}, actor=None)
    assert get_setting("timezone") == "Europe/Paris"
