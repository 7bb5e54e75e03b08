"""`flask voice import FILE`: the same dry run and apply as the import pages.

Exit status: 0 when the import was applied or there was nothing new (or, with --dry-run, when
the file could be read, whatever its row errors); 1 when the file cannot be read, or when rows
have errors and neither --dry-run nor --skip-errors is given: then nothing at all is written.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.database import begin_write
from app.errors import DomainError
from app.extensions import db
from app.models import Scale
from app.voice import importing
from app.voice.files import open_table
from app.voice.importing import Filters
from app.voice.importing import Plan
from app.voice.importing import RowErrors
from app.voice.presets import PRESETS
from app.voice.services import get_source

ERRORS_PRINTED = 50


def _report(plan: Plan) -> None:
    """The summary, then the first row errors (on stderr), as the preview page shows them."""
    click.echo(plan.summary())
    shown = list(plan.errors)[:ERRORS_PRINTED]
    lines = [f"  row {e.line}: {e.reason}" for e in shown]
    if len(plan.errors) > len(shown):
        lines.append(f"  (the first {len(shown)} of {len(plan.errors):,} rows with errors)")
    if lines:
        click.echo("\n".join(lines), err=True)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source_slug", required=True, metavar="SLUG",
              help="The import source the responses belong to (its slug).")
@click.option("--mapping", "mapping_name", metavar="NAME", help="A mapping saved on the page.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)),
              help="A survey tool's export layout.")
@click.option("--scale", type=click.Choice(["nps", "csat", "ces"]),
              help="The scores' scale, when the mapping or preset does not say.")
@click.option("--only-promoters", is_flag=True, help="Comments of promoters only (the others "
              "are kept for their score).")
@click.option("--only-with-text", is_flag=True, help="Responses with a comment only (the others "
              "are kept for their score).")
@click.option("--skip-errors", is_flag=True, help="Import the valid rows, skip those with errors.")
@click.option("--dry-run", is_flag=True, help="Show what would be imported; write nothing.")
@with_appcontext
def import_command(file: Path, source_slug: str, mapping_name: str | None, preset: str | None,
                   scale: str | None, only_promoters: bool, only_with_text: bool,
                   skip_errors: bool, dry_run: bool):
    """Import a survey export (CSV or XLSX) into a customer-voice source.

    Without --mapping or --preset the layout is recognised from the file (a known tool's
    header, else the column names)."""
    if mapping_name and preset:
        raise click.UsageError("Give --mapping or --preset, not both.")
    filters = Filters(only_promoters=only_promoters, only_with_text=only_with_text)
    try:
        if not dry_run:
            begin_write()  # the source and its response ids are read in the writing transaction
        source = importing.import_source(get_source(source_slug).id)
        table = open_table(file)
        if mapping_name:
            mapping = importing.find_mapping(mapping_name)
        else:
            mapping, notes = importing.start_mapping(table, f"preset:{preset}" if preset else "")
            for note in notes:
                click.echo(f"Note: {note}")
        if scale:
            mapping = replace(mapping, scale=Scale(scale))
        click.echo(f"Columns: {mapping.describe()}")
        sha256 = importing.file_checksum(file)
        if dry_run:
            plan = importing.build_plan(table, sha256=sha256, source=source, mapping=mapping,
                                        filters=filters)
            _report(plan)
            db.session.rollback()
            click.echo("Dry run: nothing was changed.")
            return
        outcome = importing.run_import(table, filename=file.name, sha256=sha256, source=source,
                                       mapping=mapping, filters=filters, actor=None,
                                       skip_errors=skip_errors)
        _report(outcome.plan)
        db.session.commit()
    except RowErrors as error:
        db.session.rollback()
        _report(error.plan)
        raise click.ClickException(error.message) from None
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    if outcome.voice_import is None:
        click.echo("Nothing new to import.")
    else:
        click.echo(f"Imported (import #{outcome.voice_import.id}).")
