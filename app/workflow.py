"""The state machines for stories, quotes and editions — the only place statuses change.

Views and services call `transition_submission` / `transition_edition`; an illegal move raises
`IllegalTransition` (HTTP 409 with a clear message) and every legal one leaves an AuditEvent.

Story / Quote::

    draft ──submit──▶ submitted ──approve──▶ approved ──publish (edition sent)──▶ published
                      │   ▲    └──reject──▶ rejected
          request_changes │resubmit
                      ▼   │
                changes_requested
    draft / submitted / changes_requested ──withdraw (author only)──▶ withdrawn

Edition::

    draft ──schedule──▶ scheduled ──start_sending──▶ sending ──finish──▶ sent
    draft / scheduled ──skip──▶ skipped
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import audit
from app.auth.access import require_curator
from app.errors import IllegalTransition
from app.errors import PermissionDenied
from app.errors import ValidationError
from app.models import Edition
from app.models import EditionStatus
from app.models import Quote
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import utcnow

S = SubmissionStatus
E = EditionStatus


@dataclass(frozen=True)
class Rule:
    action: str
    who: str  # "author", "curator" or "system"
    note_required: bool = False


SUBMISSION_RULES: dict[tuple[SubmissionStatus, SubmissionStatus], Rule] = {
    (S.DRAFT, S.SUBMITTED): Rule("submit", "author"),
    (S.CHANGES_REQUESTED, S.SUBMITTED): Rule("resubmit", "author"),
    (S.SUBMITTED, S.APPROVED): Rule("approve", "curator"),
    (S.SUBMITTED, S.CHANGES_REQUESTED): Rule("request_changes", "curator", note_required=True),
    (S.SUBMITTED, S.REJECTED): Rule("reject", "curator", note_required=True),
    (S.APPROVED, S.PUBLISHED): Rule("publish", "system"),
    (S.DRAFT, S.WITHDRAWN): Rule("withdraw", "author"),
    (S.SUBMITTED, S.WITHDRAWN): Rule("withdraw", "author"),
    (S.CHANGES_REQUESTED, S.WITHDRAWN): Rule("withdraw", "author"),
}

EDITION_RULES: dict[tuple[EditionStatus, EditionStatus], Rule] = {
    (E.DRAFT, E.SCHEDULED): Rule("schedule", "curator"),
    (E.SCHEDULED, E.SENDING): Rule("start_sending", "system"),
    (E.SENDING, E.SENT): Rule("finish_sending", "system"),
    (E.DRAFT, E.SKIPPED): Rule("skip", "curator"),
    (E.SCHEDULED, E.SKIPPED): Rule("skip", "curator"),
}


def edition_sources(target: EditionStatus) -> set[EditionStatus]:
    """Statuses an edition may move to `target` from (used by atomic UPDATE ... WHERE claims)."""
    return {frm for (frm, to) in EDITION_RULES if to == target}


def _check_actor(rule: Rule, item_author_id: int | None, actor: User | None) -> None:
    if rule.who == "system":
        return
    if actor is None:
        raise PermissionDenied("This action needs a signed-in person.")
    if rule.who == "author" and actor.id != item_author_id:
        raise PermissionDenied("Only the author can do that.")
    if rule.who == "curator":
        require_curator(actor, "Only editors can do that.")


def _allowed(
    rule: Rule | None, refusal: str, item_author_id: int | None, actor: User | None
) -> Rule:
    """The rule for the move, if there is one and `actor` may make it; else raise."""
    if rule is None:
        raise IllegalTransition(refusal)
    _check_actor(rule, item_author_id, actor)
    return rule


def _record(
    actor: User | None,
    kind: str,
    target: Story | Quote | Edition,
    rule: Rule,
    current: SubmissionStatus | EditionStatus,
    to: SubmissionStatus | EditionStatus,
    **details,
) -> None:
    audit.record(
        actor, f"{kind}.{rule.action}", target, **{"from": current.value, "to": to.value}, **details
    )


def transition_submission(
    item: Story | Quote,
    to: SubmissionStatus,
    *,
    actor: User | None,
    note: str | None = None,
    now: datetime | None = None,
) -> Rule:
    """Move a story or quote to `to`, stamping times, recording feedback and an audit event."""
    current = item.status
    rule = _allowed(
        SUBMISSION_RULES.get((current, to)),
        f"This {item.kind} is {current.label.lower()}; it cannot be moved to {to.label.lower()}.",
        item.author_id,
        actor,
    )
    note = (note or "").strip() or None
    if rule.note_required and not note:
        raise ValidationError(
            "Please write a note for the author."
            if rule.action == "request_changes"
            else "Please give a reason."
        )
    now = now or utcnow()
    item.status = to
    if to == S.SUBMITTED:
        item.submitted_at = now
        item.editor_note = None  # the feedback stays in the history
    elif to in (S.APPROVED, S.REJECTED, S.CHANGES_REQUESTED):
        item.decided_at = now
        item.editor_note = note
        if to == S.APPROVED:
            item.approved_at = now
    elif to == S.PUBLISHED:
        item.published_at = now
    _record(actor, item.kind, item, rule, current, to, note=note)
    return rule


def transition_edition(
    edition: Edition,
    to: EditionStatus,
    *,
    actor: User | None,
    now: datetime | None = None,
    **details,
) -> Rule:
    current = edition.status
    rule = _allowed(
        EDITION_RULES.get((current, to)),
        f"Edition #{edition.number} is {current.label.lower()}; it cannot be "
        f"{'sent' if to == E.SENDING else to.label.lower()} now.",
        None,
        actor,
    )
    now = now or utcnow()
    edition.status = to
    if to == E.SENDING:
        edition.sending_started_at = now
    elif to == E.SENT:
        edition.sent_at = now
    _record(actor, "edition", edition, rule, current, to, **details)
    return rule
