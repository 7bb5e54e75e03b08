"""Emails about someone's own stories and quotes: decisions, publication, being featured.

Called by the review and newsletter features inside the transaction that makes the change;
every email goes through `send_email_after_commit`, so nothing is sent for a rolled-back
decision. Deactivated people get nothing. Newsletter opt-out does not apply: these are personal
notes about a person's own submissions (or about them), not the weekly newsletter.

Links are absolute (BASE_URL) and built without needing a request, because publication runs
from the scheduler as well as from web requests.
"""

from __future__ import annotations

from flask import current_app, has_request_context
from werkzeug.routing import BuildError

from app.mail import send_email_after_commit
from app.models import Edition, Quote, Story, User
from app.richtext import excerpt

SUBJECT_TITLE_MAX = 60

__all__ = [
    "notify_approved",
    "notify_changes_requested",
    "notify_featured",
    "notify_published",
    "notify_rejected",
]


def _absolute(endpoint: str, **values: object) -> str:
    """BASE_URL + path; `absolute_url` needs a request, the scheduler has none."""
    if has_request_context():
        from app.auth.services import absolute_url

        return absolute_url(endpoint, **values)
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return str(current_app.config["BASE_URL"]).rstrip("/") + path


def _edition_url(edition: Edition) -> str:
    if "newsletter.edition" in current_app.view_functions:
        try:
            return _absolute("newsletter.edition", number=edition.number)
        except BuildError:
            current_app.logger.warning("newsletter.edition link could not be built")
    return str(current_app.config["BASE_URL"]).rstrip("/") + "/"


def _item_url(item: Story | Quote) -> str:
    if isinstance(item, Story):
        return _absolute("submissions.my_story", story_id=item.id)
    return _absolute("submissions.my_quote", quote_id=item.id)


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def item_title(item: Story | Quote, length: int = 120) -> str:
    """How an item is named in emails: the story title, or the start of the quote."""
    if isinstance(item, Story):
        title = _one_line(item.title)
        return title if len(title) <= length else title[: length - 1].rstrip() + "…"
    return _one_line(excerpt(item.text, length))


def _subject(template: str, item: Story | Quote) -> str:
    """Subject lines quote the title short and on one line (no header injection, ever)."""
    return _one_line(template.format(kind=item.kind, title=item_title(item, SUBJECT_TITLE_MAX)))


def _reachable(user: User | None) -> bool:
    return user is not None and user.is_active_user and bool(user.email)


def _item_context(item: Story | Quote) -> dict[str, object]:
    return {
        "item": item,
        "kind": item.kind,
        "title": item_title(item),
        "item_url": _item_url(item),
    }


def notify_approved(item: Story | Quote) -> None:
    """Tell the author an editor approved their item for an upcoming edition."""
    author = item.author
    if not _reachable(author):
        return
    send_email_after_commit(
        author.email,
        _subject("Your {kind} “{title}” was approved", item),
        "notify_approved",
        user=author,
        **_item_context(item),
    )


def notify_changes_requested(item: Story | Quote, note: str) -> None:
    """Pass the editor's note on, with a link straight to editing."""
    author = item.author
    if not _reachable(author):
        return
    is_story = isinstance(item, Story)
    edit_endpoint = "submissions.edit_story" if is_story else "submissions.edit_quote"
    key = "story_id" if is_story else "quote_id"
    send_email_after_commit(
        author.email,
        _subject("An editor suggested changes to “{title}”", item),
        "notify_changes_requested",
        user=author,
        note=note or "",
        edit_url=_absolute(edit_endpoint, **{key: item.id}),
        **_item_context(item),
    )


def notify_rejected(item: Story | Quote, reason: str) -> None:
    author = item.author
    if not _reachable(author):
        return
    send_email_after_commit(
        author.email,
        _subject("About your {kind} “{title}”", item),
        "notify_rejected",
        user=author,
        reason=reason or "",
        new_story_url=_absolute("submissions.new_story"),
        **_item_context(item),
    )


def notify_published(
    author: User,
    items: list[Story | Quote],
    edition: Edition,
    changes: dict[int, str] | None = None,
) -> None:
    """One email per author per edition, listing all their items in it.

    `changes` maps a story id to a readable summary of what the editor changed, shown as
    "What the editor changed" under that story.
    """
    if not _reachable(author) or not items:
        return
    changes = changes or {}
    entries = [
        {
            **_item_context(item),
            "changes": changes.get(item.id) if isinstance(item, Story) else None,
        }
        for item in items
    ]
    count = len(items)
    send_email_after_commit(
        author.email,
        f"You're in Feel Good Fridays #{edition.number}!"
        if count == 1
        else f"{count} of your submissions are in Feel Good Fridays #{edition.number}!",
        "notify_published",
        user=author,
        entries=entries,
        edition=edition,
        edition_url=_edition_url(edition),
    )


def notify_featured(user: User, stories: list[Story], edition: Edition) -> None:
    """"You were featured": one email per recognized colleague per edition, all stories in it."""
    if not _reachable(user) or not stories:
        return
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
    send_email_after_commit(
        user.email,
        f"You were featured in Feel Good Fridays #{edition.number} 🎉",
        "notify_featured",
        user=user,
        entries=entries,
        edition=edition,
        edition_url=_edition_url(edition),
    )
