"""Importing people: the uploaded file kept between the dry run and the apply, and the apply.

The upload is stored as UPLOAD_DIR/imports/<token>.csv with a small <token>.json beside it (the
original name, the checksum, the options, when). The preview and the apply both build the plan
from that file (app.imports.plan), and the apply refuses a file whose checksum changed, an upload
older than a day, and a plan that differs from the one the admin confirmed (its digest): people
changed in between, so they must look again.

The apply is one transaction of set-based statements over the plan's staging table (INSERT ...
SELECT, UPDATE ... FROM): either every row is written or, on any error, none. Invitations are
queued in the same transaction (the mail outbox) and sent after the commit.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import audit
from app.auth import services as auth
from app.errors import Conflict
from app.errors import NotFound
from app.errors import ValidationError
from app.events import PersonInvited
from app.events import emit
from app.extensions import db
from app.imports.parse import Reader
from app.imports.plan import CHUNK
from app.imports.plan import STAGE
from app.imports.plan import Options
from app.imports.plan import Plan
from app.imports.plan import S
from app.imports.plan import build_plan
from app.imports.plan import leavers_query
from app.models import Team
from app.models import User
from app.models import utcnow
from app.models.users import new_security_stamp
from app.text import clean_text

KEEP_SECONDS = 24 * 3600
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")
_COPY = 256 * 1024
USERS = User.__table__
TEAMS = Team.__table__


@dataclass(frozen=True)
class Upload:
    token: str
    path: Path
    filename: str
    size: int
    sha256: str
    options: Options
    uploaded_at: float


# The stored file ----------------------------------------------------------------------------
def _folder() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "imports"


def purge_expired(now: float | None = None) -> int:
    """Delete uploads older than a day (abandoned previews); returns how many."""
    now = time.time() if now is None else now
    removed = 0
    folder = _folder()
    if not folder.is_dir():
        return 0
    for item in folder.iterdir():
        if item.suffix in (".csv", ".json", ".part") and now - item.stat().st_mtime > KEEP_SECONDS:
            item.unlink(missing_ok=True)
            removed += item.suffix == ".csv"
    return removed


def store_upload(stream: BinaryIO, filename: str, options: Options) -> Upload:
    """Copy the upload to disk (refusing more than PEOPLE_IMPORT_MAX_BYTES), checksum it, and
    read its header so a file without the needed columns is refused at once."""
    limit = current_app.config["PEOPLE_IMPORT_MAX_BYTES"]
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    purge_expired()
    token = secrets.token_urlsafe(18)
    path = folder / f"{token}.csv"
    partial = path.with_suffix(".part")
    copied = copy_limited(stream, partial, limit)
    if copied is None:
        raise ValidationError(
            f"The file is larger than {limit / 1_000_000:g} MB. Split it into several files."
        )
    size, sha256 = copied
    if size == 0:
        partial.unlink(missing_ok=True)
        raise ValidationError("The file is empty: the first row should name the columns.")
    partial.replace(path)
    upload = Upload(token, path, clean_text(filename, name=True)[:200] or "people.csv", size,
                    sha256, options, time.time())
    try:
        check_header(path)
    except ValidationError:
        discard(upload)
        raise
    meta = {**asdict(upload), "path": None, "options": asdict(options)}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return upload


def copy_limited(stream: BinaryIO, path: Path, limit: int) -> tuple[int, str] | None:
    """Copy an upload to `path` in chunks: its size and SHA-256, or None (and no file) when it
    is larger than `limit` bytes, found without reading more than the limit. Shared with the
    survey import (app/voice/importing.py)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as out:
        while chunk := stream.read(_COPY):
            size += len(chunk)
            if size > limit:
                break
            digest.update(chunk)
            out.write(chunk)
    if size > limit:
        path.unlink(missing_ok=True)
        return None
    return size, digest.hexdigest()


def check_header(path: Path) -> None:
    """Read up to the first data row: encoding, delimiter and columns are then known good."""
    for _row in Reader(path):
        break


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(_COPY):
            digest.update(chunk)
    return digest.hexdigest()


def get_upload(token: str) -> Upload:
    """The stored upload for `token`, or NotFound (unknown, applied, or older than a day)."""
    if not _TOKEN_RE.fullmatch(token or ""):
        raise NotFound("This import is not available any more. Upload the file again.")
    path = _folder() / f"{token}.csv"
    meta_path = path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        raise NotFound("This import is not available any more. Upload the file again.") from None
    if time.time() - meta["uploaded_at"] > KEEP_SECONDS or not path.is_file():
        discard_token(token)
        raise NotFound("This upload is more than a day old. Upload the file again.")
    meta["options"] = Options(**meta["options"])
    meta["path"] = path
    return Upload(**meta)


def discard(upload: Upload) -> None:
    discard_token(upload.token)


def discard_token(token: str) -> None:
    for suffix in (".csv", ".json"):
        (_folder() / f"{token}{suffix}").unlink(missing_ok=True)


def plan_upload(upload: Upload, *, actor: User | None) -> Plan:
    return build_plan(upload.path, upload.options, actor_id=actor.id if actor else None)


