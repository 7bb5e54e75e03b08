"""What editors do with a verbatim: turn it into a quote or a story, dismiss it, restore it.

Quotes and stories are created by the submissions services (app/submissions/services.py), so
the same content rules apply as on the web form (a 3,000-character comment is refused as a
quote with the form's message); the verbatim only supplies the input. Decisions on:

- The author is the editor who converts it. A forwarded email's sharer is credited on the
  verbatim and shown on the review page, but does not become the author: they did not write
  the quote, and the author's rights (edit, withdraw, notifications) belong to whoever decides.
- A quote goes straight to review (`submitted`), so the editor lands on its review page and can
  approve it into the next edition at once (or edit it first). It is anonymous; the customer's
  consent is carried over. A story is drafted from a form and may go to review or stay a draft.
- A verbatim is claimed with one conditional UPDATE (`_claim`) before anything is created: two
  editors converting the same verbatim at once get one quote and one Conflict, never two.

Functions flush but never commit (the view owns the transaction); each write is audited.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from app import audit
from app.auth.access import require_curator
from app.errors import Conflict
from app.errors import ValidationError
from app.extensions import db
from app.models import Quote
from app.models import Scale
from app.models import Story
from app.models import User
from app.models import Verbatim
from app.models import VerbatimStatus
from app.models import utcnow
from app.submissions import services as submissions
from app.submissions.rules import QuoteInput
from app.submissions.rules import StoryInput

V = VerbatimStatus
BULK_MAX = 200
ONLY_EDITORS = "Only editors can curate the customer's voice."


def _became(verbatim_id: int) -> str | None:
    """"quote #12" / "story #3" when the verbatim was turned into one (read fresh)."""
    row = db.session.execute(
        sa.select(Verbatim.quote_id, Verbatim.story_id).where(Verbatim.id == verbatim_id)
    ).one_or_none()
    if row is None:
        return None
    if row.quote_id is not None:
        return f"quote #{row.quote_id}"
    if row.story_id is not None:
        return f"story #{row.story_id}"
    return None


def _refuse_used(verbatim: Verbatim) -> None:
    became = _became(verbatim.id)
    if became is not None:
        raise Conflict(f"This comment was already turned into {became}.")


def check_usable(verbatim: Verbatim) -> None:
    """Refuse a verbatim nothing can be made of: already converted, or a score without a
    comment. The story form checks it before showing itself; the conversions when claiming."""
    _refuse_used(verbatim)
    if verbatim.text is None:
        raise ValidationError("This response has a score but no comment to use.")


def _claim(verbatim: Verbatim, actor: User) -> None:
    """Mark the verbatim used, only if nothing was made of it yet (one conditional UPDATE: on
    PostgreSQL a second editor's claim waits for the first commit, then finds it taken)."""
    check_usable(verbatim)
    claimed = db.session.execute(
        sa.update(Verbatim)
        .where(
            Verbatim.id == verbatim.id,
            Verbatim.quote_id.is_(None),
            Verbatim.story_id.is_(None),
            Verbatim.status != V.FILTERED,
        )
        .values(status=V.USED, decided_by_id=actor.id, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        _refuse_used(verbatim)
        raise Conflict("This comment changed meanwhile; reload the page.")
    db.session.refresh(verbatim)


def _link(verbatim: Verbatim, actor: User, item: Quote | Story) -> None:
    if isinstance(item, Quote):
        verbatim.quote_id = item.id
    else:
        verbatim.story_id = item.id
    db.session.flush()
    audit.record(actor, f"verbatim.to_{item.kind}", verbatim, **{f"{item.kind}_id": item.id})


def quote_input(verbatim: Verbatim) -> QuoteInput:
    """The quote a verbatim makes: its words, channel and date, anonymous, the customer's
    consent as given; the NPS score only when it is one (CSAT and CES are other scales)."""
    return QuoteInput(
        text=verbatim.text or "",
        source=verbatim.channel,
        received_on=verbatim.received_on,
        anonymous=True,
        customer_consent=verbatim.consent,
        nps_score=verbatim.score if verbatim.scale == Scale.NPS else None,
    )


def to_quote(verbatim: Verbatim, *, actor: User) -> Quote:
    """A quote under review (`submitted`) made from the verbatim, credited to its team."""
    require_curator(actor, ONLY_EDITORS)
    _claim(verbatim, actor)
    quote = submissions.create_quote(actor, quote_input(verbatim), submit=True)
    if verbatim.team is not None and quote.team_id != verbatim.team_id:
        quote.team = verbatim.team  # the team the customer praised, not the editor's
    _link(verbatim, actor, quote)
    return quote


def story_body(verbatim: Verbatim) -> str:
    """The story's starting text: the customer's words as a Markdown quote block."""
    lines = (verbatim.text or "").splitlines() or [""]
    quoted = "\n".join(f"> {line}".rstrip() for line in lines)
    return f"{quoted}\n\n"


def to_story(
    verbatim: Verbatim,
    data: StoryInput,
    *,
    actor: User,
    submit: bool,
    form_errors: dict[str, str] | None = None,
) -> Story:
    """A story the editor wrote from the verbatim (the form's `data`, the story rules), sent
    to review with `submit`, else kept as the editor's draft."""
    require_curator(actor, ONLY_EDITORS)
    _claim(verbatim, actor)
    story = submissions.create_story(actor, data, submit=submit, form_errors=form_errors)
    _link(verbatim, actor, story)
    return story


def dismiss(verbatim: Verbatim, *, actor: User) -> bool:
    """Out of the inbox (the Dismissed tab keeps it). False when it already was."""
    require_curator(actor, ONLY_EDITORS)
    if _move(verbatim, actor, V.NEW, V.DISMISSED):
        audit.record(actor, "verbatim.dismiss", verbatim)
        return True
    if verbatim.status == V.DISMISSED:
        return False
    _refuse_used(verbatim)
    raise Conflict("Only a comment in the inbox can be dismissed.")


def _move(verbatim: Verbatim, actor: User, frm: VerbatimStatus, to: VerbatimStatus) -> bool:
    """`frm` -> `to` if the verbatim is still `frm` in the database (a conditional UPDATE, so
    a dismissal racing a conversion cannot undo it); the object is refreshed either way."""
    decided = to != V.NEW
    moved = db.session.execute(
        sa.update(Verbatim)
        .where(Verbatim.id == verbatim.id, Verbatim.status == frm)
        .values(status=to, decided_by_id=actor.id if decided else None,
                decided_at=utcnow() if decided else None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(verbatim)
    return bool(moved)


def selection(ids: Iterable[int]) -> list[int]:
    """The ids of a bulk dismissal, once each; refused when none or too many."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise ValidationError("Select at least one comment to dismiss.")
    if len(unique) > BULK_MAX:
        raise ValidationError(f"Dismiss at most {BULK_MAX} comments at a time.")
    return unique


def bulk_dismiss(ids: Iterable[int], *, actor: User) -> int:
    """Dismiss the selected verbatims still in the inbox; returns how many were dismissed
    (one used or dismissed meanwhile is left as it is)."""
    require_curator(actor, ONLY_EDITORS)
    unique = selection(ids)
    dismissed = db.session.scalars(
        sa.update(Verbatim)
        .where(Verbatim.id.in_(unique), Verbatim.status == V.NEW)
        .values(status=V.DISMISSED, decided_by_id=actor.id, decided_at=utcnow())
        .returning(Verbatim.id)
        .execution_options(synchronize_session=False)
    ).all()
    for verbatim_id in sorted(dismissed):
        audit.record(actor, "verbatim.dismiss", object_type="verbatim", object_id=verbatim_id,
                     bulk=True)
    db.session.expire_all()
    return len(dismissed)


def restore(verbatim: Verbatim, *, actor: User) -> None:
    """A dismissed verbatim back in the inbox."""
    require_curator(actor, ONLY_EDITORS)
    if not _move(verbatim, actor, V.DISMISSED, V.NEW):
        raise Conflict("Only a dismissed comment can be restored.")
    audit.record(actor, "verbatim.restore", verbatim)
