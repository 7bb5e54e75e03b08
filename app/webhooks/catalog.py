"""The event types an endpoint can receive, and the JSON body each delivery carries.

Body (Standard Webhooks): `{"type": "story.published", "timestamp": "2026-12-04T09:00:00Z",
"data": {...}}`. `data` holds ids, titles and names, `url` (the page in the app) and `api_url`
(the object in the JSON API) so a receiver fetches the rest with a token. Only published content
goes out with its words: a status change carries ids and statuses, and a title and links only
once the item is published (a rejected story's title stays in the app).

Built in the subscriber's transaction from the rows as they are then (links absolute from
BASE_URL: the scheduler has no request), and stored with the delivery: every attempt sends the
same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from app.models import Edition
from app.models import Quote
from app.models import Story
from app.models import User
from app.newsletter.links import edition_url
from app.titles import item_title
from app.web.urls import absolute_url
from app.web.urls import base_url

EDITION_SENT = "edition.sent"
STORY_PUBLISHED = "story.published"
QUOTE_PUBLISHED = "quote.published"
COLLEAGUE_FEATURED = "colleague.featured"
STATUS_CHANGED = "submission.status_changed"
TEST = "webhook.test"  # "Send a test delivery": every endpoint may receive it
QUOTE_TEXT_MAX = 2000


@dataclass(frozen=True)
class EventType:
    name: str
    label: str
    description: str  # the admin form's checkbox help, and the README


EVENT_TYPES: dict[str, EventType] = {e.name: e for e in (
    EventType(EDITION_SENT, "Edition sent",
              "The newsletter went out: its number, subject and the stories and quotes in it."),
    EventType(STORY_PUBLISHED, "Story published",
              "A story went out in an edition: title, author, team, colleagues."),
    EventType(QUOTE_PUBLISHED, "Quote published",
              "A customer quote went out in an edition: its text."),
    EventType(COLLEAGUE_FEATURED, "Colleague featured",
              "A published story names a colleague (one delivery per colleague and story)."),
    EventType(STATUS_CHANGED, "Submission status changed",
              "A story or quote was submitted, sent back for changes, approved, rejected, "
              "published or withdrawn by its author: ids and statuses only (title and links "
              "once published)."),
)}  # fmt: skip
LABELS = {**{name: e.label for name, e in EVENT_TYPES.items()}, TEST: "Test delivery"}


def timestamp(at: datetime) -> str:
    """ISO 8601 in UTC with a "Z", to the second."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def body(event_type: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"type": event_type, "timestamp": timestamp(at), "data": data}


def api_url(kind: str, item_id: int) -> str:
    """The JSON API's address of an object (`kind`: stories, quotes, editions)."""
    return f"{base_url()}/api/v1/{kind}/{item_id}"


def _person(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.id, "name": user.display_name,
            "url": absolute_url("reading.person", user_id=user.id)}


def _edition_ref(edition: Edition) -> dict[str, Any]:
    return {"id": edition.id, "number": edition.number, "url": edition_url(edition.number),
            "api_url": api_url("editions", edition.id)}


def story_ref(story: Story) -> dict[str, Any]:
    return {"id": story.id, "title": item_title(story, 150),
            "url": absolute_url("reading.story", story_id=story.id),
            "api_url": api_url("stories", story.id)}


def quote_ref(quote: Quote, edition: Edition | None) -> dict[str, Any]:
    return {"id": quote.id, "text": item_title(quote, QUOTE_TEXT_MAX),
            "url": edition_url(edition.number) if edition is not None else None,
            "api_url": api_url("quotes", quote.id)}


def edition_sent(edition: Edition, stories: list[Story], quotes: list[Quote]) -> dict[str, Any]:
    return {
        **_edition_ref(edition),
        "subject": edition.subject,
        "sent_at": timestamp(edition.sent_at) if edition.sent_at else None,
        "stories": [story_ref(s) for s in stories],
        "quotes": [quote_ref(q, edition) for q in quotes],
    }


def story_published(story: Story, edition: Edition | None) -> dict[str, Any]:
    return {
        **story_ref(story),
        "author": _person(story.author),
        "team": {"id": story.team.id, "name": story.team.name} if story.team else None,
        "colleagues": [{"id": r.user_id, "name": r.display_name} for r in story.recognitions],
        "edition": _edition_ref(edition) if edition is not None else None,
    }


def quote_published(quote: Quote, edition: Edition | None) -> dict[str, Any]:
    return {**quote_ref(quote, edition),
            "edition": _edition_ref(edition) if edition is not None else None}


def colleague_featured(user: User, story: Story, edition: Edition | None) -> dict[str, Any]:
    return {"colleague": _person(user), "story": story_ref(story),
            "edition": _edition_ref(edition) if edition is not None else None}


def status_changed(
    item: Story | Quote | None, item_kind: str, item_id: int, old: str | None, new: str,
    edition: Edition | None = None,
) -> dict[str, Any]:
    """Ids and statuses; the title and links only when the item is published now."""
    data: dict[str, Any] = {"item_kind": item_kind, "item_id": item_id,
                            "old_status": old, "new_status": new,
                            "edition_id": edition.id if edition is not None else None}
    if new == "published" and item is not None and str(item.status) == "published":
        if isinstance(item, Story):
            data.update(title=item_title(item, 150), url=story_ref(item)["url"],
                        api_url=api_url("stories", item.id))
        else:
            data.update(url=quote_ref(item, edition)["url"], api_url=api_url("quotes", item.id))
    return data


def test_data(endpoint_id: int) -> dict[str, Any]:
    return {"endpoint_id": endpoint_id,
            "message": "A test delivery from Feel Good Fridays: the endpoint is reachable."}
