"""What editors do with a verbatim, through the test client: a quote that goes out in an
edition, a story crediting the colleagues they confirm, conversions refused twice, dismissals
one at a time and in bulk (with their confirmation), restore, and who may do it."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from app.errors import Conflict
from app.errors import PermissionDenied
from app.extensions import db as _db
from app.models import AuditEvent
from app.models import Edition
from app.models import EditionStatus
from app.models import Quote
from app.models import QuoteSource
from app.models import Role
from app.models import Scale
from app.models import Story
from app.models import SubmissionStatus
from app.models import Verbatim
from app.models import VerbatimStatus
from app.voice import curation
from tests import factories
from tests.fixtures.smtp import configure_app_for
from tests.fixtures.voice import DAY
from tests.fixtures.voice import add
from tests.fixtures.voice import comment
from tests.test_voice_inbox import INBOX

V = VerbatimStatus
S = SubmissionStatus


@pytest.fixture
def people(db):
    """Two colleagues the comments name, in a team of their own."""
    team = factories.make_team("Contact Centre")
    noah = factories.make_user(display_name="Noah Levi", email="noah@example.com", team=team)
    grace = factories.make_user(display_name="Grace Kim", email="grace@example.com", team=team)
    db.session.commit()
    return {"team": team, "noah": noah, "grace": grace}


def _fresh(verbatim: Verbatim) -> Verbatim:
    _db.session.expire_all()
    return _db.session.get(Verbatim, verbatim.id)


def _actions(action: str) -> list[AuditEvent]:
    return list(_db.session.scalars(_db.select(AuditEvent).where(AuditEvent.action == action)))


# -- a quote ---------------------------------------------------------------------------------------


def test_make_a_quote_lines_it_up_for_review_and_keeps_the_link(db, survey, people, editor,
                                                                editor_client):
    (verbatim,) = add(survey, comment("Noah Levi fixed my router in five minutes. Hero!", 9,
                                      team_id=people["team"].id, consent=True))
    response = editor_client.post(f"{INBOX}{verbatim.id}/quote")
    quote = db.session.scalar(db.select(Quote))
    assert response.status_code == 302
    assert response.location == f"/review/quote/{quote.id}"
    assert quote.text == "Noah Levi fixed my router in five minutes. Hero!"
    assert quote.status == S.SUBMITTED and quote.author_id == editor.id
    assert quote.source == QuoteSource.SURVEY and quote.received_on == DAY
    assert quote.nps_score == 9 and quote.anonymous and quote.customer_consent
    assert quote.team_id == people["team"].id  # the praised team, not the editor's
    stored = _fresh(verbatim)
    assert stored.status == V.USED and stored.quote_id == quote.id and stored.story_id is None
    assert stored.decided_by_id == editor.id and stored.decided_at is not None
    (event,) = _actions("verbatim.to_quote")
    assert event.object_type == "verbatim" and event.object_id == verbatim.id
    assert event.details == {"quote_id": quote.id}

    # The link back both ways.
    review = editor_client.get(response.location).get_data(as_text=True)
    assert "From the customer’s voice" in review
    assert f'href="{INBOX}{verbatim.id}">Comment #{verbatim.id}</a>' in review
    page = editor_client.get(f"{INBOX}{verbatim.id}").get_data(as_text=True)
    assert f'Became <a href="/review/quote/{quote.id}">quote #{quote.id}</a>' in page
    assert ">Make a quote<" not in page
    assert verbatim.id in _used_tab(editor_client)


def _used_tab(client) -> list[int]:
    from tests.test_voice_inbox import shown

    return shown(client, status="used")


def test_only_an_nps_score_becomes_the_quotes_score(db, survey, editor_client):
    csat, ces, unscored = add(
        survey,
        comment("Very happy with the engineer.", 5, scale=Scale.CSAT),
        comment("So easy to sort out.", 7, scale=Scale.CES),
        comment("Kind staff at the desk."),
    )
    for verbatim in (csat, ces, unscored):
        assert editor_client.post(f"{INBOX}{verbatim.id}/quote").status_code == 302
    scores = db.session.scalars(db.select(Quote.nps_score).order_by(Quote.id)).all()
    assert scores == [None, None, None]
    assert db.session.scalar(db.select(db.func.count(Quote.id)).where(
        Quote.customer_consent.is_(False), Quote.anonymous.is_(True))) == 3


def test_converting_twice_is_refused_with_what_it_became(db, survey, editor_client):
    (verbatim,) = add(survey, comment("Thank you, truly.", 10))
    editor_client.post(f"{INBOX}{verbatim.id}/quote")
    quote_id = db.session.scalar(db.select(Quote.id))
    for path in (f"{INBOX}{verbatim.id}/quote", f"{INBOX}{verbatim.id}/story"):
        again = editor_client.post(path, data={"title": "Twice", "body": "x" * 40,
                                               "action": "submit"})
        assert again.status_code == 302 and again.location == f"{INBOX}{verbatim.id}"
        page = editor_client.get(again.location).get_data(as_text=True)
        assert f"already turned into quote #{quote_id}" in page
    assert editor_client.get(f"{INBOX}{verbatim.id}/story").status_code == 302
    assert db.session.scalar(db.select(db.func.count(Quote.id))) == 1
    assert db.session.scalar(db.select(db.func.count(Story.id))) == 0


def test_a_claim_made_elsewhere_meanwhile_wins(db, survey, editor):
    """The conditional UPDATE: a verbatim converted behind this session's back is refused."""
    (verbatim,) = add(survey, comment("Wonderful help.", 10))
    loaded = db.session.get(Verbatim, verbatim.id)
    story = factories.make_story(editor, status=S.SUBMITTED)
    db.session.execute(db.text("UPDATE verbatims SET story_id = :s, status = 'used' WHERE id = :v"),
                       {"s": story.id, "v": verbatim.id})
    with pytest.raises(Conflict, match=f"already turned into story #{story.id}"):
        curation.to_quote(loaded, actor=editor)
    db.session.rollback()


