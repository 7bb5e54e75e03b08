"""Bulk import of people from a CSV file: upload, dry-run preview, apply (and `flask people`)."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/admin/people/import")

from app.imports import views  # noqa: E402,F401
