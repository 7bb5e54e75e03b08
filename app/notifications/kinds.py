"""The kinds of notification a person can receive, each switchable on its own (except the
essential ones). The profile page lists them in this order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    key: str  # stored in notification_preferences.kind and signed into unsubscribe links
    label: str
    description: str
    essential: bool = False  # always sent; no switch, no unsubscribe link
    default: bool = True  # before the person chooses
    editors_only: bool = False  # only editors and admins receive it, so only they see it


WEEKLY = Kind(
    "weekly_edition", "The weekly edition",
    "The Feel Good Fridays email every Friday. Every edition stays readable on the site.",
)  # fmt: skip
SUBMISSION_STATUS = Kind(
    "submission_status", "My submissions’ status",
    "When an editor approves, asks for changes to or turns down your story or quote, and when "
    "it is published.",
)  # fmt: skip
FEATURED = Kind(
    "featured", "I was featured",
    "When a colleague’s story that names you goes out in an edition.",
)  # fmt: skip
TEAM_FEATURED = Kind(
    "team_featured", "A person I manage was featured",
    "When someone you manage is named in a story that goes out in an edition (one email per "
    "edition, however many of them are in it).",
)  # fmt: skip
APPLAUSE = Kind(
    "applause", "Someone applauded my story",
    "At most one email a day per story, naming who applauded since the last one.",
)  # fmt: skip
COMMENTS = Kind(
    "comments", "Comments on my stories",
    "When a colleague comments on a story you shared or a story that names you.",
)  # fmt: skip
EDITOR_REMINDERS = Kind(
    "editor_reminders", "Editor reminders",
    "Before the send time when the edition is empty or items wait for review, and when an "
    "edition missed its send time.",
    editors_only=True,
)  # fmt: skip
ACCOUNT = Kind(
    "account", "Account and security",
    "Invitations, password resets and password changes. Always sent.",
    essential=True,
)  # fmt: skip

KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        WEEKLY, SUBMISSION_STATUS, FEATURED, TEAM_FEATURED, APPLAUSE, COMMENTS, EDITOR_REMINDERS,
        ACCOUNT,
    )
}