def apply_upload(
    upload: Upload, *, sha256: str, digest: str, actor: User, confirm_deactivate: bool = False
) -> Plan:
    """Apply the previewed plan, exactly: the file must be the one previewed (checksum) and
    the plan the one shown (digest). The caller commits, then `discard`s the upload."""
    if not sha256 or not secrets.compare_digest(file_checksum(upload.path), sha256) or (
        sha256 != upload.sha256
    ):
        raise Conflict("The uploaded file changed since the preview. Upload it again.")
    plan = plan_upload(upload, actor=actor)
    if plan.digest() != digest:
        raise Conflict(
            "People or teams changed since this preview, so the import would do something "
            "else than what you saw. Check the new preview and apply again."
        )
    if plan.deactivate and not confirm_deactivate:
        raise ValidationError(
            f"Tick the box to confirm that {len(plan.deactivate):,} people not in the file "
            "should be deactivated."
        )
    apply_plan(plan, upload.options, actor=actor, source=upload.filename)
    return plan


# Writing ------------------------------------------------------------------------------------
def apply_plan(plan: Plan, options: Options, *, actor: User | None, source: str = "") -> None:
    """Write `plan` in the caller's transaction (set-based statements from the staging table
    `build_plan` just filled, all or nothing)."""
    if plan.errors:
        raise ValidationError(
            f"{len(plan.errors):,} rows have errors, so nothing was imported. "
            "Correct them and import the file again."
        )
    try:
        with db.session.begin_nested():
            _write(plan, options, actor)
    except IntegrityError:
        raise Conflict(
            "Someone added or changed people while the import ran, so nothing was imported. "
            "Try again."
        ) from None
    db.session.expire_all()  # the bulk statements bypassed the identity map
    audit.record(
        actor, "people.import", object_type="import", file=source or None,
        rows=plan.rows, created=len(plan.created), updated=len(plan.updated),
        unchanged=plan.unchanged, deactivated=len(plan.deactivate),
        teams_created=len(plan.new_teams) or None,
    )
    if options.invite and plan.created and actor is not None:
        _invite(actor)


def _write(plan: Plan, options: Options, actor: User | None) -> None:
    now = utcnow()
    session = db.session
    changing = S.kind.is_not(None)
    if plan.new_teams:
        names = sa.select(S.new_team, sa.literal(now, TEAMS.c.created_at.type)).distinct().where(
            changing, S.new_team.is_not(None))
        session.execute(sa.insert(TEAMS).from_select(["name", "created_at"], names))
        session.execute(sa.update(STAGE).where(changing, S.new_team.is_not(None)).values(
            f_team_id=sa.select(TEAMS.c.id).where(TEAMS.c.name == S.new_team).scalar_subquery()))

    # New people first (without managers: theirs may be new too), then everyone's manager.
    new = sa.select(
        S.email, S.name, S.f_team_id, S.f_role, sa.true(), sa.false(), S.stamp,
        sa.literal(now, USERS.c.created_at.type),
    ).where(S.kind == "new").order_by(S.line)
    session.execute(sa.insert(USERS).from_select(
        ["email", "display_name", "team_id", "role", "is_active", "email_opt_out",
         "security_stamp", "created_at"], new))
    boss = USERS.alias("boss")
    manager_id = (sa.select(boss.c.id).where(boss.c.email == S.f_manager).scalar_subquery())
    session.execute(
        sa.update(USERS)
        .where(USERS.c.email == S.email, S.kind == "new", S.f_manager.is_not(None))
        .values(manager_id=manager_id)
    )
    session.execute(
        sa.update(USERS)
        .where(USERS.c.id == S.user_id, S.kind == "upd")
        .values(display_name=S.name, team_id=S.f_team_id, role=S.f_role, manager_id=manager_id)
    )

    if options.deactivate_missing and plan.deactivate:
        # A new stamp signs them out everywhere and voids open links, as a deactivation does.
        off = (
            sa.update(USERS).where(USERS.c.id == sa.bindparam("b_id"))
            .values(is_active=False, security_stamp=sa.bindparam("b_stamp"))
        )
        leavers = leavers_query(actor.id if actor else None, admins=plan.deactivate_admins)
        while ids := session.scalars(sa.select(leavers.subquery().c.id).limit(CHUNK)).all():
            session.execute(off, [{"b_id": i, "b_stamp": new_security_stamp()} for i in ids])


def _invite(actor: User) -> None:
    """The invitation email for each new person (mail outbox rows, sent after the commit)."""
    last = 0
    while True:
        page = db.session.execute(
            sa.select(S.line, S.email).where(S.kind == "new", S.line > last)
            .order_by(S.line).limit(500)).all()
        if not page:
            return
        last = page[-1][0]
        emails = [email for _line, email in page]
        for user in db.session.scalars(sa.select(User).where(User.email.in_(emails))):
            auth.resend_invite(user, actor=actor)
            emit(PersonInvited(user_id=user.id, actor_id=actor.id, role=user.role.value))
