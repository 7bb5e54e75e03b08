"""`flask voice ...`: the customer voice's commands (file import, the email receiver)."""

from __future__ import annotations

from flask.cli import AppGroup

from app.voice.import_cli import import_command
from app.voice.inbox_cli import inbox_cli

voice_cli = AppGroup("voice", help="Customer voice: import survey files, receive forwarded emails.")
voice_cli.add_command(import_command)
voice_cli.add_command(inbox_cli)
