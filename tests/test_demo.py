"""`flask demo seed` loads a usable demo once and changes nothing the second time."""

from app.models import Edition
from app.models import EditionStatus
from app.models import Quote
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.models import User


def _counts(db):
    return {
        model.__name__: db.session.scalar(db.select(db.func.count()).select_from(model))
        for model in (User, Story, Quote, Edition)
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
