"""Hostile input never causes a 500 (issue 10): numbers beyond the columns, control and bidi
characters, state changes on GET, oversized uploads.

The route walks read `app.url_map`, so a route added later is covered without editing this file.
Errors are not propagated here (`PROPAGATE_TEST_ERRORS=False`): a crash shows up as a 500
status in the failure list, with every other failing URL next to it.
"""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET  # noqa: N817

import pytest
import sqlalchemy as sa
from flask import url_for
from werkzeug.datastructures import FileStorage
from werkzeug.routing import Rule
from werkzeug.test import encode_multipart

from app.auth import services as auth
from app.extensions import db
from app.models import EditionStatus
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import Team
from app.models import User
from app.numbers import INT_MAX
from app.numbers import bounded_int
from app.numbers import optional_int
from app.numbers import positive_int
from app.text import clean_text
from app.text import xml_safe
from app.web.converters import BoundedIntConverter
from app.web.converters import at_most_regex
from tests.fixtures.users import login
from tests.test_submissions import Page
from tests.test_submissions import quote_form
from tests.test_submissions import story_form

# Beyond PostgreSQL's 32-bit INTEGER, beyond SQLite's 64 bits, far beyond both, and negative.
HUGE = [2**31, 2**63, 10**20, -1]
NO_CRASH = pytest.mark.app_config(PROPAGATE_TEST_ERRORS=False)


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


# Well-formed cursors (reading keyset, search relevance, admin lists) with an id no column holds.
FORGED_CURSORS = [
    _cursor([["2024-01-01T00:00:00+00:00", 2**63], 0]),
    _cursor([[0.5, 2**63], 0]),
    _cursor(["after", ["someone", 2**63]]),
    _cursor(["after", ["2024-01-01T00:00:00+00:00", 10**20]]),
]
# Every integer-looking query parameter the views read (grep request.args and the GET forms).
INT_PARAMS = ["page", "object_id", "team", "touchpoint", "tag", "story", "nps_score"]


def _int_arguments(rule: Rule) -> list[str]:
    return [n for n in rule.arguments if isinstance(rule._converters[n], BoundedIntConverter)]


def _url(app, rule: Rule, value: int | str = "x") -> str:
    ints = _int_arguments(rule)
    values = {n: (value if n in ints else "x") for n in rule.arguments}
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


@pytest.fixture
def admin_browser(app, admin):
    return login(app.test_client(), admin)


# -- numbers -------------------------------------------------------------------------------------


def test_bounded_int_refuses_what_no_column_holds():
    assert bounded_int("42") == 42 and bounded_int(" -7 ") == -7 and bounded_int(INT_MAX) == INT_MAX
    for bad in ["2147483648", str(2**63), "1e3", "1_000", "", "٣", None, True, 2**31, "x" * 5000]:
        with pytest.raises(ValueError):
            bounded_int(bad)
    with pytest.raises(ValueError):
        positive_int("0")
    assert optional_int("") is None and optional_int("5") == 5


def test_int_converter_pattern_stops_at_the_column_maximum(app):
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/stories/2147483647")[1] == {"story_id": 2147483647}
    assert adapter.match("/stories/0002147483647")[1] == {"story_id": 2147483647}
    import re

    pattern = re.compile(at_most_regex(INT_MAX))
    for n in (0, 9, 10, 999_999_999, 2_000_000_000, 2_147_483_639, 2_147_483_647):
        assert pattern.fullmatch(str(n)), n
    for n in (2_147_483_648, 2_147_483_650, 2_200_000_000, 9_999_999_999, 2**63):
        assert not pattern.fullmatch(str(n)), n


def test_the_walk_finds_the_integer_routes(app):
    assert len([r for r in app.url_map.iter_rules() if _int_arguments(r)]) >= 21


@NO_CRASH
@pytest.mark.parametrize("value", HUGE, ids=str)
def test_integer_path_arguments_beyond_the_column_are_404(app, admin, admin_browser, value):
    failures = []
    for rule in app.url_map.iter_rules():
        if not _int_arguments(rule):
            continue
        url = _url(app, rule, value)
        for method in sorted(rule.methods & {"GET", "POST"}):
            login(admin_browser, admin)  # again each time: a route may end the session
            status = admin_browser.open(url, method=method).status_code
            if status != 404:
                failures.append(f"{method} {url}: {status}")
    assert failures == []


