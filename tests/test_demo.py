"""`flask demo seed` loads a usable demo once and changes nothing the second time."""

import re

from app.models import Edition
from app.models import EditionStatus
from app.models import Quote
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import User
from app.models import Verbatim
from app.models import VerbatimStatus


def _counts(db):
    return {
        model.__name__: db.session.scalar(db.select(db.func.count()).select_from(model))
        for model in (User, Story, Quote, Edition, Verbatim)
    }


def test_seed_is_idempotent_and_prints_logins(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "admin@example.com" in first.output and "feelgood-demo" in first.output
    counts = _counts(db)
    second = runner.invoke(args=["demo", "seed"])
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert _counts(db) == counts


def test_seed_covers_roles_statuses_and_a_sent_edition(app, db):
    app.test_cli_runner().invoke(args=["demo", "seed"])
    roles = set(db.session.scalars(db.select(User.role)))
    assert roles == {Role.ADMIN, Role.EDITOR, Role.EMPLOYEE}
    assert db.session.scalar(db.select(db.func.count()).where(User.role == Role.EDITOR)) == 2
    assert db.session.scalar(db.select(db.func.count()).where(User.role == Role.EMPLOYEE)) >= 12
    statuses = set(db.session.scalars(db.select(Story.status))) | set(
        db.session.scalars(db.select(Quote.status))
    )
    expected = {
        SubmissionStatus.DRAFT,
        SubmissionStatus.SUBMITTED,
        SubmissionStatus.CHANGES_REQUESTED,
        SubmissionStatus.APPROVED,
        SubmissionStatus.REJECTED,
        SubmissionStatus.PUBLISHED,
    }
    assert expected <= statuses
    sent = db.session.scalars(db.select(Edition).where(Edition.status == EditionStatus.SENT)).all()
    assert len(sent) >= 1 and sent[0].items


def test_demo_admin_can_sign_in(app, db, client):
    app.test_cli_runner().invoke(args=["demo", "seed"])
    response = client.post(
        "/login", data={"email": "admin@example.com", "password": "feelgood-demo"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_seed_fills_the_customer_voice_inbox_through_the_intake(app, db, login_as):
    app.test_cli_runner().invoke(args=["demo", "seed"])
    verbatims = db.session.scalars(db.select(Verbatim)).all()
    assert len(verbatims) == 60
    assert {v.band.value for v in verbatims if v.band} == {"promoter", "passive", "detractor"}
    assert {v.scale.value for v in verbatims if v.scale} == {"nps", "csat"}
    assert any(v.band is None for v in verbatims)  # reviews and emails carry no score
    assert len({v.source_id for v in verbatims}) == 4  # three tools and forwarded emails
    assert len({v.team_id for v in verbatims}) >= 5
    assert sum(v.mentions_colleague for v in verbatims) >= 20
    assert any(v.priority == 0 for v in verbatims)
    assert sum(v.redactions > 0 for v in verbatims) >= 6
    assert all("@example" not in (v.text or "") for v in verbatims)
    assert all(v.sharer_id for v in verbatims if v.origin.value == "email")
    assert sum(v.status == VerbatimStatus.DISMISSED for v in verbatims) == 3
    assert any(v.import_id for v in verbatims)
    dana = db.session.scalar(db.select(User).where(User.email == "dana@example.com"))
    page = login_as(dana).get("/review/voice/").get_data(as_text=True)
    assert "57 comments waiting" in page


def test_demo_editions_have_readership_to_report(app, db, make_user, client):
    """Sent demo editions carry aggregate-only opens and clicks (no person), so an editor's
    edition page shows real figures, not a row of zeros."""
    from app.models import EngagementEvent
    from tests.fixtures.users import login

    app.test_cli_runner().invoke(args=["demo", "seed"])
    latest = db.session.scalar(
        db.select(Edition).where(Edition.status == EditionStatus.SENT)
        .order_by(Edition.number.desc()).limit(1)
    )
    events = db.session.scalars(
        db.select(EngagementEvent).where(EngagementEvent.edition_id == latest.id)
    ).all()
    opened = {e.tag for e in events if e.kind == "open"}
    assert 0 < len(opened) <= latest.sent_count
    assert all(e.user_id is None for e in events)  # aggregate only: nobody's own reading
    editor = db.session.scalar(db.select(User).where(User.role == Role.EDITOR).limit(1))
    login(client, editor)
    html = client.get(f"/editions/{latest.number}").get_data(as_text=True)
    figure = re.search(r'data-figure="opened">\s*<span class="stat__value" data-value="(\d+)"',
                       html)
    assert figure is not None and int(figure.group(1)) == len(opened)
