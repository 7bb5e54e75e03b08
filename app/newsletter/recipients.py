"""Who gets an edition: active accounts that did not opt out, plus the admin's extra addresses.

Accounts are read in keyset-paginated chunks (constant memory at any head count). Account
addresses are unique and stored lower-cased, so only the extra addresses need de-duplicating,
against each other and against accounts. An extra address that belongs to an account is never
used to reach someone who unsubscribed or was deactivated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from app.extensions import db
from app.models import User
from app.settings import get_setting

CHUNK_SIZE = 2000
REPORT_LIMIT = 50  # invalid addresses listed in the audit event; the count is always exact

# A plain ASCII address (what a 7-bit SMTP relay accepts without SMTPUTF8): dot-atom local part,
# dotted hostname. Deliberately stricter than RFC 5322; anything else is reported, not guessed.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    rf"@{_LABEL}(?:\.{_LABEL})+"
)


def is_sendable(address: str) -> bool:
    return len(address) <= 254 and _ADDRESS_RE.fullmatch(address) is not None


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    user_id: int | None
    name: str | None


@dataclass
class RecipientReport:
    """What happened to the recipient list; stored in the audit trail of the edition."""

    count: int = 0
    extra: int = 0
    invalid_count: int = 0
    invalid: list[str] = field(default_factory=list)
    duplicates: int = 0
    excluded_extras: int = 0

    def add_invalid(self, address: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < REPORT_LIMIT:
            self.invalid.append(address)

    def as_details(self) -> dict[str, object]:
        return {
            "recipients": self.count,
            "extra_addresses": self.extra,
            "invalid_count": self.invalid_count,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "excluded_extras": self.excluded_extras,
        }


def iter_recipients(
    report: RecipientReport, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[Recipient]:
    """Every recipient once, accounts first (by id), then extra addresses; counts in `report`."""
    receiving = sa.and_(User.is_active_user.is_(True), User.email_opt_out.is_(False))
    last_id = 0
    while True:
        rows = db.session.execute(
            sa.select(User.id, User.email, User.display_name)
            .where(receiving, User.id > last_id)
            .order_by(User.id)
            .limit(chunk_size)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        for user_id, email, name in rows:
            address = email.strip().lower()
            if not is_sendable(address):
                report.add_invalid(address)
                continue
            report.count += 1
            yield Recipient(address, user_id, name)
    yield from _extra_recipients(report)


def _extra_recipients(report: RecipientReport) -> Iterator[Recipient]:
    extras: list[str] = []
    seen: set[str] = set()
    for raw in get_setting("extra_recipients") or []:
        address = str(raw).strip().lower()
        if not is_sendable(address):
            report.add_invalid(str(raw))
        elif address in seen:
            report.duplicates += 1
        else:
            seen.add(address)
            extras.append(address)
    if not extras:
        return
    accounts = dict(
        db.session.execute(
            sa.select(
                User.email,
                sa.and_(User.is_active_user, sa.not_(User.email_opt_out)).label("receives"),
            ).where(sa.func.lower(User.email).in_(extras))
        ).all()
    )
    for address in extras:
        receives = accounts.get(address)
        if receives is None:
            report.count += 1
            report.extra += 1
            yield Recipient(address, None, None)
        elif receives:
            report.duplicates += 1  # already on the list as an account
        else:
            report.excluded_extras += 1  # the account unsubscribed or was deactivated
