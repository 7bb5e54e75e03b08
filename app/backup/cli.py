"""`flask backup create|verify|restore PATH`: thin commands over app.backup.services.

Failures exit with status 1 and one line on stderr ("Error: ..."), so cron and systemd report them.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.backup.manifest import Manifest
from app.backup.services import create_backup
from app.backup.services import restore_backup
from app.backup.services import verify_backup
from app.errors import DomainError
from app.extensions import db

backup_cli = AppGroup("backup", help="Back up and restore the database and the uploads.")


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"


def _content(manifest: Manifest) -> str:
    uploads = manifest.upload_files
    return (
        f"{manifest.database_kind} database at schema {manifest.revision}, "
        f"{len(manifest.tables)} tables, {manifest.rows:,} rows; "
        f"{len(uploads):,} upload files ({_megabytes(sum(f.size for f in uploads))})"
    )


@backup_cli.command("create")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def create_command(path: Path, force: bool) -> None:
    """Write a backup of the database and UPLOAD_DIR to PATH (safe while the app runs)."""
    try:
        result = create_backup(path, force=force)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"Backup written to {result.path} ({_megabytes(result.size)}, {result.seconds:.1f} s): "
        f"{_content(result.manifest)}."
    )


@backup_cli.command("verify")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def verify_command(path: Path) -> None:
    """Check a backup completely (manifest, every checksum, the database file); change nothing."""
    try:
        manifest = verify_backup(path)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"{path} is good: made {manifest.created_at} by version {manifest.app_version}; "
        f"{_content(manifest)}; {len(manifest.files):,} checksums match."
    )


@backup_cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--force", is_flag=True, help="PostgreSQL: restore even with other sessions connected."
)
def restore_command(path: Path, yes: bool, force: bool) -> None:
    """Replace the database and UPLOAD_DIR by the backup at PATH. Stop the web app and the
    scheduler first."""
    if not yes:
        where = db.engine.url.render_as_string(hide_password=True)
        click.confirm(
            f"Restoring replaces everything in {where} and in {current_app.config['UPLOAD_DIR']}. "
            "Are the web app and the scheduler stopped, and do you want to continue?",
            abort=True,
        )
    try:
        result = restore_backup(path, force=force)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    manifest = result.manifest
    click.echo(f"Restored from {path} (made {manifest.created_at}) in {result.seconds:.1f} s:")
    click.echo(f"  {_content(manifest)}")
    for name, rows in sorted(result.tables.items()):
        click.echo(f"  {name:<32} {rows:>10,}")
    if result.upgraded_to:
        click.echo(f"  schema upgraded from {manifest.revision} to {result.upgraded_to}")
