"""Count SQL statements, for "constant number of queries" tests.

    with count_queries() as queries:
        client.get("/my/submissions")
    assert queries.count <= 8, queries.statements
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import event

from app.extensions import db


@dataclass
class QueryLog:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_queries(engine=None) -> Iterator[QueryLog]:
    """Record every statement sent through `engine` (default: db.engine) inside the block.

    Transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT) is not counted: only real queries.
    """
    engine = engine if engine is not None else db.engine
    log = QueryLog()

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if head not in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"}:
            log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)
