"""`flask mail outbox`: send the notification emails that are due now, for operators.

The scheduler does this every SCHEDULER_OUTBOX_SECONDS; the command is for a host without a
scheduler running, or to see at once what is stuck. It shares the claims, so running it beside
the scheduler never sends anything twice.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.mail.outbox import outbox_counts
from app.mail.outbox import retry_failed
from app.mail.outbox import run_outbox

mail_cli = AppGroup("mail", help="Notification emails (the mail outbox).")


@mail_cli.command("outbox")
@click.option("--retry-failed", "retry", is_flag=True,
              help="First give failed emails a fresh set of attempts (once the cause is fixed).")
def outbox_command(retry: bool) -> None:
    """Send the due emails of the mail outbox once, then print what is left."""
    if retry:
        click.echo(f"{retry_failed()} failed email(s) queued again.")
    stats = run_outbox()
    line = f"{stats.sent} sent, {stats.failed} failed, {stats.deferred} to retry"
    if stats.pruned:
        line += f", {stats.pruned} old sent email(s) pruned"
    click.echo(line + (f" (stopped: {stats.stopped})" if stats.stopped else ""))
    counts = outbox_counts()
    click.echo("Outbox: " + ", ".join(f"{n} {status.value}" for status, n in counts.items()))
