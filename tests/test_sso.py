"""Single sign-on (OpenID Connect) through a real OpenID provider on loopback: the certified
`oidc-provider` npm package (tests/fixtures/oidc.py). Nothing of Authlib or the provider is
mocked: the app redirects, the provider signs the chosen person in, the app exchanges the code
(PKCE) and verifies the signed ID token against the provider's published keys.
"""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.auth import services as auth
from app.auth.sso import SsoSettings
from app.auth.sso import download_picture
from app.extensions import db
from app.models import AuditEvent
from app.models import Role
from app.models import Team
from app.models import User
from tests.factories import DEFAULT_PASSWORD
from tests.fixtures.oidc import EDITOR_GROUP
from tests.fixtures.oidc import OTHER_CLIENT_ID
from tests.fixtures.oidc import sso_round_trip
from tests.fixtures.oidc import use_from_browser


def _users() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(User).order_by(User.id)))


def _signed_in_as(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def _with_query(path: str, **changes: str) -> str:
    parts = urlsplit(path)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


# -- the happy path ------------------------------------------------------------------------------


def test_first_sign_in_creates_the_account_in_the_right_team(app, client, oidc_provider):
    oidc_provider.add_account("alice-1", "Alice@Example.com", "Alice Adams", department="Support")
    oidc_provider.login_as("alice-1")

    callback = sso_round_trip(client, oidc_provider)
    query = parse_qs(urlsplit(callback).query)
    assert {"code", "state"} <= set(query)
    response = client.get(callback, follow_redirects=True)

    assert response.status_code == 200
    assert response.request.path == "/"
    [alice] = _users()
    assert (alice.email, alice.display_name, alice.team.name) == (
        "alice@example.com",
        "Alice Adams",
        "Support",
    )
    assert (alice.oidc_issuer, alice.oidc_subject) == (oidc_provider.issuer, "alice-1")
    assert alice.role == Role.EMPLOYEE and not alice.has_password
    assert alice.last_login_at is not None
    assert _signed_in_as(client) == alice.get_id()
    assert "Alice" in response.get_data(as_text=True)
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"user.create", "user.sso_create", "user.sso_login"} <= actions


