"""The weekly newsletter: compilation, reliable sending, scheduler, unsubscribe, web archive."""

from flask import Blueprint

# cli_group=None: `flask editions send N` and `flask scheduler run` are top-level commands.
bp = Blueprint("newsletter", __name__, cli_group=None)

from app.newsletter import views  # noqa: E402,F401
from app.newsletter.cli import editions_cli, scheduler_cli  # noqa: E402

bp.cli.add_command(editions_cli)
bp.cli.add_command(scheduler_cli)