@pytest.mark.slow  # every GET page with every huge number (a corpus of its own)
@NO_CRASH
def test_huge_numbers_in_query_strings_never_crash_a_page(app, admin, admin_browser, make_team):
    team = make_team("Harbour")
    admin.team = team
    db.session.commit()
    urls = [
        _url(app, rule)
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "static" and not _int_arguments(rule)
    ]
    urls += [f"/people/{admin.id}", f"/teams/{team.id}"]  # pages with their own cursors
    tries = [(p, str(v)) for p in INT_PARAMS for v in HUGE]
    tries += [(p, c) for p in ("cursor", "recognized", "shared") for c in FORGED_CURSORS]
    failures = []
    for url in urls:
        for param, value in tries:
            login(admin_browser, admin)
            query = {param: value, "q": "help"} if param == "cursor" else {param: value}
            status = admin_browser.get(url, query_string=query).status_code
            if status >= 500:
                failures.append(f"GET {url}?{param}={value}: {status}")
    assert failures == []


@NO_CRASH
def test_audit_log_object_id_beyond_the_column_is_a_field_error(admin_browser):
    response = admin_browser.get("/admin/audit", query_string={"object_id": str(2**63)})
    assert response.status_code == 200
    assert "too large" in response.get_data(as_text=True)


@NO_CRASH
@pytest.mark.parametrize("field", ["team", "touchpoint"])
@pytest.mark.parametrize("value", [2**31, 2**63], ids=str)
def test_story_form_with_a_huge_select_value_keeps_the_text(employee_client, field, value):
    data = story_form(title="Typed with care", **{field: str(value)})
    response = employee_client.post("/stories/new", data=data)
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "There’s a problem" in page.text
    assert page.value("title") == "Typed with care"
    assert page.value("body") == data["body"]
    assert db.session.scalar(sa.select(sa.func.count(Story.id))) == 0


@NO_CRASH
@pytest.mark.parametrize("field", ["story_id", "nps_score"])
def test_quote_form_with_a_huge_select_value_keeps_the_text(employee_client, field):
    data = quote_form(text="They called back to say thanks.", **{field: str(2**63)})
    response = employee_client.post("/quotes/new", data=data)
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "There’s a problem" in page.text
    assert page.value("text") == "They called back to say thanks."


@NO_CRASH
def test_admin_and_account_forms_with_huge_values_show_an_error(
    app, admin, admin_browser, employee, employee_client
):
    response = admin_browser.post("/admin/users/invite", data={
        "email": "new@example.com", "display_name": "Nia New", "role": "employee",
        "team": str(2**63),
    })
    assert response.status_code == 200
    assert 'value="Nia New"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User).where(User.email == "new@example.com")) is None

    response = admin_browser.post(f"/admin/users/{employee.id}",
                                  data={"role": "employee", "team": str(2**31)})
    assert response.status_code == 200

    response = employee_client.post("/account/", data={
        "display_name": "Erin Rivers", "team": str(10**20), "timezone": "",
        "weekly_email": "y",
    })
    assert response.status_code == 200
    assert 'value="Erin Rivers"' in response.get_data(as_text=True)
    assert db.session.get(User, employee.id).display_name == "Erin Employee"

    response = admin_browser.get("/admin/settings")
    assert response.status_code == 200
    settings = Page(response.get_data(as_text=True))
    names = ["timezone", "send_weekday", "send_time", "empty_edition_policy", "nudge_weekday",
             "nudge_time", "sender", "extra_recipients", "missed_run_grace_hours"]
    data = {name: settings.value(name) or "" for name in names}
    data.update(empty_edition_policy="skip", reminder_hours_before=str(2**63))
    response = admin_browser.post("/admin/settings", data=data)
    assert response.status_code == 200
    assert "too large" in response.get_data(as_text=True)


