"""Erasure's text scrubbing (app/privacy/erasure.py): the person's names (current and former,
whole words, any case) and addresses go from the audit log, story revisions and waiting chat
and webhook payloads, and nothing else is touched; a removed account's id carries nothing over
to the next account that gets it."""

from __future__ import annotations

import io
import json
import zipfile

import sqlalchemy as sa

from app import audit
from app.extensions import db
from app.models import AuditEvent
from app.models import ChatDestination
from app.models import ChatKind
from app.models import ChatPost
from app.models import ChatPostStatus
from app.models import Revision
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
from app.models import WebhookEndpoint
from app.privacy import erasure
from app.submissions.services import snapshot
from tests import factories
from tests.fixtures.privacy import LEAVER_EMAIL
from tests.fixtures.privacy import LEAVER_NAME
from tests.fixtures.users import login


def _details(action: str) -> list[dict]:
    return [e.details for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def _log_text() -> str:
    return json.dumps([e.details for e in db.session.scalars(sa.select(AuditEvent))],
                      ensure_ascii=False)


def test_a_short_name_is_matched_as_a_whole_word_only(app, admin):
    ed = factories.make_user(display_name="Ed", email="ed@example.com")
    other = factories.make_user(display_name="Zed Other", email="zo@example.com")
    audit.record(admin, "edition.schedule", other, note="edition scheduled and published, Edward")
    audit.record(admin, "story.edit", other, note="Ed said hi; ED too; wrote to ED@EXAMPLE.COM",
                 cc="fred@example.com")
    db.session.commit()
    erasure.erase_person(ed, actor=admin, via="admin")
    db.session.commit()
    assert _details("edition.schedule") == [{"note": "edition scheduled and published, Edward"}]
    assert _details("story.edit") == [{"note": "[erased] said hi; [erased] too; wrote to "
                                               "[erased]", "cc": "fred@example.com"}]


def test_non_ascii_names_match_in_any_case(app, admin):
    zoe = factories.make_user(display_name="Zoë Ünal", email="zoe@example.com")
    other = factories.make_user(display_name="Other", email="o@example.com")
    audit.record(other, "story.edit", other, mention="asked ZOË ÜNAL", spaced="zoë   ünal!")
    db.session.commit()
    erasure.erase_person(zoe, actor=admin, via="admin")
    db.session.commit()
    assert _details("story.edit") == [{"mention": "asked [erased]", "spaced": "[erased]!"}]


def test_former_names_and_addresses_go_too(app, leaver, admin):
    """Renames, an identity provider's address change and SCIM updates recorded the person's
    earlier name and addresses: those go from their own entries (every string in them) and
    from every other entry mentioning them; other people's names and teams stay."""
    person, colleague = leaver.person, leaver.colleague
    audit.record(person, "user.update_profile", person,
                 display_name={"from": "Lena Oldname", "to": LEAVER_NAME},
                 timezone={"from": None, "to": "Europe/Oslo"})
    audit.record(person, "user.sso_email", person, old="lena.old@example.com", new=LEAVER_EMAIL)
    audit.record(None, "scim.user.update", person, token="okta",
                 email={"from": "l.first@example.com", "to": "lena.old@example.com"})
    audit.record(admin, "user.update", person, team={"from": "Harbour", "to": "Docks"})
    # Entries about others: a mention of her old name goes; their own data stays.
    audit.record(colleague, "story.edit", leaver.recognizing,
                 note="with LENA OLDNAME and l.first@example.com")
    audit.record(admin, "user.update", colleague, display_name={"from": "Colin C", "to":
                                                                "Colin Colleague"},
                 team={"from": "Harbour", "to": "Docks"})
    db.session.commit()
    uid = person.id
    erasure.erase_person(person, actor=admin, via="admin")
    db.session.commit()

    text = _log_text()
    for gone in ("Lena Oldname", "lena.old@example.com", "l.first@example.com", LEAVER_EMAIL,
                 "Europe/Oslo"):
        assert gone.casefold() not in text.casefold(), gone
    about = [e.details for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.object_type == "user", AuditEvent.object_id == uid,
                                    AuditEvent.action == "user.update"))]
    assert about == [{"team": {"from": "[erased]", "to": "[erased]"}}]
    assert {"note": "with [erased] and [erased]"} in _details("story.edit")
    assert {"display_name": {"from": "Colin C", "to": "Colin Colleague"},
            "team": {"from": "Harbour", "to": "Docks"}} in _details("user.update")


