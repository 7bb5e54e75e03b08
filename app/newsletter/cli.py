"""`flask editions send N` and `flask scheduler run|tick`.

The commands call the same service functions as the scheduler: `send` hands the edition to the
sending pipeline (draft/scheduled → due now) and then runs it in this process with a progress
bar; a scheduler running at the same time can only share the work, never duplicate it. Its exit
status tells a script what happened (EXIT_* below).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from app.errors import DomainError
from app.events import run_events
from app.extensions import db
from app.jobs import registered_jobs
from app.mail.outbox import run_outbox
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionStatus
from app.models import utcnow
from app.newsletter import jobs
from app.newsletter import sending
from app.newsletter.scheduler import run

# `flask editions send` exit statuses (also in its help and README.md). 1 and 2 are click's
# (an error such as an unknown edition, a usage error).
EXIT_OK = 0
EXIT_PAUSED = 3  # the mail server could not be reached: the edition waits, nothing is lost
EXIT_FAILED = 4  # some deliveries failed for good (see the edition page; admins can retry)

editions_cli = AppGroup("editions", help="Send newsletter editions.")
scheduler_cli = AppGroup("scheduler", help="The newsletter scheduler process.")


@editions_cli.command("send")
@click.argument("number", type=int)
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="Stay until deferred retries (temporary mail server errors) are done too.")
def send_command(number: int, wait: bool) -> None:
    """Send edition NUMBER now (or resume it), showing progress.

    \b
    Exit status:
      0  sent, or the rest waits for per-recipient retries the scheduler makes
      3  paused: the mail server is unreachable or refused the session; nothing
         is lost and no one is charged an attempt; the scheduler (or a new run)
         goes on when it answers
      4  finished with failed deliveries (an admin can retry them)
    """
    edition = db.session.scalar(sa.select(Edition).where(Edition.number == number))
    if edition is None:
        raise click.ClickException(f"There is no edition #{number}.")
    try:
        if edition.status in (EditionStatus.DRAFT, EditionStatus.SCHEDULED):
            sending.request_send_now(edition, None)
            db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    if edition.status == EditionStatus.SKIPPED:
        raise click.ClickException(f"Edition #{number} was skipped.")

    first = True
    while True:
        # The operator asked for this run: try now even if an outage pause says later.
        result = _run_with_progress(edition.id, number, force=first)
        first = False
        stats = result.stats
        click.echo(f"#{number}: {stats.sent} sent, {stats.failed} failed, {stats.deferred} to retry"
                   + (f" ({stats.stopped})" if stats.stopped else ""))
        if not result.open_deliveries or not wait:
            break
        pause = _seconds_until_next_retry(edition.id)
        if stats.capped and stats.capped_until is not None:  # the relay's cap: wait for room
            pause = min(max((stats.capped_until - utcnow()).total_seconds(), 1.0), 3600.0)
        click.echo(f"{result.open_deliveries} deliveries wait for a retry; next in {pause:.0f} s.")
        time.sleep(pause)
    db.session.refresh(edition)
    if result.paused:
        retry_at = edition.send_retry_at
        click.echo(f"The mail server is unavailable: {edition.send_pause_reason}", err=True)
        click.echo(f"Edition #{number} is paused; nothing is lost and no one was charged an "
                   "attempt. The scheduler tries again"
                   + (f" at {retry_at:%Y-%m-%d %H:%M:%S} UTC" if retry_at else "")
                   + " (or run this command again).", err=True)
    elif edition.status == EditionStatus.SENT:
        click.echo(f"Edition #{number} is sent: {edition.sent_count} delivered, "
                   f"{edition.failed_count} failed.")
    elif result.open_deliveries:
        click.echo("The scheduler retries the rest (or run this command again with --wait).")
    status = _exit_status(edition, result)
    if status != EXIT_OK:
        click.get_current_context().exit(status)


def _exit_status(edition: Edition, result: sending.RunResult) -> int:
    if result.paused:
        return EXIT_PAUSED
    failed = sending.delivery_counts(edition.id).get(DeliveryStatus.FAILED, 0)
    db.session.commit()
    return EXIT_FAILED if failed else EXIT_OK


def _run_with_progress(edition_id: int, number: int, *, force: bool) -> sending.RunResult:
    bars: list = []

    def on_start(total: int) -> None:
        bar = click.progressbar(length=total, label=f"Sending #{number}", show_pos=True,
                                show_percent=True)
        bar.__enter__()
        bars.append(bar)

    def progress(step: int) -> None:
        if bars:
            bars[0].update(step)

    try:
        return sending.run_edition(edition_id, progress=progress, on_start=on_start,
                                   force=force)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)


def _seconds_until_next_retry(edition_id: int) -> float:
    next_at: datetime | None = db.session.scalar(
        sa.select(sa.func.min(Delivery.next_attempt_at)).where(
            Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.PENDING
        )
    )
    paused_until: datetime | None = db.session.scalar(
        sa.select(Edition.send_retry_at).where(Edition.id == edition_id)
    )
    db.session.commit()
    if paused_until is not None:  # a mail server outage: nothing is due before this
        next_at = paused_until if next_at is None else max(next_at, paused_until)
    if next_at is None:
        return 5.0
    return min(max((next_at - utcnow()).total_seconds(), 1.0), 3600.0)


class _ExpectedOverlap(logging.Filter):
    """A long send keeps its `deliver` job busy across ticks, and APScheduler warns at every
    tick it skips (max_instances=1): expected, and one line every 15 s would bury real
    problems and trip log-based alerts."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


@scheduler_cli.command("run")
def scheduler_run_command() -> None:
    """Run the scheduler until Ctrl-C (its own process; never inside the web server)."""
    # The app's own messages go through the app logger; APScheduler only reports problems (its
    # "Running job" lines every 15 seconds would drown them), through the process's one handler
    # (app.ops.logs: JSON in production, personal data masked).
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    overlap = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _ExpectedOverlap) for f in overlap.filters):
        overlap.addFilter(_ExpectedOverlap())
    run(current_app._get_current_object())  # type: ignore[attr-defined]


@scheduler_cli.command("tick")
def scheduler_tick_command() -> None:
    """Run every scheduler job once, now (cron-style deployments, debugging)."""
    jobs.tick()
    run_outbox()
    run_events()
    for job in registered_jobs():
        job.run(lambda: False)
    click.echo("Done.")
