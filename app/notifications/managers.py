"""Telling managers when people they manage are featured in an edition.

It reacts to `EditionSent` rather than to each `ColleagueFeatured` (one event per colleague and
story): a manager gets one email per edition however many of their people it features, and only
the whole edition, read in one transaction, can group them without bookkeeping between separate
subscriber runs. The featured people are the ones `ColleagueFeatured` names: accounts recognized
in a published story who did not write it.
"""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Edition
from app.models import Recognition
from app.models import Story
from app.models import User
from app.notifications.messages import notify_team_featured


def notify_managers(edition_id: int, story_ids: list[int]) -> None:
    """One "your team member made a customer's day" email per active manager, listing each
    featured person they manage and their stories, in the edition's order. A manager is not
    told about a story they wrote themselves (they hear about it as its author)."""
    edition = db.session.get(Edition, edition_id)
    if edition is None or not story_ids:
        return
    stories = db.session.scalars(
        db.select(Story)
        .where(Story.id.in_(story_ids))
        .options(
            selectinload(Story.author),
            selectinload(Story.recognitions).selectinload(Recognition.user)
            .selectinload(User.manager),
        )
    ).all()  # fmt: skip
    order = {story_id: index for index, story_id in enumerate(story_ids)}
    teams: dict[int, tuple[User, dict[int, tuple[User, list[Story]]]]] = {}
    for story in sorted(stories, key=lambda s: order[s.id]):
        for recognition in story.recognitions:
            person = recognition.user
            if person is None or person.id == story.author_id or not person.is_active_user:
                continue
            manager = person.manager
            if manager is None or manager.id in (person.id, story.author_id):
                continue
            if not manager.is_active_user:
                continue
            members = teams.setdefault(manager.id, (manager, {}))[1]
            stories_of = members.setdefault(person.id, (person, []))[1]
            if story not in stories_of:
                stories_of.append(story)
    for manager, members in teams.values():
        notify_team_featured(manager, list(members.values()), edition)
