"""Merging a free-text colleague name ("Noah", named before Noah had an account) into the
account, in every story that names it, in one step.

Each recognition naming it becomes a recognition of the account (its place in the story kept),
so the person's page, counts and search show those stories, and the "you were featured" email
of any later edition goes to the account. A story that already names the account as well just
loses the duplicate name. One transaction (the caller commits), audited with the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app import audit
from app.auth.access import require_curator
from app.directory import NAME_MAX
from app.errors import Conflict
from app.errors import ValidationError
from app.extensions import db
from app.models import Recognition
from app.models import User
from app.people.services import active_account
from app.text import clean_text


@dataclass(frozen=True)
class MergeResult:
    name: str
    user: User
    stories: int  # stories that named `name`
    linked: int  # recognitions now pointing at the account
    duplicates: int  # names dropped because the story already named the account

    @property
    def summary(self) -> str:
        stories = f"{self.stories} {'story' if self.stories == 1 else 'stories'}"
        text = f"“{self.name}” is now {self.user.display_name} in {stories}."
        if self.duplicates:
            text += (f" {self.duplicates} of them already named {self.user.first_name}, so "
                     "the extra name was removed there.")
        return text


def find_account(email: str | None) -> User:
    """The active account an editor chose, by its work email."""
    text = clean_text(email or "")
    if not text:
        raise ValidationError("Choose the account to merge the name into.")
    return active_account(text, inactive="merge the name into an active account.")


def clean_name(name: str | None) -> str:
    text = clean_text(name or "", name=True)
    if not text or len(text) > NAME_MAX:
        raise ValidationError("Choose a name from the list.")
    return text


def merge_name(name: str | None, email: str | None, *, actor: User) -> MergeResult:
    """Turn every free-text `name` into the account with `email`; editors and admins only."""
    require_curator(actor, "Only editors can merge names into accounts.")
    wanted = clean_name(name)
    user = find_account(email)
    rows = db.session.scalars(
        sa.select(Recognition)
        .where(Recognition.user_id.is_(None), Recognition.name == wanted)
        .order_by(Recognition.story_id, Recognition.id)
        .with_for_update()
    ).all()
    if not rows:
        raise Conflict(f"No story names “{wanted}” any more: it may have been merged already.")
    story_ids = sorted({r.story_id for r in rows})
    named = set(db.session.scalars(
        sa.select(Recognition.story_id)
        .where(Recognition.user_id == user.id, Recognition.story_id.in_(story_ids))
    ))  # fmt: skip
    linked = duplicates = 0
    for row in rows:
        if row.story_id in named:
            db.session.delete(row)
            duplicates += 1
        else:
            row.name = None
            row.user_id = user.id
            named.add(row.story_id)
            linked += 1
    db.session.flush()
    audit.record(actor, "user.merge_name", user, name=wanted, stories=len(story_ids),
                 linked=linked, duplicates=duplicates)
    return MergeResult(wanted, user, len(story_ids), linked, duplicates)