def test_a_quote_the_rules_refuse_leaves_the_verbatim_in_the_inbox(db, survey, editor_client):
    (long_one,) = add(survey, comment("So good. " * 300, 10))
    response = editor_client.post(f"{INBOX}{long_one.id}/quote")
    assert response.location == f"{INBOX}{long_one.id}"
    page = editor_client.get(response.location).get_data(as_text=True)
    assert "please keep it under 2,000" in page
    assert _fresh(long_one).status == V.NEW
    assert db.session.scalar(db.select(db.func.count(Quote.id))) == 0
    assert _actions("verbatim.to_quote") == []


def test_from_verbatim_to_quote_to_a_sent_edition(app, db, smtp_server, survey, people, editor,
                                                  editor_client):
    """The issue's "done when": an editor turns a verbatim into a quote that goes out."""
    from app.newsletter import jobs

    configure_app_for(app, smtp_server)
    for i in range(2):
        factories.make_user(display_name=f"Reader {i}", email=f"reader{i}@example.com")
    db.session.commit()
    (verbatim,) = add(survey, comment("Grace Kim remembered my name and my order. Magic.", 10))

    review = editor_client.post(f"{INBOX}{verbatim.id}/quote").location
    quote = db.session.scalar(db.select(Quote))
    approved = editor_client.post(f"{review}/approve", data={"version": quote.version})
    assert approved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Quote, quote.id).status == S.APPROVED
    edition = db.session.scalar(db.select(Edition).where(Edition.status == EditionStatus.DRAFT))
    assert [item.quote_id for item in edition.items] == [quote.id]

    editor_client.post(f"/editions/upcoming/{edition.id}/send", data={"version": edition.version})
    jobs.tick(datetime.now(UTC) + timedelta(seconds=5))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Edition, edition.id).status == EditionStatus.SENT
    assert db.session.get(Quote, quote.id).status == S.PUBLISHED
    newsletters = [m for m in smtp_server.messages
                   if (m.message["Subject"] or "").startswith("Feel Good Fridays #")]
    assert newsletters
    text = newsletters[0].message.get_body(("plain",)).get_content()
    assert "Grace Kim remembered my name and my order. Magic." in text


# -- a story ---------------------------------------------------------------------------------------


def test_the_story_form_starts_from_the_verbatim(db, survey, people, editor_client):
    store = factories.touchpoint("store")
    db.session.commit()
    (verbatim,) = add(survey, comment("Noah Levi and Grace Kim stayed late\nto fix it.", 10,
                                      team_id=people["team"].id, touchpoint_id=store.id))
    page = editor_client.get(f"{INBOX}{verbatim.id}/story").get_data(as_text=True)
    assert 'value="A customer’s thanks for Noah Levi and Grace Kim"' in page
    assert "&gt; Noah Levi and Grace Kim stayed late\n&gt; to fix it." in page
    assert 'value="noah@example.com, grace@example.com"' in page
    assert "Colleagues the comment mentions" in page
    assert f'<option selected value="{people["team"].id}">' in page
    assert f'<option selected value="{store.id}">' in page


