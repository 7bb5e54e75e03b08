"""Branding: the logo, accent colour and footer text an admin sets (Admin → Settings →
Branding), used by the site and every email.

Import-light on purpose: the newsletter composer and the template context read `brand()`, so
this package's `__init__` imports no views; the blueprint lives in `views.py`.
"""
