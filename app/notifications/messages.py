"""The notifications about someone's own stories and quotes: decisions, publication, being
featured, applause, comments; and the editors' reminders.

Each function builds a `Notification` and hands it to `deliver` (preferences, then every
channel), inside the caller's transaction. Subscribers (app.notifications.subscribers) call them
after the change they announce was committed; nothing here is called by the code that made it.
The weekly-newsletter opt-out does not apply to the personal kinds: each has its own switch.

Links are absolute (BASE_URL) and built without needing a request, because subscribers run in
the scheduler as well as after web requests.
"""

from __future__ import annotations

from datetime import datetime

from app.models import Comment
from app.models import Edition
from app.models import Quote
from app.models import Story
from app.models import User
from app.notifications.delivery import deliver
from app.notifications.kinds import APPLAUSE
from app.notifications.kinds import COMMENTS
from app.notifications.kinds import EDITOR_REMINDERS
from app.notifications.kinds import FEATURED
from app.notifications.kinds import SUBMISSION_STATUS
from app.notifications.kinds import TEAM_FEATURED
from app.notifications.notification import Notification
from app.richtext import excerpt
from app.titles import item_title
from app.web.urls import absolute_url

SUBJECT_TITLE_MAX = 60
APPLAUDERS_NAMED = 5

def _edition_url(edition: Edition) -> str:
    return absolute_url("newsletter.edition", number=edition.number)


def _item_url(item: Story | Quote) -> str:
    if isinstance(item, Story):
        return absolute_url("submissions.my_story", story_id=item.id)
    return absolute_url("submissions.my_quote", quote_id=item.id)


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def _subject(template: str, item: Story | Quote) -> str:
    """Subject lines quote the title short and on one line (no header injection, ever)."""
    return _one_line(template.format(kind=item.kind, title=item_title(item, SUBJECT_TITLE_MAX)))


def _item_context(item: Story | Quote) -> dict[str, object]:
    return {
        "item": item,
        "kind": item.kind,
        "title": item_title(item),
        "item_url": _item_url(item),
    }


def _about_item(item: Story | Quote, subject: str, template: str, **context: object) -> bool:
    item_context = _item_context(item)
    return deliver(Notification(
        SUBMISSION_STATUS, item.author, _subject(subject, item), template,
        {**item_context, **context}, url=str(item_context["item_url"]),
    ))  # fmt: skip


def notify_approved(item: Story | Quote) -> bool:
    """Tell the author an editor approved their item for an upcoming edition."""
    return _about_item(item, "Your {kind} “{title}” was approved", "notify_approved")


def notify_changes_requested(item: Story | Quote, note: str) -> bool:
    """Pass the editor's note on, with a link straight to editing."""
    is_story = isinstance(item, Story)
    edit_endpoint = "submissions.edit_story" if is_story else "submissions.edit_quote"
    key = "story_id" if is_story else "quote_id"
    return _about_item(
        item, "An editor suggested changes to “{title}”", "notify_changes_requested",
        note=note or "", edit_url=absolute_url(edit_endpoint, **{key: item.id}),
    )  # fmt: skip


def notify_rejected(item: Story | Quote, reason: str) -> bool:
    return _about_item(
        item, "About your {kind} “{title}”", "notify_rejected",
        reason=reason or "", new_story_url=absolute_url("submissions.new_story"),
    )  # fmt: skip


def notify_published(
    author: User,
    items: list[Story | Quote],
    edition: Edition,
    changes: dict[int, str] | None = None,
) -> bool:
    """One email per author per edition, listing all their items in it.

    `changes` maps a story id to a readable summary of what the editor changed, shown as
    "What the editor changed" under that story.
    """
    if not items:
        return False
    changes = changes or {}
    entries = [
        {
            **_item_context(item),
            "changes": changes.get(item.id) if isinstance(item, Story) else None,
        }
        for item in items
    ]
    count = len(items)
    edition_url = _edition_url(edition)
    return deliver(Notification(
        SUBMISSION_STATUS, author,
        f"You're in Feel Good Fridays #{edition.number}!"
        if count == 1
        else f"{count} of your submissions are in Feel Good Fridays #{edition.number}!",
        "notify_published",
        {"entries": entries, "edition": edition, "edition_url": edition_url},
        url=edition_url,
    ))  # fmt: skip