def test_the_authorization_request_uses_pkce_state_and_nonce(app, client, oidc_provider):
    response = client.get("/sso")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["response_type"] == ["code"] and query["client_id"] == ["feelgood"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == ["http://localhost/sso/callback"]


def test_second_sign_in_matches_by_subject_and_follows_team_and_email(app, client, oidc_provider):
    oidc_provider.add_account("bo", "bo@example.com", "Bo Brown", department="Sales")
    oidc_provider.login_as("bo")
    client.get(sso_round_trip(client, oidc_provider))
    client.post("/logout")

    # The provider renames the address and moves Bo; an existing team is reused, any case.
    support = Team(name="Support")
    db.session.add(support)
    db.session.commit()
    oidc_provider.add_account("bo", "bo.brown@example.com", "Bo Brown", department="support")
    response = client.get(sso_round_trip(client, oidc_provider))

    assert response.status_code == 302
    [bo] = _users()
    assert (bo.email, bo.team_id, bo.oidc_subject) == ("bo.brown@example.com", support.id, "bo")
    assert db.session.scalar(sa.select(sa.func.count(Team.id))) == 2  # Sales, Support


def test_next_page_survives_the_round_trip_but_only_on_this_site(app, client, oidc_provider):
    oidc_provider.add_account("cy", "cy@example.com")
    oidc_provider.login_as("cy")
    response = client.get(sso_round_trip(client, oidc_provider, start="/sso?next=/account/"))
    assert response.status_code == 302 and response.location.endswith("/account/")

    other = app.test_client()
    response = other.get(sso_round_trip(other, oidc_provider, start="/sso?next=//evil.example"))
    assert response.status_code == 302 and urlsplit(response.location).path == "/"
    assert "evil" not in response.location


def test_editor_group_maps_to_the_editor_role(app, client, oidc_provider):
    oidc_provider.add_account("ed", "ed@example.com", "Ed Editor", groups=["staff", EDITOR_GROUP])
    oidc_provider.login_as("ed")
    client.get(sso_round_trip(client, oidc_provider))
    [ed] = _users()
    assert ed.role == Role.EDITOR
    assert client.get("/review").status_code == 200

    other = app.test_client()
    oidc_provider.add_account("em", "em@example.com", "Em Employee", groups=["staff"])
    oidc_provider.login_as("em")
    other.get(sso_round_trip(other, oidc_provider))
    assert _users()[1].role == Role.EMPLOYEE


def test_existing_password_user_is_linked_by_verified_email(app, client, oidc_provider, make_user):
    erin = make_user(email="erin@example.com", display_name="Erin Employee", role=Role.ADMIN)
    db.session.commit()
    oidc_provider.add_account("erin-sub", "ERIN@example.com", "Erin From The Provider")
    oidc_provider.login_as("erin-sub")

    response = client.get(sso_round_trip(client, oidc_provider))

    assert response.status_code == 302
    [linked] = _users()
    assert linked.id == erin.id and linked.display_name == "Erin Employee"
    assert linked.role == Role.ADMIN  # a sign-in never takes a role away
    assert (linked.oidc_issuer, linked.oidc_subject) == (oidc_provider.issuer, "erin-sub")
    assert linked.check_password(DEFAULT_PASSWORD)  # the password still works
    assert _signed_in_as(client) == linked.get_id()
    assert "user.sso_link" in set(db.session.scalars(sa.select(AuditEvent.action)))


# -- refused: protocol -------------------------------------------------------------------------


def _refused(response, status: int, words: str) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == status, page[:500]
    assert words in page, page
    assert "Sign in with Example SSO" in page  # the way to try again


def test_wrong_state_is_refused(app, client, oidc_provider):
    oidc_provider.add_account("dee", "dee@example.com")
    oidc_provider.login_as("dee")
    callback = sso_round_trip(client, oidc_provider)

    response = client.get(_with_query(callback, state="forged-state"))

    _refused(response, 400, "already used or has expired")
    assert _users() == [] and _signed_in_as(client) is None


def test_callback_from_another_browser_is_refused(app, client, oidc_provider):
    """The answer is bound to the session that asked for it (login CSRF)."""
    oidc_provider.add_account("dee", "dee@example.com")
    oidc_provider.login_as("dee")
    callback = sso_round_trip(client, oidc_provider)
    victim = app.test_client()
    _refused(victim.get(callback), 400, "already used or has expired")
    assert _users() == [] and _signed_in_as(victim) is None


def test_replayed_code_is_refused(app, client, oidc_provider, caplog):
    oidc_provider.add_account("eve", "eve@example.com", "Eve")
    oidc_provider.login_as("eve")
    callback = sso_round_trip(client, oidc_provider)
    assert client.get(callback).status_code == 302
    # The same answer twice: its state was used up by the first.
    _refused(client.get(callback), 400, "already used or has expired")

    # The code again, with a fresh valid state of another browser: the provider refuses it.
    other = app.test_client()
    start = other.get("/sso")
    fresh_state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    caplog.clear()
    response = other.get(_with_query(callback, state=fresh_state))
    _refused(response, 400, "did not work")
    assert "invalid_grant" in caplog.text  # the provider refused the used code
    assert _signed_in_as(other) is None
    assert len(_users()) == 1


def test_id_token_for_another_application_is_refused(app, client, oidc_provider, caplog):
    oidc_provider.add_account("fay", "fay@example.com")
    oidc_provider.login_as("fay")
    oidc_provider.misbehave(audience=OTHER_CLIENT_ID)
    response = client.get(sso_round_trip(client, oidc_provider))
    _refused(response, 400, "could not be verified")
    assert "Invalid claim: 'aud'" in caplog.text
    assert _users() == [] and _signed_in_as(client) is None


def test_expired_id_token_is_refused(app, client, oidc_provider, caplog):
    oidc_provider.add_account("gus", "gus@example.com")
    oidc_provider.login_as("gus")
    oidc_provider.misbehave(expired=True)
    response = client.get(sso_round_trip(client, oidc_provider))
    _refused(response, 400, "could not be verified")
    assert "token is expired" in caplog.text  # (the provider's error code masks a word: safe side)
    assert _users() == []


def test_id_token_with_a_signature_the_published_keys_do_not_verify_is_refused(
    app, client, oidc_provider, caplog
):
    oidc_provider.add_account("ari", "ari@example.com")
    oidc_provider.login_as("ari")
    oidc_provider.misbehave(impostor_key=True)
    response = client.get(sso_round_trip(client, oidc_provider))
    _refused(response, 400, "could not be verified")
    assert "bad_signature" in caplog.text
    assert _users() == []


def test_nonce_of_another_sign_in_is_refused(app, client, oidc_provider, caplog):
    oidc_provider.add_account("hal", "hal@example.com")
    oidc_provider.login_as("hal")
    callback = sso_round_trip(client, oidc_provider)
    with client.session_transaction() as session:
        [key] = [k for k in session if k.startswith("_state_sso_")]
        stored = session[key]
        stored["data"]["nonce"] = "a-nonce-from-another-attempt"
        session[key] = stored
    _refused(client.get(callback), 400, "could not be verified")
    assert "Invalid claim: 'nonce'" in caplog.text
    assert _users() == []


def test_wrong_pkce_verifier_is_refused_by_the_provider(app, client, oidc_provider, caplog):
    oidc_provider.add_account("ian", "ian@example.com")
    oidc_provider.login_as("ian")
    callback = sso_round_trip(client, oidc_provider)
    with client.session_transaction() as session:
        [key] = [k for k in session if k.startswith("_state_sso_")]
        stored = session[key]
        stored["data"]["code_verifier"] = "x" * 50
        session[key] = stored
    _refused(client.get(callback), 400, "did not work")
    assert "invalid_grant" in caplog.text  # the provider checked the verifier
    assert _users() == []


def test_provider_saying_no_is_a_clear_page(app, client, oidc_provider):
    oidc_provider.login_as(None)  # nobody signs in: the provider answers access_denied
    _refused(client.get(sso_round_trip(client, oidc_provider)), 400, "did not let you sign in")


def test_unreachable_provider_is_a_clear_page(app, client, oidc_provider):
    app.config["OIDC_ISSUER"] = "http://127.0.0.1:9"  # discard port: nothing listens
    _refused(client.get("/sso"), 400, "could not reach Example SSO")


# -- refused: people -----------------------------------------------------------------------------


def test_disallowed_domain_gets_no_account(app, client, oidc_provider):
    oidc_provider.add_account("mal", "mal@elsewhere.org", "Mal")
    oidc_provider.login_as("mal")
    response = client.get(sso_round_trip(client, oidc_provider))
    _refused(response, 403, "only addresses at example.com")
    assert _users() == [] and _signed_in_as(client) is None


def test_deactivated_people_cannot_sign_in(app, client, oidc_provider, make_user):
    make_user(email="gone@example.com", active=False)
    linked = make_user(email="left@example.com", active=False)
    linked.oidc_issuer, linked.oidc_subject = oidc_provider.issuer, "left"
    db.session.commit()
    oidc_provider.add_account("gone", "gone@example.com")
    oidc_provider.add_account("left", "left@example.com")

    for sub in ("gone", "left"):
        oidc_provider.login_as(sub)
        browser = app.test_client()
        response = browser.get(sso_round_trip(browser, oidc_provider))
        _refused(response, 403, "This account has been deactivated")
        assert _signed_in_as(browser) is None
    gone = next(u for u in _users() if u.email == "gone@example.com")
    assert gone.oidc_subject is None  # not linked either
    assert len(_users()) == 2


def test_unverified_email_is_neither_linked_nor_given_an_account(
    app, client, oidc_provider, make_user
):
    make_user(email="ivy@example.com")
    db.session.commit()
    oidc_provider.add_account("ivy-impostor", "ivy@example.com", email_verified=False)
    oidc_provider.add_account("new-unverified", "new@example.com", email_verified=False)
    for sub in ("ivy-impostor", "new-unverified"):
        oidc_provider.login_as(sub)
        browser = app.test_client()
        _refused(browser.get(sso_round_trip(browser, oidc_provider)), 403, "not verified")
    [ivy] = _users()
    assert ivy.oidc_subject is None


def test_an_account_links_to_one_identity_only(app, client, oidc_provider, make_user):
    user = make_user(email="jo@example.com")
    user.oidc_issuer, user.oidc_subject = oidc_provider.issuer, "jo-original"
    db.session.commit()
    oidc_provider.add_account("jo-second", "jo@example.com")
    oidc_provider.login_as("jo-second")
    _refused(client.get(sso_round_trip(client, oidc_provider)), 403, "another single sign-on")
    assert [u.oidc_subject for u in _users()] == ["jo-original"]


# -- settings ------------------------------------------------------------------------------------


def test_settings_are_read_safely():
    settings = SsoSettings.from_config(
        {
            "OIDC_ISSUER": " https://sso.acme.com/realms/acme ",
            "OIDC_CLIENT_ID": "feelgood",
            "OIDC_SCOPES": "email  profile",
            "OIDC_ALLOWED_DOMAINS": "Acme.com, acme.co.uk ,",
            "OIDC_EDITOR_GROUPS": "editors,comms",
            "PASSWORD_LOGIN_ENABLED": False,
        }
    )
    assert settings.enabled and settings.issuer == "https://sso.acme.com/realms/acme"
    assert settings.scopes == "openid email profile"  # no ID token without it
    assert settings.domain_allowed("ann@ACME.com") and settings.domain_allowed("b@acme.co.uk")
    assert not settings.domain_allowed("c@sub.acme.com") and not settings.domain_allowed("d@x.org")
    assert settings.editor_groups == {"editors", "comms"}
    assert settings.password_login is False
    assert SsoSettings.from_config({"OIDC_ALLOWED_DOMAINS": "*"}).domain_allowed("e@any.org")
    assert not SsoSettings.from_config({}).domain_allowed("f@acme.com")  # empty: nobody
    # Password sign-in cannot be turned off while SSO is not configured: nobody is locked out.
    assert SsoSettings.from_config({"PASSWORD_LOGIN_ENABLED": False}).password_login is True


def test_production_refuses_sso_without_allowed_domains():
    from config import Production

    unsafe = type(
        "Unsafe",
        (Production,),
        {"SECRET_KEY": "s" * 32, "BASE_URL": "https://fgf.acme.com", "OIDC_ISSUER": "https://x"},
    )
    with pytest.raises(RuntimeError, match="OIDC_ALLOWED_DOMAINS"):
        unsafe.validate()
    type("Safe", (unsafe,), {"OIDC_ALLOWED_DOMAINS": "acme.com"}).validate()


# -- the sign-in page, password sign-in turned off, sign-out ------------------------------------


def test_sso_pages_do_not_exist_without_configuration(app, client):
    assert SsoSettings.from_config(app.config).enabled is False
    assert client.get("/sso").status_code == 404
    assert client.get("/sso/callback?code=x&state=y").status_code == 404
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with" not in page and 'name="password"' in page


def test_login_page_offers_the_provider_and_the_password(app, client, oidc_provider):
    page = client.get("/login?next=/account/").get_data(as_text=True)
    assert 'href="/sso?next=/account/"' in page and "Sign in with Example SSO" in page
    assert 'name="password"' in page


@pytest.fixture
def password_login_off(app, oidc_provider):
    app.config["PASSWORD_LOGIN_ENABLED"] = False
    return oidc_provider


def test_password_login_off_shows_only_the_provider(app, client, password_login_off, employee):
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with Example SSO" in page
    assert 'name="password"' not in page and "Forgot your password" not in page

    response = client.post("/login", data={"email": employee.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200 and _signed_in_as(client) is None
    assert "administrator account" in response.get_data(as_text=True)


def test_break_glass_admits_admins_only(app, client, password_login_off, employee, admin):
    page = client.get("/login?password=1").get_data(as_text=True)
    assert 'name="password"' in page and "only administrators" in page

    refused = client.post(
        "/login?password=1", data={"email": employee.email, "password": DEFAULT_PASSWORD}
    )
    assert refused.status_code == 200 and _signed_in_as(client) is None
    assert "match an administrator account" in refused.get_data(as_text=True)

    response = client.post(
        "/login?password=1", data={"email": admin.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302 and _signed_in_as(client) == admin.get_id()


def test_password_login_off_resets_passwords_of_admins_only(
    app, client, outbox, password_login_off, employee, admin
):
    client.post("/reset", data={"email": employee.email})
    assert outbox == []
    client.post("/reset", data={"email": admin.email})
    assert [m["To"] for m in outbox] == [admin.email]

    employee_link = auth.make_token(employee, auth.RESET)
    response = client.get(f"/reset/{employee_link}")
    assert response.status_code == 400 and "single sign-on" in response.get_data(as_text=True)
    response = client.post(
        f"/reset/{employee_link}",
        data={"password": "a brand new password", "confirm": "a brand new password"},
    )
    assert response.status_code == 400 and _signed_in_as(client) is None


def test_password_login_off_needs_sso_on(app, client, employee):
    """Turned off without single sign-on configured, it would lock everyone out: ignored."""
    app.config["PASSWORD_LOGIN_ENABLED"] = False
    response = client.post("/login", data={"email": employee.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302 and _signed_in_as(client) == employee.get_id()


def test_sign_out_ends_the_local_session(app, client, oidc_provider):
    oidc_provider.add_account("kim", "kim@example.com")
    oidc_provider.login_as("kim")
    client.get(sso_round_trip(client, oidc_provider))
    client.get("/sso")  # an unfinished second sign-in leaves its state in the session
    with client.session_transaction() as session:
        assert session.get("_user_id")

    response = client.post("/logout")

    assert response.status_code == 302 and response.location.endswith("/login")
    with client.session_transaction() as session:
        assert set(session) <= {"_flashes", "_remember"}, dict(session)
    assert client.get("/").status_code == 302  # home needs signing in again


# -- the provider's picture ----------------------------------------------------------------------


def _png() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (64, 40), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_picture_claim_becomes_the_photo_of_someone_without_one(
    app, client, oidc_provider, httpserver, make_user
):
    httpserver.expect_request("/nia.png").respond_with_data(_png(), content_type="image/png")
    oidc_provider.add_account("nia", "nia@example.com", picture=httpserver.url_for("/nia.png"))
    oidc_provider.login_as("nia")

    assert client.get(sso_round_trip(client, oidc_provider)).status_code == 302

    [nia] = _users()
    assert nia.photo_key is not None
    assert len(httpserver.log) == 1


def test_someone_with_a_photo_keeps_it_and_nothing_is_downloaded(
    app, client, oidc_provider, httpserver, make_user
):
    make_user(email="oz@example.com", photo_key="K" * 22)
    db.session.commit()
    httpserver.expect_request("/oz.png").respond_with_data(_png(), content_type="image/png")
    oidc_provider.add_account("oz", "oz@example.com", picture=httpserver.url_for("/oz.png"))
    oidc_provider.login_as("oz")

    assert client.get(sso_round_trip(client, oidc_provider)).status_code == 302

    assert _users()[0].photo_key == "K" * 22
    assert httpserver.log == []


def test_a_bad_picture_never_stops_the_sign_in(app, client, oidc_provider, httpserver, caplog):
    httpserver.expect_request("/bad.png").respond_with_data(
        b"not an image", content_type="image/png"
    )
    oidc_provider.add_account("pia", "pia@example.com", picture=httpserver.url_for("/bad.png"))
    oidc_provider.add_account("quin", "quin@example.com", picture="http://127.0.0.1:9/gone.png")
    for sub in ("pia", "quin"):
        oidc_provider.login_as(sub)
        browser = app.test_client()
        response = browser.get(sso_round_trip(browser, oidc_provider))
        assert response.status_code == 302 and _signed_in_as(browser) is not None
    assert [u.photo_key for u in _users()] == [None, None]
    assert "the picture for [email] was not saved" in caplog.text  # no address in logs
    assert "pia@example.com" not in caplog.text
    assert "could not download the picture at http://127.0.0.1:9/gone.png" in caplog.text


def test_picture_download_is_bounded(httpserver):
    httpserver.expect_request("/small.png").respond_with_data(
        b"\x89PNG small", content_type="image/png"
    )
    httpserver.expect_request("/huge.png").respond_with_data(b"x" * (5 * 1024 * 1024 + 1))
    httpserver.expect_request("/missing.png").respond_with_data("no", status=404)
    assert download_picture(httpserver.url_for("/small.png")) == b"\x89PNG small"
    assert download_picture(httpserver.url_for("/huge.png")) is None
    assert download_picture(httpserver.url_for("/missing.png")) is None
    assert download_picture("file:///etc/passwd") is None
    assert download_picture("http://127.0.0.1:9/closed.png") is None


# -- in a real browser ---------------------------------------------------------------------------


@pytest.mark.browser
def test_browser_signs_in_with_the_provider_button(app, page, live_server, oidc_provider):
    use_from_browser(app, live_server)
    app.config["PASSWORD_LOGIN_ENABLED"] = False
    oidc_provider.add_account("lou", "lou@example.com", "Lou Lopez", department="Field Service")
    oidc_provider.login_as("lou")
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto("/account/")  # a page that needs signing in: back to it afterwards
    assert page.get_by_label("Password").count() == 0
    with page.expect_navigation(url=f"{live_server}/account/"):
        page.get_by_role("link", name="Sign in with Example SSO").click()

    [lou] = _users()
    assert (lou.display_name, lou.team.name) == ("Lou Lopez", "Field Service")
    assert page.url == f"{live_server}/account/"  # signed in: not sent back to the login page


@pytest.mark.browser
def test_sign_in_pages_with_sso_have_no_serious_accessibility_violations(
    app, browser, live_server, oidc_provider
):
    from tests.browser.test_accessibility import AXE_PATH
    from tests.browser.test_accessibility import _violations
    from tests.fixtures.browser import _unavailable

    if not AXE_PATH.is_file():
        _unavailable(f"axe-core not found at {AXE_PATH} (run `make axe`)")
    use_from_browser(app, live_server)
    problems = {}
    for width, height in ((375, 812), (1280, 900)):
        context = browser.new_context(
            base_url=live_server, viewport={"width": width, "height": height}
        )
        context.add_init_script(script=AXE_PATH.read_text(encoding="utf-8"))
        page = context.new_page()
        for password_login in (True, False):
            app.config["PASSWORD_LOGIN_ENABLED"] = password_login
            for path in ("/login", "/login?password=1", "/sso/callback?state=stale"):
                page.goto(path)
                problems[(width, password_login, path)] = _violations(page)
        context.close()
    assert {k: v for k, v in problems.items() if v} == {}


def test_password_login_off_hides_change_password_except_for_admins(
    app, password_login_off, login_as, employee, admin
):
    """No password to manage when it cannot sign anyone in; admins keep theirs (break-glass)."""
    page = login_as(employee).get("/account/").get_data(as_text=True)
    assert "Change your password" not in page
    page = login_as(admin).get("/account/").get_data(as_text=True)
    assert "Change your password" in page
    app.config["PASSWORD_LOGIN_ENABLED"] = True
    assert "Change your password" in login_as(employee).get("/account/").get_data(as_text=True)


def test_with_sso_only_an_invitation_says_sign_in_with_the_provider(
    app, monkeypatch, admin_client, make_user, outbox
):
    """A password chosen from an invitation could never be used when password sign-in is off:
    the email links to the sign-in page instead, and an older invitation link leads there."""
    invited = make_user(email="wait@example.com", display_name="Wai Ting", password=None)
    db.session.commit()
    old_link = auth.make_token(invited, auth.INVITE)
    sso_only = {"OIDC_ISSUER": "https://sso.example.com", "OIDC_CLIENT_ID": "fgf",
                "OIDC_PROVIDER_NAME": "Example SSO", "PASSWORD_LOGIN_ENABLED": False}
    for key, value in sso_only.items():
        monkeypatch.setitem(app.config, key, value)

    assert admin_client.post(f"/admin/users/{invited.id}/resend-invite").status_code == 302
    text = outbox[-1].get_body(("plain",)).get_content()
    html = outbox[-1].get_body(("html",)).get_content()
    assert "sign in with Example SSO: http://localhost/login" in text
    assert "Choose your password" not in text and "Choose your password" not in html
    assert "Sign in with Example SSO" in html

    visitor = app.test_client()
    response = visitor.get(f"/invite/{old_link}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    db.session.expire_all()
    assert db.session.get(User, invited.id).password_hash is None
