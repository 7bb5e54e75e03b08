"""The migrations build exactly the schema the models describe (no pending autogenerate diff)."""

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from app import create_app
from app.extensions import db as _db
from app.models import Base
from app.reading.search import include_name
from app.reading.search import include_object
from tests.fixtures.database import fresh_database


def test_models_and_migrations_agree(db):
    with db.engine.connect() as conn:
        # Same filters as migrations/env.py: the search index is not part of the models.
        filters = {"include_name": include_name, "include_object": include_object}
        context = MigrationContext.configure(conn, opts={"compare_type": True, **filters})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_default_touchpoints_are_installed(db):
    from app.models import Touchpoint

    slugs = list(db.session.scalars(db.select(Touchpoint.slug).order_by(Touchpoint.position)))
    assert slugs == ["store", "phone", "chat", "email", "web", "field", "social", "other"]


@pytest.fixture
def scratch_url(tmp_path) -> Iterator[str]:
    """An empty database of the same kind as the suite's, for a step-by-step upgrade."""
    with fresh_database(tmp_path, "scratch") as url:
        yield url


def test_0007_backfills_stored_durations(scratch_url):
    """Rows written before 0007 get the durations the models would have given them."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=scratch_url)
    with app.app_context():
        upgrade(revision="0006")
        with _db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (email, display_name, role, password_hash, is_active, "
                "email_opt_out, security_stamp, created_at) VALUES ('a@example.com', 'A', "
                "'employee', '', true, false, 's', '2026-03-01 00:00:00')"
            )
            author = conn.exec_driver_sql("SELECT id FROM users").scalar()
            rows = [
                # (status, submitted, decided, approved, published)
                (
                    "published",
                    "03-02 09:00:00",
                    "03-02 14:30:00",
                    "03-02 14:30:00",
                    "03-06 08:00:00",
                ),
                ("submitted", "03-09 09:00:00", "03-03 10:00:00", None, None),  # resubmitted
                ("draft", None, None, None, None),
            ]
            for status, *times in rows:
                stamps = [f"'2026-{t}'" if t else "NULL" for t in times]
                conn.exec_driver_sql(
                    "INSERT INTO stories (title, body_md, body_html, author_id, status, version, "
                    "customer_consent, "
                    "created_at, updated_at, submitted_at, decided_at, approved_at, published_at) "
                    f"VALUES ('t', 'b', 'b', {author}, '{status}', 1, false, "
                    f"'2026-03-01 00:00:00', '2026-03-01 00:00:00', {', '.join(stamps)})"
                )
        upgrade(revision="0007")
        with _db.engine.connect() as conn:
            got = conn.exec_driver_sql(
                "SELECT status, decision_seconds, publication_seconds FROM stories ORDER BY id"
            ).all()
        _db.engine.dispose()
    assert [tuple(r) for r in got] == [
        ("published", 5 * 3600 + 1800, 3 * 86400 + 17 * 3600 + 1800),
        ("submitted", None, None),
        ("draft", None, None),
    ]
