"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi run`.

FLASK_CONFIG picks the configuration (development by default; production in deployments).
"""

from app import create_app

app = create_app()
