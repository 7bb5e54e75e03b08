"""Application factory: `create_app` is a short chain of `register_*` steps.

The steps import what they register inside the function: importing `app` (models for Alembic,
config for the CLI) must not load every feature, and each step's imports run only when an app
is built, in the order the chain gives.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

import config as config_module

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: str | type | None = None, **overrides) -> Flask:
    """Build an app from a config name ("development", "testing", "production") or class."""
    config_cls = _resolve_config(config)
    config_cls.validate()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=str(config_module.INSTANCE_DIR),
    )
    app.config.from_object(config_cls)
    app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    register_logging(app)
    register_operations(app)
    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_session_hooks(app)
    register_subscribers(app)
    register_error_handlers(app)
    register_security(app)
    register_template_context(app)
    register_cli(app)
    return app


def _resolve_config(config: str | type | None) -> type:
    if config is None or isinstance(config, str):
        import os

        name = config or os.environ.get("FLASK_CONFIG", "development")
        try:
            return config_module.CONFIGS[name]
        except KeyError:
            raise RuntimeError(
                f"Unknown configuration {name!r}; use one of {sorted(config_module.CONFIGS)}"
            ) from None
    return config


def register_logging(app: Flask) -> None:
    level = getattr(logging, str(app.config["LOG_LEVEL"]).upper(), logging.INFO)
    app.logger.setLevel(level)


def register_operations(app: Flask) -> None:
    """What an operator watches: request ids, structured logs, error reporting, metrics."""
    from app import metrics
    from app import ops

    ops.init_app(app)
    metrics.init_app(app)


def register_extensions(app: Flask) -> None:
    from app import mail
    from app.database import init_database
    from app.extensions import csrf
    from app.extensions import db
    from app.extensions import limiter
    from app.extensions import login_manager
    from app.extensions import migrate

    init_database(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    mail.init_app(app)


def register_url_converters(app: Flask) -> None:
    from app.web.converters import init_url_converters

    init_url_converters(app)


def register_blueprints(app: Flask) -> None:
    from app import account
    from app import admin
    from app import auth
    from app import chat
    from app import comments
    from app import editions
    from app import imports
    from app import insights
    from app import main
    from app import metrics
    from app import newsletter
    from app import ops
    from app import people
    from app import photos
    from app import privacy
    from app import reading
    from app import review
    from app import scim
    from app import submissions
    from app import voice
    from app import webhooks
    from app.api.reference import bp as api_reference_bp
    from app.api.views import bp as api_bp
    from app.branding.views import bp as branding_bp
    from app.engagement.views import bp as engagement_bp
    from app.tokens.views import bp as tokens_bp

    for package in (
        auth,
        main,
        account,
        submissions,
        review,
        editions,
        newsletter,
        reading,
        comments,
        insights,
        admin,
        people,
        photos,
        imports,
        scim,
        voice,
        chat,
        webhooks,
        ops,
        metrics,
        privacy,
    ):
        app.register_blueprint(package.bp)
    app.register_blueprint(voice.hooks_bp)
    app.register_blueprint(engagement_bp)
    app.register_blueprint(branding_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(api_reference_bp)
    app.register_blueprint(tokens_bp)


def register_session_hooks(app: Flask) -> None:
    """SQLAlchemy session listeners: events dispatched after the commit, the search index and
    the reading cache kept in step (app.mail.init_app attaches the mail outbox's). Attached
    here, never when a module is imported, and once per process however many apps are built.
    app.chat.delivery hands new Slack / Teams posts to its posting thread after the commit, and
    app.webhooks.delivery new webhook deliveries to its sending thread."""
    from app import events
    from app import reading
    from app.chat import delivery as chat_delivery
    from app.webhooks import delivery as webhook_delivery

    events.init_app(app)
    reading.init_app(app)
    chat_delivery.init_app(app)
    webhook_delivery.init_app(app)


def register_subscribers(app: Flask) -> None:
    """Each feature's reactions to domain events (and its periodic jobs) live in its
    `subscribers.py`; importing them registers them (app/events.py, app/jobs.py). Listed here,
    explicitly, so what runs after a commit is visible in one place."""
    from app.branding import subscribers as branding_subscribers
    from app.chat import subscribers as chat_subscribers
    from app.editions import subscribers as edition_subscribers
    from app.engagement import subscribers as engagement_subscribers
    from app.imports import subscribers as import_subscribers
    from app.notifications import subscribers as notification_subscribers
    from app.ops import subscribers as ops_subscribers
    from app.photos import subscribers as photo_subscribers
    from app.privacy import subscribers as privacy_subscribers
    from app.submissions import subscribers as submission_subscribers
    from app.voice import subscribers as voice_subscribers
    from app.webhooks import subscribers as webhook_subscribers

    app.extensions["fgf.subscribers"] = (
        branding_subscribers, chat_subscribers, edition_subscribers, engagement_subscribers,
        import_subscribers, notification_subscribers, ops_subscribers, photo_subscribers,
        privacy_subscribers, submission_subscribers, voice_subscribers, webhook_subscribers)


def register_error_handlers(app: Flask) -> None:
    from app.web.errors import init_error_handlers

    init_error_handlers(app)


def register_security(app: Flask) -> None:
    from app.web.security import init_security

    init_security(app)


def register_template_context(app: Flask) -> None:
    from app.web.context import init_template_context

    init_template_context(app)


def register_cli(app: Flask) -> None:
    from app.cli import init_cli

    init_cli(app)