def test_a_story_credits_only_the_colleagues_the_editor_confirms(db, survey, people, editor,
                                                                 editor_client):
    (verbatim,) = add(survey, comment("Noah Levi and Grace Kim stayed late to fix it.", 10,
                                      team_id=people["team"].id))
    response = editor_client.post(f"{INBOX}{verbatim.id}/story", data={
        "title": "Staying late for a customer",
        "body": "> Noah Levi and Grace Kim stayed late to fix it.\n\nGrace had gone home.",
        "colleagues": "noah@example.com",  # the editor removed Grace
        "team": people["team"].id,
        "action": "submit",
    })
    story = db.session.scalar(db.select(Story))
    assert response.status_code == 302
    assert response.location == f"/review/story/{story.id}"
    assert story.status == S.SUBMITTED and story.author_id == editor.id
    assert [r.user_id for r in story.recognitions] == [people["noah"].id]
    stored = _fresh(verbatim)
    assert stored.story_id == story.id and stored.status == V.USED
    assert _actions("verbatim.to_story")[0].details == {"story_id": story.id}
    review = editor_client.get(response.location).get_data(as_text=True)
    assert f'href="{INBOX}{verbatim.id}">Comment #{verbatim.id}</a>' in review
    page = editor_client.get(f"{INBOX}{verbatim.id}").get_data(as_text=True)
    assert f'Became <a href="/review/story/{story.id}">story #{story.id}</a>' in page


def test_a_story_saved_as_a_draft_goes_to_my_submissions(db, survey, editor_client):
    (verbatim,) = add(survey, comment("Wonderful afternoon in the shop.", 9))
    response = editor_client.post(f"{INBOX}{verbatim.id}/story", data={
        "title": "An afternoon in the shop", "body": "> Wonderful afternoon in the shop.\n\n",
        "action": "draft"})
    story = db.session.scalar(db.select(Story))
    assert story.status == S.DRAFT
    assert response.location == f"/my/stories/{story.id}"
    assert _fresh(verbatim).story_id == story.id