@NO_CRASH
def test_huge_ids_inside_post_bodies(app, editor, make_story, make_edition):
    client = login(app.test_client(), editor)
    story = make_story(status=SubmissionStatus.SUBMITTED)
    edition = make_edition(status=EditionStatus.DRAFT)
    db.session.commit()
    huge = str(2**63)
    posts = [
        ("/review/bulk-approve", {"items": f"story:{huge}:1"}),
        ("/review/bulk-approve", {"items": f"story:{story.id}:{huge}"}),
        ("/review/bulk-approve", {"items": f"story:{story.id}:1", "edition": huge}),
        (f"/review/story/{story.id}/approve", {"version": huge}),
        (f"/review/story/{story.id}/approve", {"version": "1", "edition": huge}),
        (f"/editions/upcoming/{edition.id}/add", {"item": f"story:{huge}", "version": "1"}),
        (f"/editions/upcoming/{edition.id}/reorder", {"order": huge, "version": "1"}),
        (f"/editions/upcoming/{edition.id}/content", {"subject": "x", "version": huge}),
        (f"/stories/{story.id}/edit", story_form(version=huge)),
    ]
    failures = []
    for url, data in posts:
        login(client, editor)
        status = client.post(url, data=data).status_code
        if status >= 500:
            failures.append(f"POST {url} {data}: {status}")
    assert failures == []


# -- text ----------------------------------------------------------------------------------------

SNEAKY = "\x1b[31mMal\x07lory\u202e\u2066 \u200bAdmin\x7f\x85\x9b\ufffe"


def test_clean_text_rules():
    assert clean_text(" a\tb \r\n c  d ") == "a b c d"
    assert clean_text("e\u0301") == "\u00e9"  # NFC
    assert clean_text("\uf900") == "\uf900"  # a CJK compatibility ideograph stays as typed
    assert clean_text("100\u00a0%") == "100\u00a0%"  # typography kept in one-line fields
    assert clean_text(SNEAKY) == "[31mMallory\u202e\u2066 \u200bAdmin"
    assert clean_text(SNEAKY, name=True) == "[31mMallory Admin"
    assert clean_text("a\u200db", name=True) == "a\u200db"  # ZWJ: emoji and scripts need it
    assert clean_text("  x\r\n\n  y\x85z \n", multiline=True) == "  x\n\n  y\nz"
    assert clean_text("\ud83d!") == "\ufffd!"
    assert xml_safe("a\x1b\x07b\ufffe\ud800") == "ab"


@pytest.mark.parametrize("typed", ["Mal\x07lory\x1b", "Mal\u202elory", "Mal\u200blory\ufeff",
                                   "  Mal\u00a0lory  ", "Mal\x85lory"])
def test_display_name_on_the_profile_is_cleaned(employee_client, employee, typed):
    response = employee_client.post("/account/", data={
        "display_name": typed, "team": "", "timezone": "", "weekly_email": "y",
    })
    assert response.status_code == 302
    assert db.session.get(User, employee.id).display_name in ("Mallory", "Mal lory")


def test_names_from_admin_and_cli_are_cleaned(app, admin_browser, outbox):
    admin_browser.post("/admin/users/invite", data={
        "email": "inv@example.com", "display_name": "In\u202eVited\x07", "role": "employee",
    })
    assert db.session.scalar(sa.select(User.display_name).where(User.email == "inv@example.com")) \
        == "InVited"
    admin_browser.post("/admin/teams", data={"name": "Re\u0301tail\u2067 \x1bStores"})
    assert db.session.scalars(sa.select(Team.name)).all() == ["Rétail Stores"]
    admin_browser.post("/admin/touchpoints", data={"label": "Phone\u202d\x08 line"})
    labels = db.session.scalars(sa.text("SELECT label FROM touchpoints")).all()
    assert "Phone line" in labels

    result = app.test_cli_runner().invoke(
        args=["users", "create", "cli@example.com", "--name", "Cli\x1b[0m\u202e User",
              "--team", "Ops\x07 ", "--password-stdin"],
        input="a long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.email == "cli@example.com"))
    assert (user.display_name, user.team.name) == ("Cli[0m User", "Ops")


def test_story_text_and_colleague_names_lose_control_characters(employee_client, employee):
    response = employee_client.post("/stories/new", data=story_form(
        title="Bell\x07 and \x9bescape", colleague_names="Ann\u202e Lee\nBo\u200b", tags="",
    ))
    assert response.status_code == 302
    story = db.session.scalars(sa.select(Story)).one()
    assert story.title == "Bell and escape"
    assert [r.name for r in story.recognitions] == ["Ann Lee", "Bo"]


def test_atom_feed_stays_well_formed_whatever_is_stored(
    app, employee_client, make_user, make_story, make_edition
):
    # Written directly, as old rows (or anything bypassing app.text) could be.
    author = make_user(display_name="Eve\x1b[5m\x07\x0b Evil\ufffe")
    story = make_story(author, status=SubmissionStatus.PUBLISHED, title="Ding\x07\x1b dong",
                       names=["Col\x0cleague"])
    make_edition(status=EditionStatus.SENT, items=[story], subject="Week\x1b\x08 one")
    db.session.commit()
    response = employee_client.get("/editions.atom")
    assert response.status_code == 200
    root = ET.fromstring(response.data)  # raises on a feed that is not well-formed XML
    entry_title = root.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}title")
    assert "Week" in entry_title.text and "\x1b" not in entry_title.text


