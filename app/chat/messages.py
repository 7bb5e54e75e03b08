"""What each happening says in a chat channel, as a platform-neutral `Message` (plain text;
the providers escape and cap it). Built in the subscriber's transaction from the rows as they
are then, and stored as the provider's JSON with the post.

Links are absolute (BASE_URL), built without a request: subscribers run after web requests and
in the scheduler alike.
"""

from __future__ import annotations

from app.chat.providers import Entry
from app.chat.providers import Message
from app.models import ChatDestination
from app.models import Edition
from app.models import Story
from app.models import User
from app.newsletter.links import edition_url
from app.richtext import excerpt
from app.text import join_names
from app.titles import item_title
from app.web.urls import absolute_url

ENTRIES_MAX = 5  # stories listed in an "edition sent" post; the rest are counted
INTRO_MAX = 600
STORY_EXCERPT_MAX = 300


def story_url(story: Story) -> str:
    return absolute_url("reading.story", story_id=story.id)


def _colleagues(story: Story) -> list[str]:
    return [name for r in story.recognitions if (name := r.display_name)]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def edition_sent(edition: Edition, stories: list[Story], quotes: int) -> Message:
    """The edition's subject and intro, its first stories with their colleagues, a link."""
    name = f"Feel Good Fridays #{edition.number}"
    title = f"{name}: {edition.subject}" if edition.subject.strip() else f"{name} is out"
    entries = []
    for story in stories[:ENTRIES_MAX]:
        names = _colleagues(story)
        people = f"With {join_names(names)}" if names else f"By {story.author.display_name}"
        entries.append(Entry(item_title(story, 150), story_url(story), people))
    counts = [_plural(len(stories), "story", "stories")] if stories else []
    if quotes:
        counts.append(_plural(quotes, "customer quote", "customer quotes"))
    note = " and ".join(counts) + " in this edition" if counts else ""
    if len(stories) > ENTRIES_MAX:
        more = len(stories) - ENTRIES_MAX
        note += f" ({_plural(more, 'more story', 'more stories')} in the edition)"
    intro = excerpt(edition.intro_md, INTRO_MAX) if edition.intro_md.strip() else ""
    return Message(
        title=title,
        text=intro,
        entries=entries,
        note=note,
        link_label="Read the edition",
        link_url=edition_url(edition.number),
        fallback=f"{name} is out: {edition.subject or 'this week’s stories'}",
    )


def colleague_featured(user: User, story: Story, edition: Edition) -> Message:
    """A shout-out: who was featured, for which story, a link to it."""
    title = item_title(story, 150)
    return Message(
        title=f"🎉 A shout-out for {user.display_name}",
        text=(f"{user.display_name} is featured in Feel Good Fridays #{edition.number} "
              f"for making a customer’s day: “{title}”, a story by "
              f"{story.author.display_name}."),
        note=f"About {story.customer_display}",
        link_label="Read the story",
        link_url=story_url(story),
        fallback=f"A shout-out for {user.display_name}: “{title}”",
    )


def story_published(story: Story) -> Message:
    """"New story published": its title, the start of the story, who and which team."""
    title = item_title(story, 150)
    names = _colleagues(story)
    note = [f"By {story.author.display_name}"]
    if names:
        note.append(f"with {join_names(names)}")
    if story.team is not None:
        note.append(story.team.name)
    return Message(
        title=f"New story: {title}",
        text=excerpt(story.body_md, STORY_EXCERPT_MAX, max_lines=4),
        note=" · ".join(note),
        link_label="Read the story",
        link_url=story_url(story),
        fallback=f"New story published: “{title}”",
    )


def check_post(destination: ChatDestination) -> Message:
    """What "Send a test post" sends: proof the URL works, and what the channel will get."""
    chosen = [label for on, label in (
        (destination.on_edition_sent, "each edition when it is sent"),
        (destination.on_colleague_featured, "shout-outs for featured colleagues"),
        (destination.on_story_published, "each new story published"),
    ) if on]  # fmt: skip
    gets = (f"This channel will get {join_names(chosen)}." if chosen
            else "No announcements are chosen for this channel yet.")
    return Message(
        title="Test post from Feel Good Fridays",
        text=f"The destination “{destination.name}” is connected. {gets}",
        link_label="Open Feel Good Fridays",
        link_url=absolute_url(),
        fallback="Test post from Feel Good Fridays",
    )
