"""Readership of the edition email: tracked links (/r/), the optional open image (/o/), applause
from the email, and what they add up to (the edition report, the insights trend).

Import-light on purpose: the newsletter's sender imports `recipients` and the composer `links`,
so this package's `__init__` imports nothing of its own; the blueprint lives in `views.py`.
"""
