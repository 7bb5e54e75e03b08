"""`flask voice ...`: the customer voice's commands (file import, the email receiver, purging
unredacted originals) — the same services as the web pages and the scheduler."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.voice.import_cli import import_command
from app.voice.inbox_cli import inbox_cli
from app.voice.retention import purge_originals

voice_cli = AppGroup("voice", help="Customer voice: import survey files, receive forwarded emails.")
voice_cli.add_command(import_command)
voice_cli.add_command(inbox_cli)


@voice_cli.command("purge-originals")
def purge_originals_command() -> None:
    """Purge customers' unredacted originals past their retention now (the scheduler's
    "voice" job does it every SCHEDULER_VOICE_SECONDS)."""
    purged = purge_originals()
    click.echo(f"{purged:,} unredacted original{'s' if purged != 1 else ''} purged.")