def test_a_story_the_rules_refuse_keeps_what_was_typed_and_the_verbatim(db, survey,
                                                                        editor_client):
    (verbatim,) = add(survey, comment("Great help with my claim.", 9))
    response = editor_client.post(f"{INBOX}{verbatim.id}/story", data={
        "title": "", "body": "Too short", "colleagues": "nobody@example.com",
        "action": "submit"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Give your story a title" in page and "We couldn&#39;t find an account" in page
    assert "Too short</textarea>" in page
    assert _fresh(verbatim).status == V.NEW
    assert db.session.scalar(db.select(db.func.count(Story.id))) == 0


def test_the_preview_button_renders_without_saving(db, survey, editor_client):
    (verbatim,) = add(survey, comment("Great help with my claim.", 9))
    response = editor_client.post(f"{INBOX}{verbatim.id}/story", data={
        "title": "A claim", "body": "**Bold** move", "action": "preview"})
    assert response.status_code == 200
    assert "<strong>Bold</strong> move" in response.get_data(as_text=True)
    assert _fresh(verbatim).status == V.NEW


# -- dismissing ------------------------------------------------------------------------------------


def test_dismiss_then_restore(db, survey, editor, editor_client):
    (verbatim,) = add(survey, comment("Meh.", 6))
    response = editor_client.post(f"{INBOX}{verbatim.id}/dismiss?band=detractor")
    assert response.location == f"{INBOX}?band=detractor"
    stored = _fresh(verbatim)
    assert stored.status == V.DISMISSED and stored.decided_by_id == editor.id
    assert "Dismissed the comment" in editor_client.get(response.location).get_data(as_text=True)
    again = editor_client.post(f"{INBOX}{verbatim.id}/dismiss")
    assert "already dismissed" in editor_client.get(again.location).get_data(as_text=True)
    assert len(_actions("verbatim.dismiss")) == 1

    back = editor_client.post(f"{INBOX}{verbatim.id}/restore?status=dismissed")
    assert back.location == f"{INBOX}?status=dismissed"
    stored = _fresh(verbatim)
    assert stored.status == V.NEW and stored.decided_by_id is None
    assert len(_actions("verbatim.restore")) == 1
    refused = editor_client.post(f"{INBOX}{verbatim.id}/restore")
    assert refused.location == f"{INBOX}{verbatim.id}"
    assert "Only a dismissed comment" in editor_client.get(refused.location).get_data(
        as_text=True)


def test_a_used_verbatim_cannot_be_dismissed(db, survey, editor_client):
    (verbatim,) = add(survey, comment("Super service.", 10))
    editor_client.post(f"{INBOX}{verbatim.id}/quote")
    response = editor_client.post(f"{INBOX}{verbatim.id}/dismiss")
    assert response.location == f"{INBOX}{verbatim.id}"
    assert _fresh(verbatim).status == V.USED


def test_bulk_dismiss_confirms_how_many_then_dismisses_them(db, survey, editor, editor_client):
    items = add(survey, *[comment(f"Comment {i}.", 5) for i in range(5)])
    editor_client.post(f"{INBOX}{items[4].id}/quote")  # used meanwhile
    chosen = [items[0].id, items[1].id, items[2].id, items[4].id]

    confirm = editor_client.post(f"{INBOX}dismiss?band=detractor",
                                 data={"ids": [*chosen, "abc", "99999999999999999999"]})
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "Dismiss 3 comments?" in page  # the used one is not offered
    assert page.count('name="ids"') == 3
    assert f'action="{INBOX}dismiss?band=detractor"' in page
    assert all(_fresh(v).status == V.NEW for v in items[:4])  # nothing changed yet

    done = editor_client.post(f"{INBOX}dismiss?band=detractor",
                              data={"ids": chosen, "confirmed": "1"})
    assert done.location == f"{INBOX}?band=detractor"
    assert [_fresh(v).status for v in items] == [V.DISMISSED] * 3 + [V.NEW, V.USED]
    events = _actions("verbatim.dismiss")
    assert sorted(e.object_id for e in events) == sorted(chosen[:3])
    assert all(e.actor_id == editor.id and e.details == {"bulk": True} for e in events)
    text = editor_client.get(done.location).get_data(as_text=True)
    assert "Dismissed 3 comments. 1 had already been handled" in text


def test_bulk_dismiss_needs_a_selection_and_has_a_limit(db, survey, editor_client):
    nothing = editor_client.post(f"{INBOX}dismiss", data={})
    assert nothing.location == INBOX
    assert "Select at least one comment" in editor_client.get(INBOX).get_data(as_text=True)
    too_many = editor_client.post(f"{INBOX}dismiss", data={
        "ids": [str(i) for i in range(1, curation.BULK_MAX + 2)]})
    assert too_many.status_code == 302
    assert f"at most {curation.BULK_MAX}" in editor_client.get(INBOX).get_data(as_text=True)
    (verbatim,) = add(survey, comment("Handled already.", 5))
    editor_client.post(f"{INBOX}{verbatim.id}/dismiss")
    stale = editor_client.post(f"{INBOX}dismiss", data={"ids": verbatim.id})
    assert stale.location == INBOX
    assert "already used or dismissed" in editor_client.get(INBOX).get_data(as_text=True)


def test_a_score_without_a_comment_cannot_become_anything(db, survey, editor_client):
    # Kept for the figures only (status filtered): no page, nothing to convert.
    (verbatim,) = add(survey, comment(None, 10))
    assert verbatim.status == VerbatimStatus.FILTERED
    for response in (editor_client.get(f"{INBOX}{verbatim.id}"),
                     editor_client.get(f"{INBOX}{verbatim.id}/story"),
                     editor_client.post(f"{INBOX}{verbatim.id}/quote")):
        assert response.status_code == 404
    assert db.session.scalar(db.select(db.func.count(Quote.id))) == 0
    assert db.session.get(Verbatim, verbatim.id).status == VerbatimStatus.FILTERED


def test_the_inbox_page_offers_every_action(db, survey, editor_client):
    (verbatim,) = add(survey, comment("Good stuff.", 9))
    page = editor_client.get(INBOX).get_data(as_text=True)
    assert '<form id="one-action" method="post"' in page
    assert f'formaction="{INBOX}{verbatim.id}/quote"' in page
    assert f'href="{INBOX}{verbatim.id}/story"' in page
    assert f'formaction="{INBOX}{verbatim.id}/dismiss"' in page
    assert f'action="{INBOX}dismiss"' in page and 'name="ids"' in page


# -- guards ----------------------------------------------------------------------------------------


def test_the_services_refuse_anyone_but_an_editor(db, survey, employee, make_user):
    (verbatim,) = add(survey, comment("Fine.", 8))
    gone = make_user(Role.EDITOR, active=False)
    for actor in (employee, gone):
        for call in (lambda a: curation.to_quote(verbatim, actor=a),
                     lambda a: curation.dismiss(verbatim, actor=a),
                     lambda a: curation.bulk_dismiss([verbatim.id], actor=a),
                     lambda a: curation.restore(verbatim, actor=a)):
            with pytest.raises(PermissionDenied):
                call(actor)
    assert _fresh(verbatim).status == V.NEW


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_every_action_needs_the_csrf_token(db, survey, editor_client):
    (verbatim,) = add(survey, comment("Fine.", 8))
    for path in ("quote", "dismiss", "restore"):
        response = editor_client.post(f"{INBOX}{verbatim.id}/{path}")
        assert response.status_code in (302, 400)
    editor_client.post(f"{INBOX}dismiss", data={"ids": verbatim.id, "confirmed": "1"})
    editor_client.post(f"{INBOX}{verbatim.id}/story", data={"title": "A title here",
                                                            "body": "x" * 40,
                                                            "action": "submit"})
    assert _fresh(verbatim).status == V.NEW
    assert db.session.scalar(db.select(db.func.count(Quote.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Story.id))) == 0
