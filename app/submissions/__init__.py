"""Employees share customer-experience stories and customer quotes, and follow their status."""

from flask import Blueprint

bp = Blueprint("submissions", __name__)

from app.submissions import views  # noqa: E402,F401
