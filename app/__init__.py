"""Application factory: `create_app` is a short chain of `register_*` steps."""

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
    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
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
    level = getattr(logging, str(app.config.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
    app.logger.setLevel(level)


def register_extensions(app: Flask) -> None:
    from app import mail
    from app.database import init_database
    from app.extensions import csrf, db, limiter, login_manager, migrate

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
    from app import (
        account,
        admin,
        auth,
        editions,
        insights,
        main,
        newsletter,
        reading,
        review,
        submissions,
    )

    for package in (
        auth,
        main,
        account,
        submissions,
        review,
        editions,
        newsletter,
        reading,
        insights,
        admin,
    ):
        app.register_blueprint(package.bp)


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
