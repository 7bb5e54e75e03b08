"""Applause from the email: whether a link may applaud, and for whom.

The email's "Applaud" link (`/a/<story id>/<token>`) carries a signed token naming the reader
and the edition (app/engagement/tokens.py). It only opens a confirmation page: link scanners in
mail systems open every link, so a GET must never applaud. The same check runs for the page and
for the POST that applauds (`services.applaud_from_email`), so a link that stopped being valid
between the two (the person was deactivated) is refused at the click.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.engagement import tokens
from app.errors import TokenError
from app.extensions import db
from app.models import EditionItem
from app.models import Story
from app.models import SubmissionStatus
from app.models import User

NO_ACCOUNT = "-"  # the token of recipients without an account (app/engagement/recipients.py)


class ApplauseRefused(TokenError):
    """The link cannot applaud (its message is what the page says); the reader can still sign
    in and applaud on the story's page."""


@dataclass(frozen=True)
class ApplauseTarget:
    user: User
    story: Story
    edition_id: int


def applause_target(story_id: int, token: str) -> ApplauseTarget:
    """Who applauds which story with this link; ApplauseRefused when it cannot (tampered or
    expired link, person deactivated or gone, story not a published story of that edition)."""
    try:
        claim = tokens.read_applause_token(token)
    except tokens.ApplauseLinkExpired:
        raise ApplauseRefused(
            "This applause link has expired: links in an edition email work for a while after "
            "it was sent."
        ) from None
    except TokenError:
        raise ApplauseRefused(
            "This applause link is not valid. Check that you opened the whole link from the email."
        ) from None
    user = db.session.get(User, claim.user_id)
    if user is None or not user.is_active_user:
        raise ApplauseRefused("This applause link belongs to an account that is no longer active.")
    story = db.session.scalar(
        sa.select(Story)
        .join(EditionItem, EditionItem.story_id == Story.id)
        .where(Story.id == story_id, EditionItem.edition_id == claim.edition_id,
               Story.status == SubmissionStatus.PUBLISHED)
    )
    if story is None:
        raise ApplauseRefused("This story cannot be applauded from this link.")
    return ApplauseTarget(user=user, story=story, edition_id=claim.edition_id)
