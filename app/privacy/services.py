"""Privacy writes the pages call: the admin's erasure (with its typed confirmation) and the
privacy settings. The rules themselves live in app/privacy/erasure.py and retention.py."""

from __future__ import annotations

from typing import Any

from app.errors import ValidationError
from app.models import User
from app.privacy import erasure
from app.settings import set_settings

SETTING_KEYS = ("erasure_account", "erasure_stories", "retention_audit_days",
                "retention_delivery_days")


def erase_from_admin(person: User, *, actor: User, confirmation: str | None
                     ) -> erasure.ErasureCounts:
    """The admin page's erasure: only when the admin typed the person's email or name."""
    if not erasure.confirmation_matches(person, confirmation):
        raise ValidationError(
            "Type the person's email address or full name exactly to confirm.",
            field="confirmation",
        )
    return erasure.erase_person(person, actor=actor, via="admin")


def save_settings(values: dict[str, Any], *, actor: User) -> dict[str, Any]:
    """Validate and save the four privacy settings together (app.settings audits the change)."""
    return set_settings({k: values[k] for k in SETTING_KEYS if k in values}, actor=actor)
