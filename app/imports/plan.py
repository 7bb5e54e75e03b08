"""What an import would do: the plan, computed the same way for the dry run and for the apply.

Reads only. The file is streamed once (parse.Reader); existing people are loaded by email in
chunks and teams all at once, as plain tuples (never ORM objects), so the cost is a handful of
queries per thousand rows whatever the file's size. The plan holds one small record per row that
changes something; `digest()` fingerprints it, so the apply can refuse to write anything other
than what the admin saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app.extensions import db
from app.imports.parse import MAX_ROWS
from app.imports.parse import Columns
from app.imports.parse import Reader
from app.imports.parse import Row
from app.models import Role
from app.models import Team
from app.models import User

CHUNK = 900  # emails per IN (...) query: under SQLite's 999 bound parameters on old builds
ROLES = {r.value: r for r in Role}


@dataclass(frozen=True)
class Options:
    create_teams: bool = False
    deactivate_missing: bool = False
    invite: bool = False


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    email: str
    reason: str


@dataclass(frozen=True, slots=True)
class Existing:
    id: int
    display_name: str
    team_id: int | None
    role: Role
    is_active: bool
    manager_id: int | None
    manager_email: str | None


@dataclass(slots=True)
class Change:
    """A row that creates a person (`user_id` None) or changes one. `team` is a team id, or a
    new team's name (str), or None; `manager` an email or None; `changes` maps each field that
    differs to its (old, new) values as people read them."""

    line: int
    email: str
    name: str
    team: int | str | None
    manager: str | None
    role: Role
    user_id: int | None = None
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Leaver:
    id: int
    name: str
    email: str


@dataclass
class Plan:
    rows: int = 0
    created: list[Change] = field(default_factory=list)
    updated: list[Change] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    new_teams: list[str] = field(default_factory=list)
    deactivate: list[Leaver] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    team_names: dict[int, str] = field(default_factory=dict)  # existing teams, for the preview
    columns: Columns | None = None
    encoding: str = ""
    delimiter: str = ","

    @property
    def ok(self) -> bool:
        return not self.errors

    def digest(self) -> str:
        """A fingerprint of everything the apply would write (and of what it would refuse)."""
        h = hashlib.sha256()

        def put(*values: object) -> None:
            h.update(json.dumps(values, default=str).encode())
            h.update(b"\n")

        put(self.rows, self.unchanged, self.new_teams)
        for c in self.created:
            put("new", c.email, c.name, c.team, c.manager, c.role.value)
        for c in self.updated:
            put("upd", c.user_id, c.email, c.name, c.team, c.manager, c.role.value)
        for e in self.errors:
            put("err", e.line, e.reason)
        for leaver in self.deactivate:
            put("off", leaver.id)
        return h.hexdigest()

    def summary(self) -> str:
        text = (
            f"{self.rows:,} rows: {len(self.created):,} new, {len(self.updated):,} updated, "
            f"{self.unchanged:,} unchanged, {len(self.errors):,} with errors"
        )
        if self.new_teams:
            n = len(self.new_teams)
            text += f"; {n:,} new team{'' if n == 1 else 's'}"
        if self.deactivate:
            n = len(self.deactivate)
            text += f"; {n:,} {'person' if n == 1 else 'people'} not in the file to deactivate"
        return text + "."


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _existing(emails: Iterable[str]) -> dict[str, Existing]:
    """The accounts with these emails (and their manager's email), a chunk per query."""
    manager = aliased(User)
    found: dict[str, Existing] = {}
    for chunk in _chunks(sorted(set(emails))):
        stmt = (
            sa.select(
                User.email, User.id, User.display_name, User.team_id, User.role,
                User.is_active_user, User.manager_id, manager.email,
            )
            .outerjoin(manager, manager.id == User.manager_id)
            .where(User.email.in_(chunk))
        )
        for email, *values in db.session.execute(stmt):
            found[email] = Existing(*values)
    return found


def _account_ids(emails: Iterable[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(sorted(set(emails))):
        stmt = sa.select(User.email, User.id).where(User.email.in_(chunk))
        ids.update(dict(db.session.execute(stmt).all()))
    return ids


def _fill_edges(current: dict[str, str | None], edges: dict[str, str | None]) -> None:
    """Today's manager (by email) of everyone outside the file's `edges` whom a chain from the
    file reaches: loops can pass through people who are not in the file. Loaded a level at a
    time, only as far as the chains go (a handful of queries, not the whole table)."""
    manager = aliased(User)
    frontier = {t for t in edges.values() if t and t not in edges and t not in current}
    while frontier:
        found: dict[str, str | None] = {}
        for chunk in _chunks(sorted(frontier)):
            stmt = (
                sa.select(User.email, manager.email)
                .outerjoin(manager, manager.id == User.manager_id)
                .where(User.email.in_(chunk))
            )
            found.update(dict(db.session.execute(stmt).all()))
        for email in frontier:
            current[email] = found.get(email)
        frontier = {m for m in found.values() if m and m not in edges and m not in current}


def _loops(
    edges: dict[str, str | None], current: dict[str, str | None]
) -> dict[str, list[str]]:
    """Every person (of `edges`) on a manager loop, with the loop. Each person has at most one
    manager, so following the chain from each start and colouring visited nodes is linear."""
    done: set[str] = set()
    on_loop: dict[str, list[str]] = {}
    for start in edges:
        path: list[str] = []
        where: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in done and node not in where:
            where[node] = len(path)
            path.append(node)
            node = edges[node] if node in edges else current.get(node)
        if node is not None and node in where:
            loop = path[where[node] :]
            for member in loop:
                on_loop[member] = loop
        done.update(path)
    return on_loop


def build_plan(
    path: Path, options: Options, *, actor_id: int | None = None, max_rows: int = MAX_ROWS
) -> Plan:
    """The plan for the file at `path`; a ValidationError for a file that cannot be read at all
    (columns missing, too many rows, not CSV). Row problems are `plan.errors`."""
    plan = Plan()
    reader = Reader(path, max_rows=max_rows)
    valid: dict[str, Row] = {}
    line_of: dict[str, int] = {}  # every email the file names (even on rows with errors)
    errors: dict[int, RowError] = {}

    def refuse(row: Row, reason: str) -> None:
        errors[row.line] = RowError(row.line, row.email, reason)
        valid.pop(row.email, None)

    for row in reader:
        plan.rows += 1
        if row.error:
            errors[row.line] = RowError(row.line, row.email, row.error)
        elif row.email in line_of:
            errors[row.line] = RowError(
                row.line, row.email, f"{row.email} is already on row {line_of[row.email]}."
            )
        elif row.role and row.role not in ROLES:
            errors[row.line] = RowError(
                row.line, row.email, f"Unknown role {row.role!r}: use employee, editor or admin."
            )
        else:
            valid[row.email] = row
        line_of.setdefault(row.email, row.line)
    columns = reader.columns
    assert columns is not None
    plan.columns, plan.encoding, plan.delimiter = columns, reader.encoding, reader.delimiter

    existing = _existing(valid)
    teams = {name.lower(): (team_id, name) for team_id, name in db.session.execute(
        sa.select(Team.id, Team.name))}
    team_names = plan.team_names = dict(teams.values())
    new_teams: dict[str, str] = {}

    # Teams and roles: each row on its own.
    for row in list(valid.values()):
        person = existing.get(row.email)
        if row.team and row.team.lower() not in teams:
            if options.create_teams:
                new_teams.setdefault(row.team.lower(), row.team)
            else:
                refuse(row, f"There is no team called {row.team!r} (tick “create missing "
                            "teams” to create it).")
                continue
        role = ROLES[row.role] if row.role else (person.role if person else Role.EMPLOYEE)
        if person and actor_id == person.id and role != person.role:
            refuse(row, "You cannot change your own role with an import.")

    # Managers: in the file or already an account; a row whose manager's row fails fails too,
    # and loops are refused, until nothing changes (two passes in practice).
    accounts: dict[str, int] = {}
    if columns.has("manager"):
        outside = {r.manager for r in valid.values() if r.manager and r.manager not in existing}
        accounts = {email: person.id for email, person in existing.items()}
        accounts.update(_account_ids(outside))
        current: dict[str, str | None] = {}
        changed = True
        while changed:
            changed = False
            for row in list(valid.values()):
                target = row.manager
                if not target:
                    continue
                if target == row.email:
                    refuse(row, "A person cannot be their own manager.")
                elif target not in valid and target not in accounts:
                    if target in line_of:
                        refuse(row, f"The manager’s row (row {line_of[target]}) has an error.")
                    else:
                        refuse(row, f"No one with the email {target} is in the file or has "
                                    "an account.")
                else:
                    continue
                changed = True
            edges = {email: r.manager or None for email, r in valid.items()}
            _fill_edges(current, edges)
            for member, loop in _loops(edges, current).items():
                if member in valid:
                    chain = " → ".join([*loop, loop[0]])
                    refuse(valid[member], f"The managers form a loop: {chain}.")
                    changed = True

    # The last administrator: demotions that would leave nobody are refused.
    admins = set(db.session.scalars(sa.select(User.id).where(
        User.role == Role.ADMIN, User.is_active_user.is_(True))))
    demoted = [r for r in valid.values() if r.role and r.role != Role.ADMIN.value
               and (p := existing.get(r.email)) and p.id in admins]
    promoted = sum(1 for r in valid.values() if r.role == Role.ADMIN.value
                   and not ((p := existing.get(r.email)) and p.id in admins)
                   and (p is None or p.is_active))
    if demoted and len(admins) - len(demoted) + promoted <= 0:
        for row in demoted:
            refuse(row, "This would leave no active administrator.")
    remaining_admins = (len(admins) + promoted
                        - sum(1 for r in demoted if r.email in valid))

    # What each remaining row does.
    for row in valid.values():
        person = existing.get(row.email)
        if row.team is None:
            team: int | str | None = person.team_id if person else None
        elif not row.team:
            team = None
        elif row.team.lower() in teams:
            team = teams[row.team.lower()][0]
        else:
            team = new_teams[row.team.lower()]
        role = ROLES[row.role] if row.role else (person.role if person else Role.EMPLOYEE)
        if row.manager is None:
            manager = person.manager_email if person else None
        else:
            manager = row.manager or None
        change = Change(row.line, row.email, row.name, team, manager, role)
        if person is None:
            plan.created.append(change)
            continue
        change.user_id = person.id
        if row.name != person.display_name:
            change.changes["name"] = (person.display_name, row.name)
        if team != person.team_id:
            old = team_names.get(person.team_id, "") if person.team_id else ""
            new = team if isinstance(team, str) else team_names.get(team, "") if team else ""
            change.changes["team"] = (old, new)
        if role != person.role:
            change.changes["role"] = (person.role.label, role.label)
        if manager != person.manager_email:
            change.changes["manager"] = (person.manager_email or "", manager or "")
        if change.changes:
            plan.updated.append(change)
        else:
            plan.unchanged += 1
    # Only the teams someone will be in: a row refused for another reason creates nothing.
    used = {c.team for c in (*plan.created, *plan.updated) if isinstance(c.team, str)}
    plan.new_teams = sorted(used, key=str.lower)

    if options.deactivate_missing:
        stmt = (
            sa.select(User.id, User.display_name, User.email, User.role)
            .where(User.is_active_user.is_(True))
            .order_by(User.display_name, User.id)
        )
        leaving_admins = []
        for user_id, name, email, role in db.session.execute(stmt):
            if email in line_of or user_id == actor_id:
                continue
            if role == Role.ADMIN:
                leaving_admins.append(Leaver(user_id, name, email))
            else:
                plan.deactivate.append(Leaver(user_id, name, email))
        if leaving_admins and remaining_admins - len(leaving_admins) <= 0:
            plan.notes.append(
                "Administrators not in the file stay active: deactivating them would leave "
                "no active administrator."
            )
        else:
            plan.deactivate.extend(leaving_admins)
    plan.errors = sorted(errors.values(), key=lambda e: e.line)
    return plan
