"""Demo history: a year-old edition and eleven recent weekly editions with deliveries, views,
applause and an audit trail, so the archive, "a year ago this week" and insights have data.

Everything is deterministic (a seeded random generator), written straight to the models with
the timestamps the workflow would have produced; no email is sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

from app.extensions import db
from app.models import AuditEvent
from app.models import Delivery
from app.models import DeliveryStatus
from app.models import Edition
from app.models import EditionItem
from app.models import EditionStatus
from app.models import EngagementEvent
from app.models import Quote
from app.models import QuoteSource
from app.models import Reaction
from app.models import Recognition
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.newsletter.compose import freeze_edition
from app.richtext import render_markdown

S = SubmissionStatus

# (title, body, touchpoint slug, tags)
HISTORY_STORIES = [
    (
        "The birthday cake that almost didn't arrive",
        "A customer's order for her daughter's birthday was stuck in a depot after a storm. "
        "**{c0}** found it on the tracking system, drove it over after their shift and "
        "arrived twenty minutes before the party.",
        "field",
        ["going the extra mile"],
    ),
    (
        "Explaining a confusing bill, line by line",
        "A small-business owner called convinced we had overcharged him. **{c0}** walked "
        "through every line with him, found a duplicate fee that was ours, refunded it on the "
        "call and followed up with a plain-language summary.",
        "phone",
        ["honesty", "behind the scenes"],
    ),
    (
        "A chat that turned a cancellation into a renewal",
        "A customer opened a chat to cancel after a bad delivery experience. **{c0}** listened "
        "first, fixed the delivery issue with Logistics in real time and the customer "
        "renewed for another year.",
        "chat",
        ["loyalty"],
    ),
    (
        "Finding a lost wedding ring in the returns room",
        "A customer realised her ring had slipped off while she packed a return. **{c0}** "
        "searched two days of parcels in the returns room and found it in a shoebox.",
        "store",
        ["going the extra mile"],
    ),
    (
        "Fixing the checkout for screen-reader users",
        "A customer who is blind told us our checkout trapped his screen reader. **{c0}** "
        "and **{c1}** reproduced it the same day and shipped a fix within the week; he "
        "wrote back to say it was the first online shop that listened.",
        "web",
        ["accessibility"],
    ),
    (
        "Payroll question answered before the customer hung up",
        "A charity's treasurer needed proof of payment for a grant deadline that afternoon. "
        "**{c0}** in Finance produced the statement while she was still on the phone.",
        "phone",
        ["speed", "behind the scenes"],
    ),
    (
        "A delivery window that fitted a night-shift nurse",
        "A nurse working nights could never be home for deliveries. **{c0}** set up a "
        "standing early-morning slot for her and told the drivers why.",
        "email",
        ["personal touch"],
    ),
    (
        "Restoring service after the storm",
        "When the storm took down three sites, **{c0}** and **{c1}** worked through the night "
        "so that customers woke up to working services and a clear message about what "
        "had happened.",
        "web",
        ["behind the scenes", "teamwork"],
    ),
    (
        "The store that stayed open ten minutes longer",
        "A father rushed in at closing time for a replacement school uniform. **{c0}** "
        "reopened the till, found the right size and walked him to his car with it.",
        "store",
        ["personal touch"],
    ),
    (
        "Answering a tweet with a real fix",
        "A customer posted a frustrated message about a broken link in our app. **{c0}** "
        "replied within minutes, asked Digital to fix it, and posted the fix publicly.",
        "social",
        ["speed"],
    ),
    (
        "A contract translated for a customer's mother",
        "A customer's elderly mother was anxious about signing a contract in English. "
        "**{c0}** arranged a call with a Portuguese-speaking colleague to go through it "
        "together.",
        "phone",
        ["personal touch", "accessibility"],
    ),
    (
        "A van driver who noticed something was wrong",
        "On a routine drop-off **{c0}** noticed an elderly customer hadn't collected her "
        "previous parcels. He alerted her neighbour, who found she had fallen; she is "
        "recovering well and sent the depot a card.",
        "field",
        ["going the extra mile"],
    ),
    (
        "Invoices a customer could finally understand",
        "A customer's accounts team struggled with our invoices every month. **{c0}** "
        "redesigned the layout with them, and the change now helps every business customer.",
        "email",
        ["behind the scenes"],
    ),
]

# (text, source, nps)
HISTORY_QUOTES = [
    ("I have never had a company call me back to check a fix worked. Impressive.", "call", 10),
    ("Quick, friendly and honest. That is all I ask for.", "survey", 9),
    ("The driver went out of his way for us. Thank you.", "review_site", 10),
    ("Good service, but it took two calls to sort out.", "survey", 7),
    ("Your chat team are patient and kind.", "chat", 9),
    ("The app is much easier to use since the update.", "email", 8),
    ("I was ready to leave and now I'm staying.", "survey", 10),
    ("Staff in the store made my son's day.", "in_person", 10),
    ("Delivery was late again, though the apology was sincere.", "survey", 4),
    ("Clear answers, no jargon. Refreshing.", "social_media", 9),
    ("They listened to the whole story before suggesting anything.", "call", 9),
    ("Fine overall; the website could be faster.", "survey", 6),
]


@dataclass
class DemoContext:
    users: list[User]
    editors: list[User]
    teams: dict[str, Team]
    touchpoints: dict[str, Touchpoint]
    tag: object  # callable name -> Tag
    zone: ZoneInfo
    now: datetime
    rng: random.Random


def friday_at_nine(weeks_ago: int, ctx: DemoContext) -> datetime:
    """Friday 09:00 local of the week `weeks_ago` weeks before now, as UTC."""
    local_now = ctx.now.astimezone(ctx.zone)
    days_since_friday = (local_now.weekday() - 4) % 7
    friday = local_now.date() - timedelta(days=days_since_friday + 7 * weeks_ago)
    local = datetime(friday.year, friday.month, friday.day, 9, 0, tzinfo=ctx.zone)
    if local >= local_now:  # this week's Friday has not come yet
        local -= timedelta(days=7)
    return local.astimezone(ctx.now.tzinfo)


def build_history(ctx: DemoContext, recent_items: list[Story | Quote]) -> None:
    """Editions: one a year ago, eleven weekly ones (one skipped), and last Friday's with
    `recent_items`. Numbers follow time order."""
    weeks = [52, *range(11, 0, -1)]
    story_snippets = iter(HISTORY_STORIES)
    quote_snippets = iter(HISTORY_QUOTES)
    number = 0
    for weeks_ago in weeks:
        sent_at = friday_at_nine(weeks_ago, ctx)
        number += 1
        if weeks_ago == 6:
            _skipped_edition(number, sent_at, ctx)
            continue
        items: list[Story | Quote] = []
        for _ in range(2 if weeks_ago in (3, 8) else 1):
            snippet = next(story_snippets, None)
            if snippet:
                items.append(_history_story(snippet, sent_at, ctx))
        snippet = next(quote_snippets, None)
        if snippet:
            items.append(_history_quote(snippet, sent_at, ctx))
        _sent_edition(number, sent_at, items, ctx)
    _sent_edition(number + 1, friday_at_nine(0, ctx), recent_items, ctx)


def _history_story(snippet, sent_at: datetime, ctx: DemoContext) -> Story:
    title, body, touchpoint, tags = snippet
    rng = ctx.rng
    author = rng.choice(ctx.users)
    # Recognize colleagues from other teams too: the back office is the point.
    colleagues = rng.sample([u for u in ctx.users if u is not author and u.team.name != "Legal"], 2)
    body = body.format(c0=colleagues[0].first_name, c1=colleagues[1].first_name)
    created = sent_at - timedelta(days=rng.randint(6, 12), hours=rng.randint(0, 8))
    story = Story(
        title=title,
        body_md=body,
        body_html=render_markdown(body),
        author=author,
        team=author.team,
        touchpoint=ctx.touchpoints[touchpoint],
        tags=[ctx.tag(t) for t in tags],
        customer_segment=rng.choice(["retail", "small business", "home services", "healthcare"]),
        status=S.PUBLISHED,
        created_at=created,
    )
    db.session.add(story)
    needed = 2 if "{c1}" in snippet[1] else 1
    for position, colleague in enumerate(colleagues[:needed]):
        story.recognitions.append(Recognition(user=colleague, position=position))
    _stamp_published(story, created, sent_at, ctx)
    return story


def _history_quote(snippet, sent_at: datetime, ctx: DemoContext) -> Quote:
    text, source, nps = snippet
    author = ctx.rng.choice(ctx.users)
    created = sent_at - timedelta(days=ctx.rng.randint(4, 10))
    quote = Quote(
        text=text,
        text_html=render_markdown(text),
        anonymous=True,
        source=QuoteSource(source),
        nps_score=nps,
        received_on=(created - timedelta(days=2)).date(),
        author=author,
        team=author.team,
        status=S.PUBLISHED,
        created_at=created,
    )
    db.session.add(quote)
    _stamp_published(quote, created, sent_at, ctx)
    return quote


def _stamp_published(item: Story | Quote, created: datetime, sent_at: datetime, ctx) -> None:
    item.submitted_at = created + timedelta(hours=1)
    item.decided_at = item.approved_at = created + timedelta(days=1, hours=ctx.rng.randint(1, 30))
    item.published_at = sent_at
    editor = ctx.rng.choice(ctx.editors)
    db.session.flush()
    for actor, action, when, frm, to in (
        (item.author, "submit", item.submitted_at, "draft", "submitted"),
        (editor, "approve", item.approved_at, "submitted", "approved"),
        (None, "publish", sent_at, "approved", "published"),
    ):
        record_transition(actor, item.kind, item.id, action, frm, to, when)


def _skipped_edition(number: int, when: datetime, ctx: DemoContext) -> None:
    edition = Edition(
        number=number,
        iso_week=_iso_week(when, ctx),
        subject="Quiet week",
        status=EditionStatus.SKIPPED,
        created_at=when - timedelta(days=7),
    )
    db.session.add(edition)
    db.session.flush()
    record_transition(
        ctx.rng.choice(ctx.editors), "edition", edition.id, "skip", "draft", "skipped",
        when - timedelta(hours=20),
    )


def _sent_edition(number: int, sent_at: datetime, items: list, ctx: DemoContext) -> Edition:
    stories = [i for i in items if isinstance(i, Story)]
    subject = stories[0].title if stories else "Voices of our customers"
    edition = Edition(
        number=number,
        iso_week=_iso_week(sent_at, ctx),
        subject=subject,
        intro_md=_intro(stories),
        status=EditionStatus.SENT,
        sending_started_at=sent_at,
        sent_at=sent_at,
        created_at=sent_at - timedelta(days=7),
        web_views=ctx.rng.randint(6, 30),
    )
    edition.intro_html = render_markdown(edition.intro_md)
    for position, item in enumerate(items):
        item.published_at = sent_at
        key = "story" if isinstance(item, Story) else "quote"
        edition.items.append(EditionItem(position=position, **{key: item}))
    db.session.add(edition)
    db.session.flush()
    freeze_edition(edition, now=sent_at)
    recipients = [u for u in ctx.users if u.created_at <= sent_at and u.receives_email]
    failed_at = ctx.rng.randrange(len(recipients)) if number % 4 == 0 else -1
    for i, user in enumerate(recipients):
        failed = i == failed_at
        db.session.add(
            Delivery(
                edition=edition,
                email=user.email,
                user=user,
                recipient_name=user.display_name,
                status=DeliveryStatus.FAILED if failed else DeliveryStatus.SENT,
                attempts=1,
                last_error="550 5.1.1 Mailbox unavailable" if failed else None,
                message_id=f"<fgf-{number}-{user.id}@demo.feelgood.local>",
                sent_at=None if failed else sent_at + timedelta(seconds=i),
                created_at=sent_at,
            )
        )
    edition.recipients_count = len(recipients)
    edition.failed_count = 1 if failed_at >= 0 else 0
    edition.sent_count = len(recipients) - edition.failed_count
    _readership(edition, items, sent_at, ctx)
    for story in stories:
        for fan in ctx.rng.sample(ctx.users, ctx.rng.randint(2, 9)):
            db.session.add(
                Reaction(
                    user=fan,
                    story_id=story.id,
                    created_at=sent_at + timedelta(hours=ctx.rng.randint(1, 72)),
                )
            )
    record_transition(
        None, "edition", edition.id, "finish_sending", "sending", "sent",
        sent_at + timedelta(minutes=3),
    )
    return edition


TAG_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _readership(edition: Edition, items: list, sent_at: datetime, ctx: DemoContext) -> None:
    """Opens and clicks as aggregate-only counting records them (a random tag per message, no
    person), so the edition report and insights have figures to show: about 6 in 10 messages
    opened, a few pre-fetched by a privacy proxy, a third of the readers clicking."""
    for _ in range(edition.sent_count):
        tag = "r" + "".join(ctx.rng.choices(TAG_ALPHABET, k=16))
        at = sent_at + timedelta(minutes=ctx.rng.randint(2, 3 * 24 * 60))
        if ctx.rng.random() < 0.08:
            db.session.add(EngagementEvent(edition_id=edition.id, kind="proxy_open", tag=tag,
                                           at=sent_at + timedelta(minutes=1)))
        if ctx.rng.random() >= 0.6:
            continue
        for n in range(ctx.rng.choice((1, 1, 1, 2, 3))):
            db.session.add(EngagementEvent(edition_id=edition.id, kind="open", tag=tag,
                                           at=at + timedelta(hours=n * 5)))
        if ctx.rng.random() < 0.35:
            item = ctx.rng.choice([*items, None])  # None: the "read on the web" link
            kind = None if item is None else ("story" if isinstance(item, Story) else "quote")
            db.session.add(EngagementEvent(
                edition_id=edition.id, kind="click", tag=tag, item_kind=kind,
                item_id=None if item is None else item.id, at=at + timedelta(minutes=1)))


def record_transition(
    actor: User | None,
    kind: str,
    object_id: int,
    action: str,
    frm: str,
    to: str,
    when: datetime,
    note: str | None = None,
) -> None:
    """A backdated AuditEvent as app.workflow records one, so demo history reads like real use."""
    details = {"from": frm, "to": to} | ({"note": note} if note else {})
    db.session.add(
        AuditEvent(
            actor=actor,
            action=f"{kind}.{action}",
            object_type=kind,
            object_id=object_id,
            details=details,
            created_at=when,
        )
    )


def _intro(stories: list[Story]) -> str:
    if not stories:
        return "A week of customers telling us, in their own words, what we got right."
    return (
        f"This week: *{stories[0].title.lower()}*"
        + (f", and {len(stories) - 1} more" if len(stories) > 1 else "")
        + ". Thank you to everyone who took a minute to share."
    )


def _iso_week(when: datetime, ctx: DemoContext) -> str:
    year, week, _ = when.astimezone(ctx.zone).isocalendar()
    return f"{year}-W{week:02d}"


def received_on(days_ago: int) -> date:
    return date.today() - timedelta(days=days_ago)


__all__ = [
    "DemoContext",
    "Tag",
    "build_history",
    "friday_at_nine",
    "received_on",
    "record_transition",
]
