"""The migrations build exactly the schema the models describe (no pending autogenerate diff)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.models import Base
from app.reading.search import include_name
from app.reading.search import include_object


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
