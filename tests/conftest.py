"""Shared fixtures: a migrated database per test session, an isolated app per test, role clients.

Database: SQLite (a temp file) by default; PostgreSQL when TEST_DATABASE_URL is set — then a fresh,
uniquely named database is created for this session (so parallel runs never collide) and dropped
at the end. The schema always comes from the Alembic migrations, which tests them too.
Isolation: after each test every table is emptied and the reference data restored.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, g
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db as _db
from app.extensions import limiter
from app.models import Base, Role, User
from tests import factories
from tests.fixtures.smtp import smtp_server  # noqa: F401  (fixture re-exported)

BASE_PG_URL = os.environ.get("TEST_DATABASE_URL")


def _pg_admin_url(url: str) -> sa.URL:
    return sa.make_url(url).set(drivername="postgresql+psycopg")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    if not BASE_PG_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    base = _pg_admin_url(BASE_PG_URL)
    name = f"fgf_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


REFERENCE_TABLES = ("touchpoints",)
_reference_rows: dict[str, list[dict]] = {}


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    """Build the schema once per session with `flask db upgrade`'s code path.

    The rows the migrations insert (reference data) are remembered and restored after each test.
    """
    from flask_migrate import upgrade

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        upgrade()
        with _db.engine.connect() as conn:
            for name in REFERENCE_TABLES:
                table = Base.metadata.tables[name]
                _reference_rows[name] = [dict(r._mapping) for r in conn.execute(sa.select(table))]
        _db.engine.dispose()
    return database_url


@pytest.fixture
def app_overrides(request) -> dict:
    """Per-test config: `@pytest.mark.app_config(WTF_CSRF_ENABLED=True)`."""
    marker = request.node.get_closest_marker("app_config")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def app(migrated_url: str, app_overrides: dict, tmp_path: Path) -> Iterator[Flask]:
    config = {
        "SQLALCHEMY_DATABASE_URI": migrated_url,
        "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
    }
    config.update(app_overrides)
    app = create_app("testing", **config)

    # The test keeps one app context open across requests, so `g` would keep the previous
    # request's values (the signed-in user, cached settings); production gets a fresh `g`.
    @app.before_request
    def _fresh_g():
        for name in list(g):
            g.pop(name, None)

    ctx = app.app_context()
    ctx.push()
    limiter.reset()
    try:
        yield app
    finally:
        _db.session.remove()
        _empty_database()
        _db.engine.dispose()
        ctx.pop()


def _empty_database() -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                conn.execute(table.delete())
            if _has_sqlite_sequence(conn):
                conn.exec_driver_sql("DELETE FROM sqlite_sequence")
        for name, rows in _reference_rows.items():
            if rows:
                conn.execute(sa.insert(Base.metadata.tables[name]), rows)
        if conn.dialect.name == "postgresql":
            # Restored rows carry explicit ids; move the sequences past them.
            for name in _reference_rows:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
                )


def _has_sqlite_sequence(conn) -> bool:
    return bool(
        conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='sqlite_sequence'"
        ).first()
    )


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# Factories -------------------------------------------------------------------------------------
@pytest.fixture
def make_user(app):
    return factories.make_user


@pytest.fixture
def make_team(app):
    return factories.make_team


@pytest.fixture
def make_story(app):
    return factories.make_story


@pytest.fixture
def make_quote(app):
    return factories.make_quote


@pytest.fixture
def make_edition(app):
    return factories.make_edition


# People and signed-in clients ------------------------------------------------------------------
def login(client: FlaskClient, user: User) -> FlaskClient:
    """Sign `user` in on `client` through Flask-Login's session keys (no password round trip)."""
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


@pytest.fixture
def login_as(app):
    def _login(user: User, client: FlaskClient | None = None) -> FlaskClient:
        return login(client or app.test_client(), user)

    return _login


@pytest.fixture
def employee(app) -> User:
    user = factories.make_user(
        Role.EMPLOYEE, display_name="Erin Employee", email="erin@example.com"
    )
    _db.session.commit()
    return user


@pytest.fixture
def editor(app) -> User:
    user = factories.make_user(Role.EDITOR, display_name="Dana Editor", email="dana@example.com")
    _db.session.commit()
    return user


@pytest.fixture
def admin(app) -> User:
    user = factories.make_user(Role.ADMIN, display_name="Ada Admin", email="ada@example.com")
    _db.session.commit()
    return user


@pytest.fixture
def employee_client(app, employee) -> FlaskClient:
    return login(app.test_client(), employee)


@pytest.fixture
def editor_client(app, editor) -> FlaskClient:
    return login(app.test_client(), editor)


@pytest.fixture
def admin_client(app, admin) -> FlaskClient:
    return login(app.test_client(), admin)


@pytest.fixture
def outbox(app) -> list:
    """Messages sent through the memory mail backend during this test."""
    from app.mail import get_outbox

    return get_outbox(app)