# -- invitations ---------------------------------------------------------------------------------


def _signed_in_as(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def test_invitation_link_changes_the_session_only_on_a_valid_post(
    app, employee, employee_client, make_user
):
    invitee = make_user(Role.EMPLOYEE, email="invitee@example.com", password=None)
    db.session.commit()
    token = auth.make_token(invitee, auth.INVITE)

    assert employee_client.get("/invite/garbage").status_code == 400
    assert _signed_in_as(employee_client) == employee.get_id()
    assert employee_client.post("/invite/garbage", data={}).status_code == 400
    assert _signed_in_as(employee_client) == employee.get_id()

    page = employee_client.get(f"/invite/{token}")
    assert page.status_code == 200
    assert "signs you in as invitee@example.com instead" in page.get_data(as_text=True)
    assert _signed_in_as(employee_client) == employee.get_id()
    assert employee_client.get("/account/").status_code == 200

    # A POST that fails validation changes nothing either.
    employee_client.post(f"/invite/{token}", data={"password": "short", "confirm": "short"})
    assert _signed_in_as(employee_client) == employee.get_id()

    password = "a long enough passphrase"
    response = employee_client.post(f"/invite/{token}",
                                    data={"password": password, "confirm": password})
    assert response.status_code == 302
    db.session.expire_all()
    assert _signed_in_as(employee_client) == db.session.get(User, invitee.id).get_id()


# -- uploads -------------------------------------------------------------------------------------


def _multipart(data: dict) -> tuple[bytes, str]:
    # Encoded up front: the test client would spool a big body to a temporary file it never
    # closes (a ResourceWarning, an error in this suite).
    boundary, body = encode_multipart(data)
    return body, f"multipart/form-data; boundary={boundary}"


def test_too_large_picture_is_413_with_the_form_and_text_kept(employee_client):
    picture = FileStorage(io.BytesIO(b"\xff\xd8\xff" + b"\x00" * (7 * 1024 * 1024)),
                          filename="holiday.jpg")
    fields = story_form(title="The day the lights went out", cover_image_alt="Our team")
    body, content_type = _multipart({**fields, "cover_image": picture})
    response = employee_client.post("/stories/new", data=body, content_type=content_type)
    assert response.status_code == 413
    page = Page(response.get_data(as_text=True))
    assert page.value("title") == "The day the lights went out"
    assert page.value("body") == fields["body"]
    assert page.value("cover_image_alt") == "Our team"
    assert "The picture is 7 MB; the limit is 5 MB." in page.text
    assert db.session.scalar(sa.select(sa.func.count(Story.id))) == 0


@pytest.mark.app_config(MAX_CONTENT_LENGTH=1024 * 1024)
def test_body_over_the_hard_cap_gets_a_friendly_413_page(employee_client):
    picture = FileStorage(io.BytesIO(b"\x00" * (2 * 1024 * 1024)), filename="huge.jpg")
    body, content_type = _multipart({**story_form(), "cover_image": picture})
    response = employee_client.post("/stories/new", data=body, content_type=content_type)
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "too large to send" in text and "1 MB" in text

