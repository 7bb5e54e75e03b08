"""Security defaults: headers, cookies, safe redirects, production refusal, error pages."""

from __future__ import annotations

import pytest

import config
from app import create_app
from app.web.security import is_safe_redirect


def test_security_headers_on_every_response(client):
    for path in ("/login", "/does-not-exist", "/healthz"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_session_cookie_flags(client, employee):
    response = client.post(
        "/login", data={"email": employee.email, "password": "correct horse battery"}
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure():
    assert config.Production.SESSION_COOKIE_SECURE is True
    assert config.Production.REMEMBER_COOKIE_SECURE is True


@pytest.mark.parametrize(
    "target",
    ["/", "/my/submissions", "/editions/3?x=1"],
)
def test_safe_redirects_allowed(target):
    assert is_safe_redirect(target)


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "//evil.example",
        "https://evil.example/",
        "http:/evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "relative/path",
        "/\tevil",
    ],
)
def test_unsafe_redirects_refused(target):
    assert not is_safe_redirect(target)


class _UnsafeProduction(config.Production):
    SECRET_KEY = config.DEFAULT_SECRET_KEY
    BASE_URL = "https://fgf.example.com"


class _NoBaseUrlProduction(config.Production):
    SECRET_KEY = "a-long-random-production-secret"
    BASE_URL = None


class _GoodProduction(config.Production):
    SECRET_KEY = "a-long-random-production-secret"
    BASE_URL = "https://fgf.example.com"
    SQLALCHEMY_DATABASE_URI = "sqlite://"


def test_production_refuses_default_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(_UnsafeProduction)


def test_production_refuses_missing_base_url():
    with pytest.raises(RuntimeError, match="BASE_URL"):
        create_app(_NoBaseUrlProduction)


def test_production_starts_when_configured_and_hides_dev_outbox():
    app = create_app(_GoodProduction)
    assert "dev_outbox.index" not in app.view_functions
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_unknown_config_name_is_a_clear_error():
    with pytest.raises(RuntimeError, match="Unknown configuration"):
        create_app("staging")


def test_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"<html" in response.data.lower()


@pytest.mark.own_app  # adds a route
def test_domain_errors_become_409_pages_not_500(app, client, employee):
    from app.errors import IllegalTransition

    @app.route("/_test/conflict")
    def _conflict():  # pragma: no cover - exercised below
        raise IllegalTransition("Already approved by Dana at 10:42.")

    _conflict._access = "public"
    response = client.get("/_test/conflict")
    assert response.status_code == 409
    assert b"Already approved by Dana at 10:42." in response.data


def test_sqlite_pragmas(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite-only connection settings")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
