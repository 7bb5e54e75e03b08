"""What an import would do: the plan, computed the same way for the dry run and for the apply.

Reads the database only (it writes a TEMPORARY staging table on the transaction's connection,
which nobody else sees and which the apply reads). The file is streamed once (parse.Reader)
into the staging table, 2,000 rows per executemany; everything that relates rows to each other
or to the database (duplicates, accounts, teams, managers and their loops, the last
administrator, people not in the file) is then set-based SQL over that table, and the rows are
classified a page at a time. Python keeps counts, a digest and the first few rows of each kind
for the preview, so memory does not grow with the file (bench/people_import.py measures it).
`digest()` fingerprints everything the apply would write, so the apply can refuse to write
anything other than what the admin saw.
"""

from __future__ import annotations

import hashlib
import json
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
from app.models import Role
from app.models import Team
from app.models import User
from app.models.users import new_security_stamp

CHUNK = 2_000  # rows per staging executemany, per classification page
KEPT = 100  # rows of each kind kept for the preview (it shows 20 changes and 100 errors)
ROLES = {r.value: r for r in Role}
USERS = User.__table__

_meta = sa.MetaData()
STAGE = sa.Table(
    "people_import_stage",
    _meta,
    sa.Column("line", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("team", sa.Text),  # as typed; None when the file has no team column
    sa.Column("team_key", sa.Text),  # its str.lower()
    sa.Column("team_id", sa.Integer),  # the existing team it names
    sa.Column("team_error", sa.Text),  # why it would be refused without "create teams"
    sa.Column("manager", sa.Text),
    sa.Column("role", sa.Text),
    sa.Column("role_error", sa.Text),
    sa.Column("stamp", sa.Text),  # a new person's security stamp
    sa.Column("error", sa.Text),  # the reason the row is refused (None: the row is valid)
    sa.Column("user_id", sa.Integer),  # the account with this email
    sa.Column("new_team", sa.Text),  # the team to create (its first spelling in the file)
    sa.Column("kind", sa.Text),  # "new" or "upd" once classified ("same" rows stay None)
    sa.Column("f_team_id", sa.Integer),  # what the apply writes
    sa.Column("f_role", sa.Text),
    sa.Column("f_manager", sa.Text),
    sa.Index("people_import_stage_email", "email"),
    sa.Index("people_import_stage_user", "user_id"),
    sa.Index("people_import_stage_team", "team_key"),
    prefixes=["TEMPORARY"],
)
S = STAGE.c


class Sample(list):
    """The first `KEPT` items of a long list and how long it is: `len()` (and truth) is the
    whole count, which the preview and the summary show; iteration and slices give the kept
    items, which is all the preview lists."""

    total: int = 0

    def __len__(self) -> int:
        return self.total

    def keep(self, item: object) -> None:
        if self.total < KEPT:
            self.append(item)
        self.total += 1


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
    """Counts and the first rows of each kind; the full plan is in the staging table."""

    rows: int = 0
    created: Sample = field(default_factory=Sample)
    updated: Sample = field(default_factory=Sample)
    unchanged: int = 0
    errors: Sample = field(default_factory=Sample)
    new_teams: Sample = field(default_factory=Sample)
    deactivate: Sample = field(default_factory=Sample)
    deactivate_admins: bool = True  # whether the leavers include administrators
    notes: list[str] = field(default_factory=list)
    team_names: dict[int, str] = field(default_factory=dict)  # existing teams, for the preview
    columns: Columns | None = None
    encoding: str = ""
    delimiter: str = ","
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def digest(self) -> str:
        """A fingerprint of everything the apply would write (and of what it would refuse)."""
        return self.fingerprint

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


class _Hash:
    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def put(self, *values: object) -> None:
        self.h.update(json.dumps(values, default=str).encode())
        self.h.update(b"\n")

    def hex(self) -> str:
        return self.h.hexdigest()


def _run(stmt) -> int:
    return db.session.execute(stmt).rowcount


def _refuse(where, reason) -> int:
    """Set `reason` (a string or an SQL expression) on the valid rows matching `where`."""
    return _run(sa.update(STAGE).where(S.error.is_(None), where).values(error=reason))


def _text(expr) -> sa.ColumnElement:
    return sa.cast(expr, sa.Text)


def _stage(path: Path, max_rows: int, teams: dict[str, tuple[int, str]], plan: Plan) -> Reader:
    """Create the staging table and stream the file into it; the checks that need only the row
    itself (and the list of teams) are done here, once."""
    connection = db.session.connection()
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE.name}")
    STAGE.create(connection)
    reader = Reader(path, max_rows=max_rows)
    batch: list[dict] = []
    for row in reader:
        plan.rows += 1
        team_key = row.team.lower() if row.team else None
        known = teams.get(team_key) if team_key else None
        batch.append({
            "line": row.line, "email": row.email, "name": row.name, "team": row.team,
            "team_key": team_key, "team_id": known[0] if known else None,
            "team_error": (f"There is no team called {row.team!r} (tick “create missing "
                           "teams” to create it).") if team_key and not known else None,
            "manager": row.manager, "role": row.role,
            "role_error": (f"Unknown role {row.role!r}: use employee, editor or admin."
                           if row.role and row.role not in ROLES else None),
            "stamp": new_security_stamp(), "error": row.error,
        })
        if len(batch) == CHUNK:
            db.session.execute(sa.insert(STAGE), batch)
            batch = []
    if batch:
        db.session.execute(sa.insert(STAGE), batch)
    return reader


