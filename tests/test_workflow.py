"""State machines: each legal transition works and records an event; the rest are refused."""

from __future__ import annotations

import itertools

import pytest

from app.errors import IllegalTransition
from app.errors import PermissionDenied
from app.errors import ValidationError
from app.models import AuditEvent
from app.models import EditionStatus
from app.models import Role
from app.models import SubmissionStatus
from app.workflow import EDITION_RULES
from app.workflow import SUBMISSION_RULES
from app.workflow import transition_edition
from app.workflow import transition_submission

S = SubmissionStatus
E = EditionStatus


def _actor_for(rule, item, make_user):
    if rule.who == "author":
        return item.author
    if rule.who == "curator":
        return make_user(Role.EDITOR)
    return None


@pytest.mark.parametrize(("source", "target"), sorted(SUBMISSION_RULES), ids=lambda s: s.value)
@pytest.mark.parametrize("kind", ["story", "quote"])
def test_legal_submission_transitions(db, make_story, make_quote, make_user, kind, source, target):
    item = (make_story if kind == "story" else make_quote)(status=source)
    rule = SUBMISSION_RULES[(source, target)]
    actor = _actor_for(rule, item, make_user)
    transition_submission(item, target, actor=actor, note="Please add the customer's words.")
    db.session.commit()
    assert item.status == target
    event = db.session.scalar(db.select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert event.action == f"{kind}.{rule.action}"
    assert (event.object_type, event.object_id) == (kind, item.id)
    assert event.details["from"] == source.value and event.details["to"] == target.value


ILLEGAL_SUBMISSION = [pair for pair in itertools.product(S, S) if pair not in SUBMISSION_RULES]


@pytest.mark.parametrize(("source", "target"), ILLEGAL_SUBMISSION, ids=lambda s: s.value)
def test_illegal_submission_transitions(db, make_story, make_user, source, target):
    story = make_story(status=source)
    with pytest.raises(IllegalTransition):
        transition_submission(story, target, actor=make_user(Role.ADMIN), note="n")
    assert story.status == source


def test_timestamps_and_feedback(db, make_story, make_user):
    story = make_story(status=S.DRAFT)
    editor = make_user(Role.EDITOR)
    transition_submission(story, S.SUBMITTED, actor=story.author)
    assert story.submitted_at is not None and story.decided_at is None
    transition_submission(story, S.CHANGES_REQUESTED, actor=editor, note="Add a quote")
    assert story.editor_note == "Add a quote" and story.decided_at is not None
    transition_submission(story, S.SUBMITTED, actor=story.author)
    transition_submission(story, S.APPROVED, actor=editor)
    assert story.approved_at is not None
    transition_submission(story, S.PUBLISHED, actor=None)
    assert story.published_at is not None


def test_only_the_author_submits_and_withdraws(make_story, make_user):
    story = make_story(status=S.DRAFT)
    other = make_user(Role.EMPLOYEE)
    with pytest.raises(PermissionDenied):
        transition_submission(story, S.SUBMITTED, actor=other)
    with pytest.raises(PermissionDenied):
        transition_submission(story, S.WITHDRAWN, actor=make_user(Role.ADMIN))


def test_only_curators_decide(make_story, make_user):
    story = make_story(status=S.SUBMITTED)
    with pytest.raises(PermissionDenied):
        transition_submission(story, S.APPROVED, actor=story.author)
    assert story.status == S.SUBMITTED


@pytest.mark.parametrize("target", [S.CHANGES_REQUESTED, S.REJECTED])
def test_decisions_that_need_a_note(make_story, make_user, target):
    story = make_story(status=S.SUBMITTED)
    with pytest.raises(ValidationError):
        transition_submission(story, target, actor=make_user(Role.EDITOR), note="   ")
    assert story.status == S.SUBMITTED


@pytest.mark.parametrize(("source", "target"), sorted(EDITION_RULES), ids=lambda s: s.value)
def test_legal_edition_transitions(db, make_edition, make_user, source, target):
    edition = make_edition(status=source)
    rule = EDITION_RULES[(source, target)]
    actor = make_user(Role.EDITOR) if rule.who == "curator" else None
    transition_edition(edition, target, actor=actor)
    db.session.commit()
    assert edition.status == target
    event = db.session.scalar(db.select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert event.action == f"edition.{rule.action}"
    if target == E.SENT:
        assert edition.sent_at is not None


@pytest.mark.parametrize(
    ("source", "target"),
    [p for p in itertools.product(E, E) if p not in EDITION_RULES],
    ids=lambda s: s.value,
)
def test_illegal_edition_transitions(make_edition, make_user, source, target):
    edition = make_edition(status=source)
    with pytest.raises(IllegalTransition):
        transition_edition(edition, target, actor=make_user(Role.ADMIN))
    assert edition.status == source


def test_employee_cannot_schedule_an_edition(make_edition, make_user):
    edition = make_edition(status=E.DRAFT)
    with pytest.raises(PermissionDenied):
        transition_edition(edition, E.SCHEDULED, actor=make_user(Role.EMPLOYEE))
