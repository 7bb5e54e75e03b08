"""Rows recorded in a transaction, kept or dropped with its savepoints, handled after the commit.

Domain events (app.events) and outbox mail (app.mail) both write a row in the caller's
transaction and act on it only once the outermost transaction has committed; this is that
bookkeeping, once. A released savepoint hands its rows to the enclosing transaction, a rolled-back
one drops them; after the outermost commit the rows' ids are handed to `handle` once the
session's connection is back in the pool, so slow work never holds it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask import current_app
from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm import SessionTransaction


@dataclass(frozen=True, slots=True)
class _Pending:
    transaction: SessionTransaction  # innermost transaction when recorded: decides on rollback
    app: Flask
    row: Any


class AfterCommit:
    """One kind of row handled after the commit; `session.info` keys keep sessions apart."""

    def __init__(
        self,
        *,
        pending_key: str,
        committed_key: str,
        handle: Callable[[list[int]], object],
        log: logging.Logger,
        doing: str,
        noun: str,
        log_discards: bool = False,
    ) -> None:
        self.pending_key = pending_key
        self.committed_key = committed_key
        self._handle = handle  # runs in the row's app context
        self._log = log
        self._doing = doing  # "sending", for the log
        self._noun = noun  # "email(s)", for the log
        self._log_discards = log_discards
        self._listen_lock = threading.Lock()

    def listen(self) -> None:
        """Register the Session hooks once per process; they ignore sessions without rows.

        Listening on the Session class (not db.session, a scoped_session) covers every session
        the app creates; a duplicate registration would handle each row twice, hence the lock.
        """
        with self._listen_lock:
            if not event.contains(Session, "after_commit", self._after_commit):
                event.listen(Session, "after_commit", self._after_commit)
                event.listen(Session, "after_soft_rollback", self._after_soft_rollback)
                event.listen(Session, "after_transaction_end", self._after_transaction_end)

    def record(self, session: Session, row: Any) -> None:
        """Tie `row` (added to `session`) to the innermost transaction; handle it after commit."""
        transaction = session.get_nested_transaction() or session.get_transaction()
        assert transaction is not None
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        session.info.setdefault(self.pending_key, []).append(_Pending(transaction, app, row))

    def handle_committed(self, app: Flask, ids: list[int]) -> None:
        """Never raises: the rows are committed and stay pending for the scheduler."""
        if not ids:
            return
        current = current_app._get_current_object() if has_app_context() else None  # type: ignore
        try:
            if current is app:
                self._handle(ids)
            else:
                with app.app_context():
                    self._handle(ids)
        except Exception:
            self._log.exception(
                "%s %d %s after commit failed; the scheduler retries",
                self._doing,
                len(ids),
                self._noun,
            )

    def _after_commit(self, session: Session) -> None:
        pending: list[_Pending] | None = session.info.get(self.pending_key)
        if not pending:
            return
        nested = session.get_nested_transaction()
        if nested is not None:
            # A savepoint was released: its rows now belong to the enclosing transaction.
            parent = nested.parent
            assert parent is not None
            session.info[self.pending_key] = [
                _Pending(parent, p.app, p.row) if p.transaction is nested else p for p in pending
            ]
            return
        committed: list[tuple[Flask, int]] = []
        for p in session.info.pop(self.pending_key):
            identity = sa.inspect(p.row).identity  # no query: the key survives expire-on-commit
            if identity is not None:
                committed.append((p.app, identity[0]))
        session.info.setdefault(self.committed_key, []).extend(committed)

    def _after_soft_rollback(
        self, session: Session, previous_transaction: SessionTransaction
    ) -> None:
        pending: list[_Pending] | None = session.info.get(self.pending_key)
        if not pending:
            return
        kept = [p for p in pending if not _within(p.transaction, previous_transaction)]
        if self._log_discards and len(kept) != len(pending):
            self._log.info("discarded %d %s after rollback", len(pending) - len(kept), self._noun)
        session.info[self.pending_key] = kept

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is not None or not session.info:
            return
        # Rows still pending when the outermost transaction ends were rolled back, or the
        # session was closed without committing.
        discarded = session.info.pop(self.pending_key, None)
        if self._log_discards and discarded:
            self._log.info(
                "discarded %d %s: transaction ended without commit", len(discarded), self._noun
            )
        committed: list[tuple[Flask, int]] = session.info.pop(self.committed_key, None) or []
        for app in dict.fromkeys(a for a, _id in committed):
            self.handle_committed(app, [row_id for a, row_id in committed if a is app])


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False