def _first_line(email) -> sa.ScalarSelect:
    other = STAGE.alias("first_row")
    return sa.select(sa.func.min(other.c.line)).where(other.c.email == email).scalar_subquery()


def _valid_row(email) -> sa.Exists:
    other = STAGE.alias("valid_row")
    return sa.exists().where(other.c.email == email, other.c.error.is_(None))


def _next_manager(node) -> sa.ColumnElement:
    """Whom `node` (an email) reports to under the plan: their valid row's manager, else their
    account's manager today."""
    row = STAGE.alias("next_row")
    person, manager = USERS.alias("next_user"), USERS.alias("next_manager")
    in_file = sa.select(sa.func.nullif(row.c.manager, "")).where(
        row.c.email == node, row.c.error.is_(None)).scalar_subquery()
    today = (sa.select(manager.c.email).select_from(person.join(
        manager, manager.c.id == person.c.manager_id)).where(person.c.email == node)
        .scalar_subquery())
    return sa.case((_valid_row(node), in_file), else_=today)


def _managers() -> None:
    """A manager must be in the file (on a valid row) or have an account; a row whose
    manager's row fails fails too, and loops are refused, until nothing changes."""
    has_manager = sa.and_(S.manager.is_not(None), S.manager != "")
    changed = True
    while changed:
        changed = False
        _refuse(S.manager == S.email, "A person cannot be their own manager.")
        while True:
            account = sa.exists().where(USERS.c.email == S.manager)
            in_file = _first_line(S.manager)
            reason = sa.case(
                (in_file.is_not(None),
                 "The manager’s row (row " + _text(in_file) + ") has an error."),
                else_="No one with the email " + S.manager + " is in the file or has an account.",
            )
            if not _refuse(sa.and_(has_manager, ~_valid_row(S.manager), ~account), reason):
                break
        # Everyone whom a chain from a valid row reaches (through people outside the file too);
        # a row is on a loop when its chain comes back to it.
        walk = (sa.select(S.email.label("start"), S.manager.label("node"))
                .where(S.error.is_(None), has_manager).cte("walk", recursive=True))
        walk = walk.union(
            sa.select(walk.c.start, sa.cast(_next_manager(walk.c.node), sa.Text))
            .where(walk.c.node != walk.c.start)
        )
        looped = (sa.select(STAGE.c.line, STAGE.c.email)
                  .where(S.email.in_(sa.select(walk.c.start).where(walk.c.node == walk.c.start)))
                  .order_by(S.line))
        members = [email for _line, email in db.session.execute(looped)]
        done: set[str] = set()
        for email in members:  # rows on loops: few, and each loop is walked once
            if email in done:
                continue
            loop = [email]
            while (following := db.session.scalar(sa.select(_next_manager(
                    sa.literal(loop[-1], sa.Text))))) not in (email, None):
                loop.append(following)
            chain = " → ".join([*loop, loop[0]])
            done.update(loop)
            _refuse(S.email.in_(loop), f"The managers form a loop: {chain}.")
            changed = True


