"""`flask people import FILE`: the same plan and apply as the admin's import page.

Exit status: 0 when the import was applied (or, with --dry-run, when the file could be read,
whatever its row errors); 1 when the file cannot be read, or when rows have errors and
--dry-run is not given: then nothing at all is written.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from app.database import begin_write
from app.directory import user_by_email
from app.errors import DomainError
from app.extensions import db
from app.imports.plan import Options
from app.imports.plan import Plan
from app.imports.plan import build_plan
from app.imports.services import apply_plan
from app.models import Role

people_cli = AppGroup("people", help="People: bulk import from CSV.")
ERRORS_PRINTED = 50


def _report(plan: Plan) -> None:
    click.echo(plan.summary())
    for note in plan.notes:
        click.echo(f"Note: {note}")
    for error in plan.errors[:ERRORS_PRINTED]:
        click.echo(f"  row {error.line}: {error.reason}", err=True)
    if len(plan.errors) > ERRORS_PRINTED:
        click.echo(f"  ... and {len(plan.errors) - ERRORS_PRINTED:,} more rows with errors.",
                   err=True)


@people_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--create-teams", is_flag=True, help="Create teams the file names that do not exist.")
@click.option("--deactivate-missing", is_flag=True,
              help="Deactivate active accounts whose email is not in the file.")
@click.option("--invite", is_flag=True, help="Email an invitation to each new person.")
@click.option("--actor", metavar="EMAIL",
              help="The admin the import is recorded as (and invitations come from); "
                   "required with --invite.")
def import_command(file: Path, dry_run: bool, create_teams: bool, deactivate_missing: bool,
                   invite: bool, actor: str | None):
    """Create and update people from a CSV file (name, email, team, manager email, role)."""
    options = Options(create_teams=create_teams, deactivate_missing=deactivate_missing,
                      invite=invite)
    admin = None
    if actor:
        admin = user_by_email(actor)
        if admin is None or admin.role != Role.ADMIN or not admin.is_active_user:
            raise click.ClickException(f"{actor} is not an active administrator.")
    elif invite:
        raise click.ClickException("--invite needs --actor EMAIL: the admin inviting them.")
    try:
        if not dry_run:
            begin_write()  # the plan is read in the transaction that writes it
        plan = build_plan(file, options, actor_id=admin.id if admin else None)
        _report(plan)
        if dry_run:
            click.echo("Dry run: nothing was changed.")
            return
        if plan.errors:
            db.session.rollback()
            click.echo("Nothing was imported: correct the rows with errors first.", err=True)
            raise SystemExit(1)
        apply_plan(plan, options, actor=admin, source=file.name)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo("Imported.")
