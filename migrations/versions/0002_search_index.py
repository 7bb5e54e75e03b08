"""Full-text search index for published stories and quotes (app/reading/search.py).

SQLite: an FTS5 virtual table `search_fts` (rowid = id * 2 for a story, id * 2 + 1 for a quote)
plus triggers that drop a document when its story or quote row is deleted.
PostgreSQL: a `search_documents` table with a generated, weighted `tsvector` column and a GIN
index; foreign keys with ON DELETE CASCADE drop documents with their rows.

Neither is in the models: migrations/env.py and tests/test_migrations.py skip them through
`app.reading.search.include_name` / `include_object`.

The backfill indexes the Markdown source as stored; the app indexes it with Markdown punctuation
removed, so run `flask reading reindex` once after upgrading a database that already has
published stories for tidier snippets (search works either way).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:30:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


SQLITE_UPGRADE = [
    """
    CREATE VIRTUAL TABLE search_fts USING fts5(
        title, body, people, organization,
        tokenize = 'porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER search_fts_story_deleted AFTER DELETE ON stories BEGIN
        DELETE FROM search_fts WHERE rowid = old.id * 2;
    END
    """,
    """
    CREATE TRIGGER search_fts_quote_deleted AFTER DELETE ON quotes BEGIN
        DELETE FROM search_fts WHERE rowid = old.id * 2 + 1;
    END
    """,
    """
    INSERT INTO search_fts (rowid, title, body, people, organization)
    SELECT s.id * 2, s.title, s.body_md,
           COALESCE((SELECT group_concat(COALESCE(u.display_name, r.name), ' ')
                     FROM recognitions r LEFT JOIN users u ON u.id = r.user_id
                     WHERE r.story_id = s.id), ''),
           CASE WHEN s.customer_consent THEN COALESCE(s.customer_organization, '') ELSE '' END
    FROM stories s WHERE s.status = 'published'
    """,
    """
    INSERT INTO search_fts (rowid, title, body, people, organization)
    SELECT q.id * 2 + 1, '', q.text, '',
           CASE WHEN q.customer_consent AND NOT q.anonymous
                THEN COALESCE(q.customer_organization, '') ELSE '' END
    FROM quotes q WHERE q.status = 'published'
    """,
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS search_fts_quote_deleted",
    "DROP TRIGGER IF EXISTS search_fts_story_deleted",
    "DROP TABLE IF EXISTS search_fts",
]

POSTGRES_UPGRADE = [
    """
    CREATE TABLE search_documents (
        doc_key BIGINT PRIMARY KEY,
        story_id INTEGER REFERENCES stories (id) ON DELETE CASCADE,
        quote_id INTEGER REFERENCES quotes (id) ON DELETE CASCADE,
        title TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL DEFAULT '',
        people TEXT NOT NULL DEFAULT '',
        organization TEXT NOT NULL DEFAULT '',
        document TSVECTOR GENERATED ALWAYS AS (
            setweight(to_tsvector('english'::regconfig, title), 'A')
            || setweight(to_tsvector('english'::regconfig, people), 'B')
            || setweight(to_tsvector('english'::regconfig, organization), 'C')
            || setweight(to_tsvector('english'::regconfig, body), 'D')
        ) STORED,
        CONSTRAINT ck_search_documents_story_or_quote
            CHECK ((story_id IS NULL) <> (quote_id IS NULL))
    )
    """,
    "CREATE INDEX ix_search_documents_document ON search_documents USING GIN (document)",
    "CREATE UNIQUE INDEX uq_search_documents_story_id ON search_documents (story_id)",
    "CREATE UNIQUE INDEX uq_search_documents_quote_id ON search_documents (quote_id)",
    """
    INSERT INTO search_documents (doc_key, story_id, title, body, people, organization)
    SELECT s.id * 2, s.id, s.title, s.body_md,
           COALESCE((SELECT string_agg(COALESCE(u.display_name, r.name), ' '
                                       ORDER BY r.position)
                     FROM recognitions r LEFT JOIN users u ON u.id = r.user_id
                     WHERE r.story_id = s.id), ''),
           CASE WHEN s.customer_consent THEN COALESCE(s.customer_organization, '') ELSE '' END
    FROM stories s WHERE s.status = 'published'
    """,
    """
    INSERT INTO search_documents (doc_key, quote_id, title, body, people, organization)
    SELECT q.id * 2 + 1, q.id, '', q.text, '',
           CASE WHEN q.customer_consent AND NOT q.anonymous
                THEN COALESCE(q.customer_organization, '') ELSE '' END
    FROM quotes q WHERE q.status = 'published'
    """,
]

POSTGRES_DOWNGRADE = ["DROP TABLE IF EXISTS search_documents"]


def _run(statements_by_dialect):
    dialect = op.get_bind().dialect.name
    if dialect not in statements_by_dialect:
        raise NotImplementedError(f"No search index for the {dialect} dialect.")
    for statement in statements_by_dialect[dialect]:
        op.execute(statement)


def upgrade():
    _run({"sqlite": SQLITE_UPGRADE, "postgresql": POSTGRES_UPGRADE})


def downgrade():
    _run({"sqlite": SQLITE_DOWNGRADE, "postgresql": POSTGRES_DOWNGRADE})