def _active_admins():
    return sa.select(USERS.c.id).where(USERS.c.role == Role.ADMIN, USERS.c.is_active.is_(True))


def _count(where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(STAGE).where(where)) or 0


def build_plan(
    path: Path, options: Options, *, actor_id: int | None = None, max_rows: int = MAX_ROWS
) -> Plan:
    """The plan for the file at `path`; a ValidationError for a file that cannot be read at all
    (columns missing, too many rows, not CSV). Row problems are `plan.errors`."""
    plan = Plan()
    teams = {name.lower(): (team_id, name) for team_id, name in db.session.execute(
        sa.select(Team.id, Team.name))}
    team_names = plan.team_names = dict(teams.values())
    reader = _stage(path, max_rows, teams, plan)
    columns = reader.columns
    assert columns is not None
    plan.columns, plan.encoding, plan.delimiter = columns, reader.encoding, reader.delimiter

    # Each row on its own, then against the others and the accounts, in this order.
    earlier = STAGE.alias("earlier")
    duplicate = sa.exists().where(earlier.c.email == S.email, earlier.c.line < S.line)
    _refuse(duplicate, S.email + " is already on row " + _text(_first_line(S.email)) + ".")
    _refuse(S.role_error.is_not(None), S.role_error)
    _run(sa.update(STAGE).values(user_id=sa.select(USERS.c.id).where(
        USERS.c.email == S.email).scalar_subquery()))
    if options.create_teams:
        first = STAGE.alias("first_team")
        _run(sa.update(STAGE).where(S.error.is_(None), S.team_error.is_not(None)).values(
            new_team=sa.select(first.c.team).where(first.c.team_key == S.team_key,
                                                   first.c.error.is_(None))
            .order_by(first.c.line).limit(1).scalar_subquery()))
    else:
        _refuse(S.team_error.is_not(None), S.team_error)
    if actor_id is not None:
        own = db.session.scalar(sa.select(USERS.c.role).where(USERS.c.id == actor_id))
        if own is not None:
            _refuse(sa.and_(S.user_id == actor_id, S.role.is_not(None), S.role != "",
                            S.role != own.value),
                    "You cannot change your own role with an import.")
    if columns.has("manager"):
        _managers()

    # The last administrator: demotions that would leave nobody are refused.
    admins = db.session.scalar(sa.select(sa.func.count()).select_from(
        _active_admins().subquery())) or 0
    demoted_where = sa.and_(S.error.is_(None), S.role.is_not(None), S.role != "",
                            S.role != Role.ADMIN.value, S.user_id.in_(_active_admins()))
    demoted = _count(demoted_where)
    inactive = sa.select(USERS.c.id).where(USERS.c.is_active.is_(False))
    promoted = _count(sa.and_(
        S.error.is_(None), S.role == Role.ADMIN.value,
        sa.or_(S.user_id.is_(None), S.user_id.not_in(_active_admins())),
        sa.or_(S.user_id.is_(None), S.user_id.not_in(inactive)),
    ))
    if demoted and admins - demoted + promoted <= 0:
        _refuse(demoted_where, "This would leave no active administrator.")
        demoted = 0
    remaining_admins = admins + promoted - demoted

    created, updated = _Hash(), _Hash()
    _classify(plan, team_names, created, updated)
    teams_hash = _Hash()
    new_teams = (sa.select(S.team_key, S.new_team).distinct()
                 .where(S.kind.is_not(None), S.new_team.is_not(None)).order_by(S.team_key))
    for _key, name in db.session.execute(new_teams):
        plan.new_teams.keep(name)
        teams_hash.put(name)

    leavers = _Hash()
    if options.deactivate_missing:
        leaving_admins = db.session.scalar(sa.select(sa.func.count()).select_from(
            leavers_query(actor_id, admins=True).where(USERS.c.role == Role.ADMIN).subquery()))
        if leaving_admins and remaining_admins - leaving_admins <= 0:
            plan.deactivate_admins = False
            plan.notes.append(
                "Administrators not in the file stay active: deactivating them would leave "
                "no active administrator."
            )
        stmt = leavers_query(actor_id, admins=plan.deactivate_admins).execution_options(
            yield_per=CHUNK)
        for user_id, name, email in db.session.execute(stmt):
            plan.deactivate.keep(Leaver(user_id, name, email))
            leavers.put("off", user_id)

    errors = _Hash()
    for error in iter_errors():
        plan.errors.keep(error)
        errors.put("err", error.line, error.reason)

    whole = _Hash()
    whole.put(plan.rows, plan.unchanged, len(plan.created), len(plan.updated), len(plan.errors),
              len(plan.deactivate), teams_hash.hex(), created.hex(), updated.hex(), errors.hex(),
              leavers.hex())
    plan.fingerprint = whole.hex()
    return plan