def test_story_revisions_no_longer_list_them(app, leaver, admin, set_privacy):
    set_privacy(erasure_account="anonymize", erasure_stories="keep")
    story = leaver.recognizing
    audit.record(leaver.person, "user.update_profile", leaver.person,
                 display_name={"from": "Lena Oldname", "to": LEAVER_NAME})
    db.session.add_all([
        Revision(object_type="story", object_id=story.id, number=1,
                 author_id=leaver.colleague.id, data=snapshot(story)),
        Revision(object_type="story", object_id=story.id, number=2,
                 author_id=leaver.colleague.id,
                 data={**snapshot(story), "colleagues": ["lena  OLDNAME", "Colin Colleague",
                                                         "Lena Leavers-Smith"]}),
        Revision(object_type="story", object_id=leaver.published.id, number=2,
                 author_id=leaver.person.id,
                 data={"title": "The harbour rescue", "colleagues": [LEAVER_NAME]}),
    ])
    db.session.commit()
    assert LEAVER_NAME in snapshot(story)["colleagues"]
    erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.commit()

    revisions = {(r.object_id, r.number): r.data for r in db.session.scalars(
        sa.select(Revision).where(Revision.object_type == "story"))}
    assert sorted(revisions[(story.id, 1)]["colleagues"]) == ["Colin Colleague",
                                                               "a former colleague"]
    assert revisions[(story.id, 2)]["colleagues"] == ["a former colleague", "Colin Colleague",
                                                      "Lena Leavers-Smith"]
    assert revisions[(story.id, 2)]["title"] == story.title  # the rest as it was
    assert revisions[(leaver.published.id, 2)]["colleagues"] == ["a former colleague"]
    assert revisions[(leaver.published.id, 1)] == {"title": "The harbour rescue",
                                                   "body_md": "First words"}


def test_a_removed_accounts_id_brings_nothing_to_the_next_account(app, admin, set_privacy):
    """SQLite hands a deleted row's id to the next new account (here forced on PostgreSQL too):
    the audit entries about the removed person no longer point at that id."""
    set_privacy(erasure_account="remove")
    old = factories.make_user(display_name="Old Person", email="old@example.com")
    audit.record(old, "user.update_profile", old, timezone={"from": None, "to": "Europe/Oslo"})
    audit.record(admin, "user.update", old, role={"from": "employee", "to": "editor"})
    db.session.commit()
    old_id = old.id
    erasure.erase_person(old, actor=admin, via="admin")
    db.session.commit()
    new = factories.make_user(display_name="New Person", email="new@example.com", id=old_id)
    db.session.commit()
    assert new.id == old_id

    response = login(app.test_client(), new).post("/account/data")
    entries = json.loads(zipfile.ZipFile(io.BytesIO(response.data)).read("audit.json"))
    assert entries == []  # the export's own entry is recorded after it is built
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.object_type == "user", AuditEvent.object_id == old_id,
        AuditEvent.action != "user.data_export")) == 0
    erased = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.erase"))
    assert erased.object_id is None and erased.details["person"] == f"person #{old_id}"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user.update_profile", AuditEvent.object_id.is_(None))) == 1


def test_waiting_chat_posts_and_webhook_deliveries_lose_their_name(app, leaver, admin):
    destination = ChatDestination(name="Team chat", kind=ChatKind.SLACK,
                                  webhook_url="https://hooks.example/x")
    endpoint = WebhookEndpoint(url="https://receiver.example/hook", secret="s" * 40,
                               events=["story.published"])
    db.session.add_all([destination, endpoint])
    db.session.flush()

    def payload(n: int) -> dict:
        return {"text": f"{LEAVER_NAME} was featured ({n})",
                "blocks": [{"text": {"text": f"Thanks {LEAVER_NAME.upper()}, "
                                             f"{LEAVER_EMAIL}"}}], "count": n,
                "colleagues": ["Colin Colleague"]}

    statuses = {"chat": [ChatPostStatus.PENDING, ChatPostStatus.FAILED, ChatPostStatus.SENT],
                "hook": [WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.FAILED,
                         WebhookDeliveryStatus.DELIVERED]}
    for n, status in enumerate(statuses["chat"]):
        db.session.add(ChatPost(destination_id=destination.id, event="colleague_featured",
                                dedupe_key=f"k{n}", payload=payload(n), status=status))
    for n, status in enumerate(statuses["hook"]):
        db.session.add(WebhookDelivery(endpoint_id=endpoint.id, event_type="story.published",
                                       message_id=f"m{n}", dedupe_key=f"k{n}",
                                       payload=payload(n), status=status))
    db.session.commit()
    erasure.erase_person(leaver.person, actor=admin, via="admin")
    db.session.commit()

    scrubbed = {"text": "a former colleague was featured ({n})",
                "blocks": [{"text": {"text": "Thanks a former colleague, [erased]"}}],
                "colleagues": ["Colin Colleague"]}
    for model in (ChatPost, WebhookDelivery):
        rows = list(db.session.scalars(sa.select(model).order_by(model.id)))
        assert len(rows) == 3
        for n, row in enumerate(rows[:2]):  # waiting or replayable: scrubbed
            assert row.payload == {**scrubbed, "text": scrubbed["text"].format(n=n),
                                   "count": n}, model
        assert rows[2].payload == payload(2)  # already sent: history, left as it was
