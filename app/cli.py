"""Command-line entry points: `flask users ...`, `flask demo seed`, `flask mail outbox`, the
newsletter's `flask editions ...` and `flask scheduler ...` (app.newsletter.cli), and
`flask backup ...` (app.backup.cli).

Commands are thin: they parse arguments and call the same service functions the web views use.
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from app.auth.services import create_user
from app.backup.cli import backup_cli
from app.demo import seed_demo
from app.errors import DomainError
from app.extensions import db
from app.imports.cli import people_cli
from app.mail.cli import mail_cli
from app.models import Role
from app.models import Team
from app.newsletter.cli import editions_cli
from app.newsletter.cli import scheduler_cli
from app.text import clean_text
from app.voice.cli import voice_cli

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo data for trying the app locally.")


@users_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Display name, e.g. 'Dana Smith'.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.EMPLOYEE.value,
    show_default=True,
)
@click.option("--team", default=None, help="Team name (created if new).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(email: str, name: str, role: str, team: str | None, password_stdin: bool):
    """Create an account with a password (use it for the first admin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    team_obj = None
    team = clean_text(team, name=True)  # as the admin's team form would store it
    if team:
        team_obj = db.session.scalar(db.select(Team).where(Team.name == team)) or Team(name=team)
    try:
        user = create_user(email, name, role=Role(role), team=team_obj, password=password)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo(f"Created {user.role.value} {user.email}.")


@demo_cli.command("seed")
def seed_command():
    """Load demo people, stories, quotes and a past edition (safe to run again)."""
    result = seed_demo()
    if result.created:
        click.echo("Demo data loaded.")
    else:
        click.echo("Demo data already present; nothing changed.")
    click.echo(f"\nDemo logins (password for all: {result.password}):")
    for role, email in result.logins:
        click.echo(f"  {role:<9} {email}")


def init_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(editions_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(backup_cli)
    app.cli.add_command(people_cli)
    app.cli.add_command(voice_cli)