def _classify(plan: Plan, team_names: dict[int, str], created: _Hash, updated: _Hash) -> None:
    """What each valid row does, a page at a time: new, changed (and how) or unchanged. The
    outcome goes back to the staging table for the apply."""
    manager = aliased(User)
    stmt = (
        sa.select(S.line, S.email, S.name, S.team, S.team_id, S.new_team, S.manager, S.role,
                  User.id, User.display_name, User.team_id, User.role, manager.email)
        .select_from(STAGE)
        .outerjoin(User, User.id == S.user_id)
        .outerjoin(manager, manager.id == User.manager_id)
        .where(S.error.is_(None))
        .order_by(S.line)
        .limit(CHUNK)
    )
    write = (sa.update(STAGE).where(S.line == sa.bindparam("b_line"))
             .values(kind=sa.bindparam("b_kind"), f_team_id=sa.bindparam("b_team"),
                     f_role=sa.bindparam("b_role"), f_manager=sa.bindparam("b_manager")))
    last = 0
    while True:
        page = db.session.execute(stmt.where(S.line > last)).all()
        if not page:
            return
        outcome = []
        for (line, email, name, team_cell, team_id, new_team, manager_cell, role_cell,
             user_id, old_name, old_team, old_role, old_manager) in page:
            if team_cell is None:
                team: int | str | None = old_team if user_id else None
            elif not team_cell:
                team = None
            else:
                team = team_id if team_id is not None else new_team
            role = ROLES[role_cell] if role_cell else (old_role if user_id else Role.EMPLOYEE)
            if manager_cell is None:
                boss = old_manager if user_id else None
            else:
                boss = manager_cell or None
            change = Change(line, email, name, team, boss, role)
            row = {"b_line": line, "b_team": team if isinstance(team, int) else None,
                   "b_role": role.value, "b_manager": boss}
            if user_id is None:
                created.put("new", email, name, team, boss, role.value)
                plan.created.keep(change)
                outcome.append({**row, "b_kind": "new"})
                continue
            change.user_id = user_id
            if name != old_name:
                change.changes["name"] = (old_name, name)
            if team != old_team:
                old = team_names.get(old_team, "") if old_team else ""
                new = team if isinstance(team, str) else team_names.get(team, "") if team else ""
                change.changes["team"] = (old, new)
            if role != old_role:
                change.changes["role"] = (old_role.label, role.label)
            if boss != old_manager:
                change.changes["manager"] = (old_manager or "", boss or "")
            if change.changes:
                updated.put("upd", user_id, email, name, team, boss, role.value)
                plan.updated.keep(change)
                outcome.append({**row, "b_kind": "upd"})
            else:
                plan.unchanged += 1
        if outcome:
            db.session.execute(write, outcome)
        last = page[-1][0]


def leavers_query(actor_id: int | None, *, admins: bool) -> sa.Select:
    """Active people whose email is not in the file (never the importer), by name."""
    stmt = (
        sa.select(USERS.c.id, USERS.c.display_name, USERS.c.email)
        .where(USERS.c.is_active.is_(True), ~sa.exists().where(S.email == USERS.c.email))
        .order_by(USERS.c.display_name, USERS.c.id)
    )
    if actor_id is not None:
        stmt = stmt.where(USERS.c.id != actor_id)
    if not admins:
        stmt = stmt.where(USERS.c.role != Role.ADMIN)
    return stmt


def iter_errors() -> Iterator[RowError]:
    """Every refused row of the plan just built, in file order (streamed)."""
    stmt = (sa.select(S.line, S.email, S.error).where(S.error.is_not(None)).order_by(S.line)
            .execution_options(yield_per=CHUNK))
    for line, email, reason in db.session.execute(stmt):
        yield RowError(line, email, reason)