def notify_featured(user: User, stories: list[Story], edition: Edition) -> bool:
    """"You were featured": one email per recognized colleague per edition, all stories in it."""
    if user is None or not stories:
        return False
    entries = [
        {
            "story": story,
            "title": item_title(story),
            "author_name": story.author.display_name,
            "customer": story.customer_display,
            "excerpt": excerpt(story.body_html, 240, is_html=True),
            "others": [
                r.display_name
                for r in story.recognitions
                if r.user_id != user.id and r.display_name
            ],
        }
        for story in stories
    ]
    edition_url = _edition_url(edition)
    return deliver(Notification(
        FEATURED, user, f"You were featured in Feel Good Fridays #{edition.number} 🎉",
        "notify_featured",
        {"entries": entries, "edition": edition, "edition_url": edition_url},
        url=edition_url,
    ))  # fmt: skip


def notify_team_featured(
    manager: User, members: list[tuple[User, list[Story]]], edition: Edition
) -> bool:
    """"Your team member made a customer's day": one email per manager per edition, naming each
    person they manage who was featured in it, with their stories."""
    if manager is None or not members:
        return False
    entries = [
        {
            "person": person,
            "name": person.display_name,
            "stories": [
                {
                    "title": item_title(story),
                    "author_name": story.author.display_name,
                    "customer": story.customer_display,
                    "url": absolute_url("reading.story", story_id=story.id),
                }
                for story in stories
            ],
        }
        for person, stories in members
    ]
    edition_url = _edition_url(edition)
    who = (entries[0]["name"] if len(entries) == 1
           else f"{len(entries)} people you manage")  # fmt: skip
    return deliver(Notification(
        TEAM_FEATURED, manager,
        _one_line(f"{who} made a customer's day: Feel Good Fridays #{edition.number}"),
        "notify_team_featured",
        {"entries": entries, "edition": edition, "edition_url": edition_url},
        url=edition_url,
    ))  # fmt: skip


def applauders_phrase(names: list[str]) -> str:
    """"Ana", "Ana and Ben", "Ana, Ben and Cy", "Ana, Ben, Cy, Dee, Eve and 3 others"."""
    shown, rest = names[:APPLAUDERS_NAMED], len(names) - APPLAUDERS_NAMED
    if rest > 0:
        return ", ".join(shown) + f" and {rest} {'other' if rest == 1 else 'others'}"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def notify_applause(story: Story, applauders: list[str], total: int) -> bool:
    """Who applauded `story` since the author was last told (at most daily, per story)."""
    if not applauders:
        return False
    story_url = absolute_url("reading.story", story_id=story.id)
    phrase = applauders_phrase(applauders)
    return deliver(Notification(
        APPLAUSE, story.author,
        _one_line(f"{phrase} applauded “{item_title(story, SUBJECT_TITLE_MAX)}”"),
        "notify_applause",
        {"story": story, "title": item_title(story), "applauders": applauders,
         "phrase": phrase, "total": total, "story_url": story_url},
        url=story_url,
    ))  # fmt: skip


def notify_comment(user: User, comment: Comment, *, is_author: bool) -> bool:
    """A colleague commented on `user`'s story (`is_author`) or on a story that names them.

    The comment is quoted as typed: plain text, escaped by the HTML part like any other value.
    """
    story = comment.story
    story_url = absolute_url("reading.story", story_id=story.id) + f"#comment-{comment.id}"
    commenter = comment.author.display_name
    where = "your story" if is_author else "a story about you"
    return deliver(Notification(
        COMMENTS, user,
        _one_line(f"{commenter} commented on {where} “{item_title(story, SUBJECT_TITLE_MAX)}”"),
        "notify_comment",
        {"story": story, "title": item_title(story), "comment": comment, "body": comment.body,
         "commenter": commenter, "is_author": is_author, "story_url": story_url},
        url=story_url,
    ))  # fmt: skip


def notify_edition_due_soon(
    editor: User, edition: Edition, due_at: datetime, *, waiting: int, items: int
) -> bool:
    """The reminder before the send time: the edition is empty or items wait for review."""
    return deliver(Notification(
        EDITOR_REMINDERS, editor, f"Feel Good Fridays #{edition.number} goes out soon",
        "newsletter_reminder",
        {"edition": edition, "due_at": due_at, "waiting": waiting, "items": items,
         "review_url": absolute_url("review.queue"),
         "edition_url": absolute_url("editions.upcoming")},
        url=absolute_url("editions.upcoming"),
    ))  # fmt: skip


def notify_edition_missed(
    editor: User, edition: Edition, due_at: datetime, now: datetime
) -> bool:
    """The edition's send time passed beyond the grace period: the week was given up."""
    page = _edition_url(edition)
    return deliver(Notification(
        EDITOR_REMINDERS, editor, f"Feel Good Fridays #{edition.number} was not sent",
        "newsletter_missed",
        {"edition": edition, "due_at": due_at, "now": now, "edition_url": page},
        url=page,
    ))  # fmt: skip
