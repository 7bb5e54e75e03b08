"""Tracked links (/r/), the open image (/o/) and applause from the email (/a/)."""

from flask import Blueprint

bp = Blueprint("engagement", __name__)
