"""`flask voice inbox run`: the forwarded-email receiver in its own process
(app/voice/receiver.py says what it accepts and why it is SMTP)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.voice.receiver import serve

inbox_cli = AppGroup("inbox", help="Receive the customer emails colleagues forward.")


@inbox_cli.command("run")
@click.option("--host", default=None,
              help="Address to listen on [default: VOICE_INBOX_HOST, 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on [default: VOICE_INBOX_PORT, 2525].")
def run_command(host: str | None, port: int | None) -> None:
    """Receive forwarded customer emails over SMTP until Ctrl-C (behind the mail gateway)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    host = host or app.config["VOICE_INBOX_HOST"]
    port = port or int(app.config["VOICE_INBOX_PORT"])
    click.echo(f"Receiving mail for {app.config['VOICE_INBOX_ADDRESS']} on {host}:{port} "
               "(Ctrl-C stops).")
    try:
        serve(app, host, port)
    except OSError as error:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {error}") from None
