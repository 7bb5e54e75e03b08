"""`flask voice ...`: the customer voice's commands (file import, the email receiver)."""

from __future__ import annotations

from flask.cli import AppGroup

voice_cli = AppGroup("voice", help="Customer voice: import survey files, receive forwarded emails.")
