"""Demo data for `make run`: people in several teams, stories and quotes in every status, and a
past edition, so every page has something to show. Idempotent: a second run changes nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from zoneinfo import ZoneInfo

from werkzeug.security import generate_password_hash

from app.demo_history import DemoContext
from app.demo_history import build_history
from app.demo_history import record_transition
from app.editions.services import ensure_upcoming
from app.extensions import db
from app.models import Origin
from app.models import Quote
from app.models import QuoteSource
from app.models import Recognition
from app.models import Role
from app.models import Scale
from app.models import Story
from app.models import SubmissionStatus
from app.models import Tag
from app.models import Team
from app.models import Touchpoint
from app.models import User
from app.models import Verbatim
from app.models import VoiceImport
from app.models import VoiceSource
from app.models import utcnow
from app.richtext import render_markdown
from app.settings import set_settings
from app.voice import curation
from app.voice import services as voice

DEMO_TIMEZONE = "Europe/London"
DEMO_PASSWORD = "feelgood-demo"  # noqa: S105 - demo accounts on a developer's machine
S = SubmissionStatus

TEAMS = [
    "Retail Stores",
    "Contact Centre",
    "Digital",
    "Field Service",
    "Finance",
    "IT Operations",
    "Logistics",
    "People & Culture",
    "Legal",
]

PEOPLE = [
    # (email, name, role, team)
    ("admin@example.com", "Alex Morgan", Role.ADMIN, "People & Culture"),
    ("dana@example.com", "Dana Whitfield", Role.EDITOR, "People & Culture"),
    ("sam@example.com", "Sam Okafor", Role.EDITOR, "Digital"),
    ("priya@example.com", "Priya Raman", Role.EMPLOYEE, "Contact Centre"),
    ("lucas@example.com", "Lucas Ferreira", Role.EMPLOYEE, "Retail Stores"),
    ("mei@example.com", "Mei Tanaka", Role.EMPLOYEE, "Digital"),
    ("jonas@example.com", "Jonas Berg", Role.EMPLOYEE, "Field Service"),
    ("amina@example.com", "Amina Diallo", Role.EMPLOYEE, "Finance"),
    ("tom@example.com", "Tom Gallagher", Role.EMPLOYEE, "IT Operations"),
    ("sofia@example.com", "Sofia Marquez", Role.EMPLOYEE, "Logistics"),
    ("noah@example.com", "Noah Levi", Role.EMPLOYEE, "Contact Centre"),
    ("grace@example.com", "Grace Kim", Role.EMPLOYEE, "Retail Stores"),
    ("omar@example.com", "Omar Haddad", Role.EMPLOYEE, "Finance"),
    ("ella@example.com", "Ella Novak", Role.EMPLOYEE, "Logistics"),
    ("ravi@example.com", "Ravi Patel", Role.EMPLOYEE, "IT Operations"),
]

# More colleagues so lists paginate and every team has people (names only; roles: employee).
EXTRA_PEOPLE = [
    ("Hugo Lambert", "Retail Stores"),
    ("Zara Ahmed", "Contact Centre"),
    ("Felix Wagner", "Digital"),
    ("Ines Costa", "Field Service"),
    ("Yusuf Demir", "Finance"),
    ("Chloe Martin", "IT Operations"),
    ("Kwame Mensah", "Logistics"),
    ("Anya Petrova", "People & Culture"),
    ("Leo Rossi", "Retail Stores"),
    ("Maya Cohen", "Contact Centre"),
    ("Oscar Lindqvist", "Legal"),
    ("Nina Schulz", "Digital"),
    ("Diego Alvarez", "Field Service"),
    ("Fatima Zahra", "Finance"),
]

STORIES = [
    # (author, title, body, touchpoint, team, colleagues, free names, tags, status, customer)
    (
        "priya@example.com",
        "A late-night call that saved a family holiday",
        "A customer rang at 11 pm: her card had been blocked at an airport check-in desk, "
        "two children in tow and a flight boarding in forty minutes.\n\n"
        "**Noah** stayed on the line, verified her identity, lifted the block and then "
        "called the airline's desk himself to explain. She boarded with ten minutes to spare.\n\n"
        '> "I expected a script. I got a person who cared whether we made it."\n\n'
        "Noah wrote up the gap in our overnight verification process the next morning, and "
        "Finance changed the rule within a week.",
        "phone",
        "Contact Centre",
        ["noah@example.com", "amina@example.com"],
        [],
        ["going the extra mile", "travel"],
        S.PUBLISHED,
        ("Hannah", "", "retail banking", False),
    ),
    (
        "lucas@example.com",
        "The wedding suit fixed in an afternoon",
        "A groom came into the Market Street store the day before his wedding: the suit he "
        "had ordered online was two sizes too large.\n\n"
        "Grace called three stores, found the right size, and **Sofia** in Logistics put it "
        "on the afternoon van instead of the next-day route. He tried it on at 5 pm.\n\n"
        "- No extra charge\n- A handwritten card from the team\n- A photo from the wedding, "
        "sent to the store a week later",
        "store",
        "Retail Stores",
        ["grace@example.com", "sofia@example.com"],
        ["Marco (Market Street tailoring)"],
        ["teamwork", "speed"],
        S.PUBLISHED,
        ("Daniel Price", "", "retail", True),
    ),
    (
        "mei@example.com",
        "Making the app readable for a customer with low vision",
        "A long-time customer emailed to say she could no longer read our statements in the "
        "app after her eyesight changed.\n\nMei and **Ravi** sat with her on a video call, "
        "found that our text ignored her phone's font size, and shipped a fix two weeks later. "
        "She now checks her balance herself again, which she said mattered more than anything.",
        "web",
        "Digital",
        ["ravi@example.com"],
        [],
        ["accessibility"],
        S.APPROVED,
        ("", "", "personal banking", False),
    ),
    (
        "jonas@example.com",
        "Fixing the boiler, and the paperwork",
        "On a routine field visit Jonas found that an elderly customer had been paying twice "
        "for the same maintenance plan for a year.\n\nHe fixed the boiler, then called "
        "**Omar** in Finance from the driveway. The refund was on its way before he left.",
        "field",
        "Field Service",
        ["omar@example.com"],
        [],
        ["honesty"],
        S.SUBMITTED,
        ("", "", "home services", False),
    ),
    (
        "tom@example.com",
        "Restoring a small shop's payments on a Saturday",
        "A bakery's card terminal went down on the busiest morning of the year. Tom traced the "
        "fault to an expired certificate on our side, and **Ravi** pushed the renewal "
        "from home.\n\n"
        "The owner told us queue times were back to normal within twenty minutes.",
        "phone",
        "IT Operations",
        ["ravi@example.com"],
        [],
        ["behind the scenes"],
        S.SUBMITTED,
        ("Rosa's Bakery", "Rosa's Bakery", "small business", True),
    ),
    (
        "sofia@example.com",
        "A parcel rerouted mid-journey",
        "A customer moving house realised his new furniture was heading to the old address. "
        "Ella rerouted the pallet mid-journey and booked a delivery slot that suited him.",
        "chat",
        "Logistics",
        ["ella@example.com"],
        [],
        ["speed"],
        S.CHANGES_REQUESTED,
        ("", "", "home furnishing", False),
    ),
    (
        "grace@example.com",
        "Draft: the school trip refund",
        "Still writing this one: a teacher needed refunds for thirty pupils after a trip was "
        "cancelled, and Amina sorted them all in one afternoon.",
        "email",
        "Retail Stores",
        ["amina@example.com"],
        [],
        [],
        S.DRAFT,
        ("", "", "education", False),
    ),
    (
        "noah@example.com",
        "Rejected example: a complaint handled by the book",
        "A customer complained and we followed the standard process to resolve it, which "
        "worked as designed.",
        "email",
        "Contact Centre",
        [],
        [],
        [],
        S.REJECTED,
        ("", "", "", False),
    ),
]

QUOTES = [
    # (author, text, name, role, org, anonymous, consent, source, nps, status)
    (
        "priya@example.com",
        "Noah treated my problem like it was his own. I'll tell everyone about that call.",
        "Hannah",
        "",
        "",
        True,
        False,
        QuoteSource.SURVEY,
        10,
        S.PUBLISHED,
    ),
    (
        "lucas@example.com",
        "Best customer service I've had anywhere, online or in a shop.",
        "Daniel Price",
        "Groom",
        "",
        False,
        True,
        QuoteSource.REVIEW_SITE,
        None,
        S.PUBLISHED,
    ),
    (
        "mei@example.com",
        "The new text size setting gave me my independence back.",
        "",
        "",
        "",
        True,
        False,
        QuoteSource.EMAIL,
        9,
        S.APPROVED,
    ),
    (
        "tom@example.com",
        "Twenty minutes from panic to paying customers again. Thank you!",
        "Rosa Lima",
        "Owner",
        "Rosa's Bakery",
        False,
        True,
        QuoteSource.CALL,
        10,
        S.SUBMITTED,
    ),
    (
        "sofia@example.com",
        "Delivery was fine, a bit late, but the driver was kind.",
        "",
        "",
        "",
        True,
        False,
        QuoteSource.SURVEY,
        7,
        S.SUBMITTED,
    ),
    (
        "grace@example.com",
        "Waited twenty minutes at the till, but the staff made up for it.",
        "",
        "",
        "",
        True,
        False,
        QuoteSource.IN_PERSON,
        5,
        S.DRAFT,
    ),
]

# The customer's voice: where comments come from, then ~60 of them (app/voice). Each goes in
# through the same intake as a real import or email (redaction, bands, mentions), so the
# inbox shows tokens like [email] and suggests the colleagues named.
VOICE_SOURCES = [
    # (slug, name, channel, scale)
    ("qualtrics-nps", "Qualtrics relationship NPS", QuoteSource.SURVEY, Scale.NPS),
    ("medallia-csat", "Medallia store CSAT", QuoteSource.SURVEY, Scale.CSAT),
    ("trustpilot", "Trustpilot reviews", QuoteSource.REVIEW_SITE, None),
]
VERBATIMS = [
    # (source slug or "email" with the forwarding colleague, days ago, score, touchpoint,
    #  team, text)
    ("qualtrics-nps", 1, 10, "phone", "Contact Centre",
     "Noah Levi stayed on the line until my card worked abroad. Could not have asked for more."),
    ("qualtrics-nps", 1, 9, "store", "Retail Stores",
     "Grace Kim found the last size in the back and held it for me until after work."),
    ("qualtrics-nps", 2, 3, "phone", "Contact Centre",
     "Forty minutes on hold and then the call dropped. Please call me back on 07700 900123."),
    ("qualtrics-nps", 2, 8, "web", "Digital",
     "The app is fine, the new statement screen is clearer than before."),
    ("qualtrics-nps", 3, 10, "field", "Field Service",
     "Jonas Berg came out on a Sunday and explained everything he did. Proper service."),
    ("qualtrics-nps", 3, 6, "store", "Retail Stores", "Queue was long and only one till was open."),
    ("qualtrics-nps", 4, 9, "chat", "Digital",
     "Mei Tanaka on the chat sorted my login in two minutes, lovely and patient."),
    ("qualtrics-nps", 4, 7, "phone", "Contact Centre",
     "Got there in the end, but I had to explain the problem twice."),
    ("qualtrics-nps", 5, 10, "phone", "Finance",
     "Amina Diallo spotted the double charge before I did and refunded it the same day."),
    ("qualtrics-nps", 5, 2, "web", "Digital",
     "Your website logged me out three times while paying. Order 88231-B still not confirmed."),
    ("qualtrics-nps", 6, 9, "store", "Retail Stores",
     "Lucas Ferreira remembered my dog's name. Small thing, made my week."),
    ("qualtrics-nps", 7, 10, "phone", "Contact Centre",
     "Priya Raman called me back when she said she would, to the minute. Rare these days!"),
    ("qualtrics-nps", 7, 5, "email", "Contact Centre",
     "I wrote to you from anna.k@example.net twice and only got automatic replies."),
    ("qualtrics-nps", 8, 8, "store", "Retail Stores",
     "Friendly staff, shame the shelves were half empty."),
    ("qualtrics-nps", 9, 9, "field", "Field Service",
     "The engineer was on time, tidy and even fixed the dripping tap while he was there."),
    ("qualtrics-nps", 10, 10, "phone", "IT Operations",
     "Tom Gallagher got our shop's card machines back online during the Saturday rush. Saved "
     "our day."),
    ("qualtrics-nps", 11, 4, "phone", "Contact Centre",
     "Nobody could tell me where my parcel was."),
    ("qualtrics-nps", 12, 9, "web", "Digital",
     "Best banking app I have used, the budgeting view is brilliant."),
    ("qualtrics-nps", 13, 10, "store", "Logistics",
     "Sofia Marquez rearranged the delivery so I could be at my mum's. Thank you Sofia."),
    ("qualtrics-nps", 14, 0, "phone", "Contact Centre",
     "Worst experience ever. Call me on +44 20 7946 0958, I want this escalated."),
    ("qualtrics-nps", 15, 8, "chat", "Digital",
     "Quick answers on the chat, though the bot at the start is a bit useless."),
    ("qualtrics-nps", 16, 9, "store", "Retail Stores",
     "Spotless shop and the team clearly enjoy working together."),
    ("qualtrics-nps", 18, 10, "phone", "Finance",
     "Omar Haddad walked me through the whole mortgage switch without any jargon."),
    ("qualtrics-nps", 20, 7, "field", "Field Service",
     "Technician was polite, the appointment window was four hours though."),
    ("qualtrics-nps", 22, 10, "phone", "Contact Centre",
     "Noah Levi and Priya Raman both helped, and neither made me repeat myself."),
    ("qualtrics-nps", 25, 6, "web", "Digital", "Password reset emails take ages to arrive."),
    ("qualtrics-nps", 28, 9, "store", "Retail Stores",
     "Grace Kim and Lucas Ferreira carried my shopping to the car in the rain."),
    ("qualtrics-nps", 30, 3, "store", "Retail Stores",
     "The self-checkout charged me twice and nobody was around to help."),
    ("qualtrics-nps", 35, 10, "field", "Field Service",
     "Jonas Berg is a credit to your company. Kind, clever and quick."),
    ("qualtrics-nps", 40, 8, "phone", "Contact Centre", "Solved, but it took two calls."),
    ("medallia-csat", 1, 5, "store", "Retail Stores",
     "Excellent, the new click and collect counter is so quick."),
    ("medallia-csat", 2, 4, "store", "Retail Stores",
     "Helpful staff. Grace Kim knew exactly which adapter I needed."),
    ("medallia-csat", 3, 2, "store", "Retail Stores",
     "Changing rooms were closed with no explanation."),
    ("medallia-csat", 4, 5, "store", "Retail Stores",
     "Lucas Ferreira went to another branch to find my size. Above and beyond."),
    ("medallia-csat", 6, 3, "store", "Retail Stores",
     "Average visit. Nothing wrong, nothing special."),
    ("medallia-csat", 8, 5, "store", "Logistics",
     "Delivery arrived a day early and the driver, Ella Novak, rang ahead."),
    ("medallia-csat", 9, 1, "store", "Retail Stores", "Rude security guard at the entrance."),
    ("medallia-csat", 11, 4, "store", "Retail Stores",
     "Good prices and the staff were happy to help me compare."),
    ("medallia-csat", 13, 5, "store", "Retail Stores",
     "The manager opened early for my wheelchair-accessible appointment."),
    ("medallia-csat", 15, 2, "store", "Retail Stores",
     "Receipt printer broken, so I had to give my email ravi.s@example.org for the receipt."),
    ("medallia-csat", 19, 5, "store", "Retail Stores",
     "Always a pleasure, this shop feels like a neighbourhood shop."),
    ("medallia-csat", 24, 4, "store", "Logistics", "Easy return, refund came through in two days."),
    ("trustpilot", 2, None, "web", "Digital",
     "Five stars. Set up my account on the app in ten minutes and Mei Tanaka from support "
     "followed up personally."),
    ("trustpilot", 5, None, "phone", "Contact Centre",
     "Three stars: helpful people, slow systems."),
    ("trustpilot", 9, None, "field", "Field Service",
     "The engineer diagnosed a fault two others had missed. Highly recommend."),
    ("trustpilot", 14, None, "web", "Digital",
     "One star. Card 4111 1111 1111 1111 was charged twice for one order."),
    ("trustpilot", 21, None, "store", "Retail Stores",
     "Lovely staff at the high street branch, they made my daughter's first bank account a "
     "real event."),
    ("trustpilot", 27, None, "phone", "Finance",
     "Amina Diallo in billing is a star, sorted a two-year-old mess in one call."),
    ("trustpilot", 33, None, "chat", "Digital",
     "Chat support answered at 11pm. Genuinely impressed."),
    ("trustpilot", 44, None, "web", "Digital", "App keeps crashing on older phones."),
    ("email", 1, None, "phone", "Contact Centre",
     "Dear team, I wanted to say how grateful I am to Noah Levi, who calmed me down after my "
     "wallet was stolen and blocked everything in minutes."),
    ("email", 2, None, "store", "Retail Stores",
     "Hello, please pass my thanks to the young man at the till, Lucas Ferreira, who noticed I"
     " had dropped my glove and ran after me."),
    ("email", 4, None, "field", "Field Service",
     "Your technician Jonas Berg was so kind to my elderly father. Dad has talked of nothing "
     "else all week."),
    ("email", 6, None, "phone", "Finance",
     "Thank you for sorting the refund so quickly. You can reach me on 020 7946 0018 if you "
     "need anything else."),
    ("email", 9, None, "web", "Digital",
     "Just a note to say the new app update is wonderful. Whoever designed the larger text "
     "option, thank you!"),
    ("email", 12, None, "store", "Logistics",
     "Sofia Marquez and the delivery team got our wedding order to the venue on time despite "
     "the snow."),
    ("email", 17, None, "phone", "IT Operations",
     "Ravi Patel stayed late to get our office back online. We would have lost a whole day of "
     "orders."),
    ("email", 23, None, "phone", "Contact Centre",
     "I've been a customer for 20 years and this was the best service I've had. Priya Raman "
     "deserves a medal."),
    ("email", 31, None, "store", "Retail Stores",
     "Merci beaucoup à Grace Kim pour son accueil chaleureux, mon anglais n'est pas parfait et"
     " elle a été très patiente."),
    ("email", 38, None, "chat", "Digital",
     "Please thank Mei Tanaka for her help with my account, my email is j.doe@example.com if "
     "she wants to reply."),
]
# Who forwarded each email (in order), and the ones editors already set aside.
EMAIL_SHARERS = ["priya@example.com", "grace@example.com", "jonas@example.com",
                 "amina@example.com", "mei@example.com", "sofia@example.com",
                 "tom@example.com", "noah@example.com", "lucas@example.com", "dana@example.com"]
DISMISSED_VERBATIMS = 3  # the oldest detractor comments without a colleague


@dataclass
class SeedResult:
    created: bool
    password: str = DEMO_PASSWORD
    logins: list[tuple[str, str]] = field(default_factory=list)


def _logins() -> list[tuple[str, str]]:
    order = {Role.ADMIN: 0, Role.EDITOR: 1, Role.EMPLOYEE: 2}
    people = sorted(PEOPLE, key=lambda p: order[p[2]])
    return [(role.value, email) for email, _name, role, _team in people[:5]]


def seed_demo() -> SeedResult:
    """Load the demo once; returns the logins to print."""
    if db.session.scalar(db.select(User.id).where(User.email == PEOPLE[0][0])) is not None:
        return SeedResult(created=False, logins=_logins())
    now = utcnow()
    teams = {name: Team(name=name) for name in TEAMS}
    db.session.add_all(teams.values())
    users: dict[str, User] = {}
    # One hash shared by every demo account: scrypt is slow by design, 15 of them add seconds.
    password_hash = generate_password_hash(DEMO_PASSWORD, method="scrypt")
    for email, name, role, team in PEOPLE:
        user = User(email=email, display_name=name, role=role, team=teams[team])
        user.password_hash = password_hash
        user.created_at = now - timedelta(days=400)
        user.last_login_at = now - timedelta(days=len(users) % 9, hours=len(users))
        users[email] = user
        db.session.add(user)
    users["sam@example.com"].timezone = "America/New_York"  # shows send times in two zones
    extra = _extra_people(teams, password_hash, now)
    touchpoints = {t.slug: t for t in db.session.scalars(db.select(Touchpoint))}
    tags: dict[str, Tag] = {}

    def tag(name: str) -> Tag:
        if name not in tags:
            tags[name] = Tag(name=name)
        return tags[name]

    stories = []
    for i, (author, title, body, tp, team, colleagues, names, tag_names, status, cust) in enumerate(
        STORIES
    ):
        created = now - timedelta(days=30 - i * 3)
        story = Story(
            title=title,
            body_md=body,
            body_html=render_markdown(body),
            author=users[author],
            team=teams[team],
            touchpoint=touchpoints.get(tp),
            tags=[tag(t) for t in tag_names],
            customer_name=cust[0] or None,
            customer_organization=cust[1] or None,
            customer_segment=cust[2] or None,
            customer_consent=cust[3],
            status=status,
            created_at=created,
        )
        position = 0
        for email in colleagues:
            story.recognitions.append(Recognition(user=users[email], position=position))
            position += 1
        for name in names:
            story.recognitions.append(Recognition(name=name, position=position))
            position += 1
        _stamp(story, status, created)
        stories.append(story)
        db.session.add(story)

    quotes = []
    for i, (author, text, name, role, org, anon, consent, source, nps, status) in enumerate(QUOTES):
        created = now - timedelta(days=28 - i * 3)
        quote = Quote(
            text=text,
            text_html=render_markdown(text),
            customer_name=name or None,
            customer_role=role or None,
            customer_organization=org or None,
            anonymous=anon,
            customer_consent=consent,
            source=source,
            nps_score=nps,
            received_on=date.today() - timedelta(days=30 - i),
            author=users[author],
            team=users[author].team,
            status=status,
            created_at=created,
        )
        _stamp(quote, status, created)
        quotes.append(quote)
        db.session.add(quote)

    set_settings({"timezone": DEMO_TIMEZONE}, actor=users[PEOPLE[0][0]])
    db.session.flush()
    for item in [*stories, *quotes]:
        _current_events(item, users)
    recent = [i for i in [*stories, *quotes] if i.status == S.PUBLISHED]
    everyone = [*users.values(), *extra]
    ctx = DemoContext(
        users=[u for u in everyone if u.is_active_user and u.has_password],
        editors=[u for u in users.values() if u.is_editor],
        teams=teams,
        touchpoints=touchpoints,
        tag=tag,
        zone=ZoneInfo(DEMO_TIMEZONE),
        now=now,
        rng=random.Random(2026),
    )
    build_history(ctx, recent)
    db.session.flush()
    _seed_voice(users, teams, touchpoints)
    ensure_upcoming()  # approved items waiting for an edition join the upcoming one
    db.session.commit()
    return SeedResult(created=True, logins=_logins())


def _extra_people(teams: dict[str, Team], password_hash: str, now) -> list[User]:
    """Colleagues beyond the named cast, including the states admins need to see: an invitation
    not yet accepted, a deactivated account, and someone who turned the weekly email off."""
    people = []
    for i, (name, team) in enumerate(EXTRA_PEOPLE):
        email = name.split()[0].lower() + "." + name.split()[-1].lower() + "@example.com"
        user = User(email=email, display_name=name, team=teams[team])
        user.created_at = now - timedelta(days=400)
        user.password_hash = password_hash
        user.last_login_at = now - timedelta(days=i % 12, hours=i)
        people.append(user)
    people[-1].password_hash = None  # invited, has not joined yet
    people[-1].invited_at = now - timedelta(days=2)
    people[-1].last_login_at = None
    people[-2].is_active_user = False
    people[-3].email_opt_out = True
    people[-3].opted_out_at = now - timedelta(days=20)
    db.session.add_all(people)
    return people


def _seed_voice(users: dict[str, User], teams: dict[str, Team],
                touchpoints: dict[str, Touchpoint]) -> None:
    """The customer's voice: three sources and an applied import, ~60 comments through the
    real intake, a few already dismissed by an editor."""
    today = date.today()
    admin = users[PEOPLE[0][0]]
    sources = {}
    for slug, name, channel, _scale in VOICE_SOURCES:
        sources[slug] = VoiceSource(slug=slug, name=name, origin=Origin.IMPORT, channel=channel)
    db.session.add_all(sources.values())
    db.session.flush()
    scales = {slug: scale for slug, _name, _channel, scale in VOICE_SOURCES}
    batch = VoiceImport(source=sources["qualtrics-nps"], filename="qualtrics-nps-export.csv",
                        sha256="d" * 64, actor=admin)
    db.session.add(batch)
    db.session.flush()
    by_source: dict[str, list[voice.Incoming]] = {}
    sharers = iter(EMAIL_SHARERS)
    for n, (slug, days, score, touchpoint, team, text) in enumerate(VERBATIMS):
        by_source.setdefault(slug, []).append(voice.Incoming(
            received_on=today - timedelta(days=days),
            text=text,
            scale=scales.get(slug) if score is not None else None,
            score=score,
            response_id=None if slug == "email" else f"{slug}-{1000 + n}",
            touchpoint_id=touchpoints[touchpoint].id if touchpoint in touchpoints else None,
            team_id=teams[team].id,
            language="fr" if text.startswith("Merci") else "en",
            consent=n % 4 == 0,
            sharer_id=users[next(sharers)].id if slug == "email" else None,
        ))
    for slug, items in by_source.items():
        source = voice.email_source() if slug == "email" else sources[slug]
        origin = Origin.EMAIL if slug == "email" else Origin.IMPORT
        intake = voice.Intake(source, origin,
                              import_id=batch.id if slug == "qualtrics-nps" else None)
        voice.insert_rows(intake.row(voice.check(item)) for item in items)
    batch.rows = batch.created = len(by_source["qualtrics-nps"])
    set_aside = db.session.scalars(
        db.select(Verbatim).where(Verbatim.priority == 1, Verbatim.band == "detractor",
                                  Verbatim.mentions_colleague.is_(False))
        .order_by(Verbatim.received_on, Verbatim.id).limit(DISMISSED_VERBATIMS)
    )
    for verbatim in set_aside:
        curation.dismiss(verbatim, actor=users["dana@example.com"])


def _current_events(item: Story | Quote, users: dict[str, User]) -> None:
    """The audit trail the workflow would have written for the named demo items."""
    editor = users["dana@example.com"]
    steps = []
    if item.submitted_at:
        steps.append((item.author, "submit", item.submitted_at, "draft", "submitted", None))
    decisions = {
        S.APPROVED: "approve",
        S.PUBLISHED: "approve",
        S.REJECTED: "reject",
        S.CHANGES_REQUESTED: "request_changes",
    }
    if item.status in decisions and item.decided_at:
        to = "approved" if item.status == S.PUBLISHED else item.status.value
        action = decisions[item.status]
        steps.append((editor, action, item.decided_at, "submitted", to, item.editor_note))
    for actor, action, when, frm, to, note in steps:
        record_transition(actor, item.kind, item.id, action, frm, to, when, note)


def _stamp(item: Story | Quote, status: SubmissionStatus, created) -> None:
    """Timestamps consistent with how far the item got through the workflow."""
    if status == S.DRAFT:
        return
    item.submitted_at = created + timedelta(hours=2)
    if status in (S.APPROVED, S.PUBLISHED, S.REJECTED, S.CHANGES_REQUESTED):
        item.decided_at = created + timedelta(days=1)
    if status in (S.APPROVED, S.PUBLISHED):
        item.approved_at = item.decided_at
    if status == S.CHANGES_REQUESTED:
        item.editor_note = "Lovely story! Could you add what the customer said afterwards?"
    if status == S.REJECTED:
        item.editor_note = (
            "Thanks for sharing. This one follows the usual process; "
            "we look for moments that went beyond it."
        )

