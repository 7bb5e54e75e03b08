"""One rule, one place: the content rules shared by authors and editors (and the editor's edit
page built from the author's form), the empty-edition policy, the curator rule, an item's
display title, absolute links, configuration defaults, and what the editor changed."""

from __future__ import annotations

import ast
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

import config
from app.errors import PermissionDenied
from app.models import EditionStatus
from app.models import Recognition
from app.models import Revision
from app.models import Role
from app.models import Story
from app.models import SubmissionStatus
from app.review import services as review
from app.settings import set_settings
from app.submissions import rules
from app.submissions import services
from app.submissions import uploads
from app.titles import item_title
from app.web.urls import absolute_url
from tests.querycount import count_queries

S = SubmissionStatus
E = EditionStatus
ROOT = Path(__file__).resolve().parent.parent


# -- what the editor changed -----------------------------------------------------------------------


def test_author_edit_after_the_editors_is_not_reported_as_the_editors(
    app, db, make_user, make_story, make_edition, outbox
):
    from app.notifications.publication import notify_edition_sent

    author = make_user(display_name="Priya Raman", email="priya@example.com")
    editor = make_user(Role.EDITOR)
    story = make_story(author, status=S.SUBMITTED, title="Old title")
    db.session.commit()
    # The editor fixes the title; then the author, still allowed, rewrites the body herself.
    review.edit_item(story, replace(rules.story_input(story), title="New title"),
                     actor=editor, seen_version=1)
    db.session.commit()
    own_words = story.body_md + " She even called back the next day to check in."
    services.update_story(story, author, replace(rules.story_input(story), body_md=own_words),
                          expected_version=story.version, submit=False)
    db.session.commit()
    story.status = S.PUBLISHED
    edition = make_edition(status=E.SENT, items=[story])
    db.session.commit()

    notify_edition_sent(edition.id, [story.id], [])
    db.session.commit()
    [message] = [m for m in outbox if m["To"] == "priya@example.com"]
    text = message.get_body(("plain",)).get_content()
    assert "What the editor changed" in text
    assert "Title: “Old title” became “New title”." in text
    assert "Story: edited" not in text  # the body change was the author's own
    assert db.session.scalars(sa.select(Revision).where(~Revision.author_notified)).all() == []


# -- the empty-edition policy: the web and the CLI agree -----------------------------------------


@pytest.mark.parametrize("policy", ["skip", "send_placeholder"])
def test_web_send_now_and_the_cli_agree_on_an_empty_edition(app, db, admin, login_as, policy):
    from app.editions.services import ensure_upcoming

    set_settings({"empty_edition_policy": policy}, actor=admin)
    web = ensure_upcoming()
    db.session.commit()
    page = login_as(admin).post(f"/editions/upcoming/{web.id}/send",
                                data={"version": web.version}, follow_redirects=True)
    db.session.expire_all()
    web_sent = db.session.get(type(web), web.id).status != E.DRAFT
    assert ("is empty" in page.get_data(as_text=True)) is not web_sent

    cli_edition = ensure_upcoming()
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["editions", "send", str(cli_edition.number)])
    db.session.expire_all()
    cli_sent = db.session.get(type(cli_edition), cli_edition.id).status != E.DRAFT
    assert cli_sent == web_sent == (policy == "send_placeholder"), result.output
    if not cli_sent:
        assert "is empty" in result.output


# -- one curator rule ----------------------------------------------------------------------------


def test_a_deactivated_editor_can_neither_review_nor_send(app, db, make_user, make_story):
    from app.editions import services as editions

    gone = make_user(Role.EDITOR, active=False)
    story = make_story(status=S.SUBMITTED)
    edition = editions.ensure_upcoming()
    db.session.commit()
    with pytest.raises(PermissionDenied):
        review.approve(story, actor=gone, seen_version=story.version)
    with pytest.raises(PermissionDenied):
        editions.update_content(edition, subject="Hi", intro_md="", actor=gone,
                                seen_version=edition.version)


# -- one display title ---------------------------------------------------------------------------


def test_one_display_title_for_pages_messages_and_emails(app, db, make_story, make_quote,
                                                          editor_client):
    story = make_story(status=S.SUBMITTED, title="A  late-night\ncall")
    quote = make_quote(status=S.SUBMITTED, text="You **made** my week, " + "truly " * 30)
    db.session.commit()
    assert item_title(story) == "A late-night call"
    short = item_title(quote, 40)
    assert short.startswith("You made my week") and short.endswith("…") and len(short) <= 40
    assert app.jinja_env.globals["item_title"] is item_title
    queue = editor_client.get("/review").get_data(as_text=True)
    assert "A late-night call" in queue and item_title(quote, 80) in queue
    reply = editor_client.post(f"/review/story/{story.id}/approve", data={"version": 1},
                               follow_redirects=True).get_data(as_text=True)
    assert f"Approved “{item_title(story, 60)}”" in reply


# -- one way to build absolute links -------------------------------------------------------------


def test_absolute_links_use_base_url_with_and_without_a_request(app):
    app.config["BASE_URL"] = "https://fgf.example.com/"
    outside = absolute_url("newsletter.archive")
    with app.test_request_context("/", base_url="http://other-host.example:8080"):
        inside = absolute_url("newsletter.archive")
    assert outside == inside == "https://fgf.example.com" + inside.removeprefix(
        "https://fgf.example.com")
    assert absolute_url() == "https://fgf.example.com/"
    defined = {  # one helper, not one per feature
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
        and node.name in {"absolute", "absolute_url", "_absolute", "base_url"}
    }
    assert defined == {"app/web/urls.py"}


# -- configuration: one place --------------------------------------------------------------------


def test_every_setting_is_declared_in_config_and_documented():
    source = (ROOT / "config.py").read_text()
    names = set(re.findall(r'env(?:_int|_bool)?\("([A-Z_]+)"', source))
    readme = (ROOT / "README.md").read_text()
    assert {n for n in names if f"`{n}`" not in readme} == set()
    # No module keeps its own defaults or reads the environment for a setting.
    for path in (ROOT / "app").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                assert "DEFAULTS" not in targets, path
        text = path.read_text()
        if path.name not in {"__init__.py", "devserver.py"}:
            assert "os.environ.get(" not in text, path
    assert config.Config.SCHEDULER_UPLOADS_SECONDS == 3600


def test_code_reads_settings_from_app_config(app):
    import threading

    from app.newsletter.scheduler import build_scheduler

    app.config.update(SCHEDULER_APPLAUSE_SECONDS=7, SCHEDULER_DELIVER_SECONDS=3)
    jobs = {job.id: job for job in build_scheduler(app, threading.Event()).get_jobs()}
    assert jobs["applause"].trigger.interval.total_seconds() == 7
    assert jobs["deliver"].trigger.interval.total_seconds() == 3


# -- the editor's edit page: the author's fields, preview and rules ------------------------------


def _fields(html: str) -> set[str]:
    return set(re.findall(r'name="([a-z_]+)"', html))


def test_the_editors_story_form_has_the_authors_fields_and_preview(editor_client, make_story,
                                                                   employee_client, db):
    story = make_story(status=S.SUBMITTED)
    db.session.commit()
    editor_page = editor_client.get(f"/review/story/{story.id}/edit").get_data(as_text=True)
    author_page = employee_client.get("/stories/new").get_data(as_text=True)
    wanted = {"title", "body", "colleagues", "colleague_names", "team", "touchpoint", "tags",
              "cover_image", "cover_image_alt", "customer_consent", "customer_name",
              "customer_organization", "customer_segment"}
    assert wanted <= _fields(editor_page) and wanted <= _fields(author_page)
    for page in (editor_page, author_page):
        assert "data-preview-url=" in page and "data-colleague-picker" in page
        assert "js/submissions.js" in page


def test_the_editors_quote_form_has_the_authors_fields(editor_client, make_quote, db):
    quote = make_quote(status=S.SUBMITTED)
    db.session.commit()
    page = editor_client.get(f"/review/quote/{quote.id}/edit").get_data(as_text=True)
    assert {"text", "source", "nps_score", "received_on", "story_id", "anonymous",
            "customer_consent", "customer_name", "customer_role"} <= _fields(page)
    assert "data-preview-url=" in page


def test_an_editor_turns_a_free_text_name_into_the_colleagues_account(
    editor_client, make_user, make_story, db
):
    dana = make_user(display_name="Dana Wright", email="dana.wright@example.com")
    story = make_story(status=S.SUBMITTED, names=["Dana W."])
    db.session.commit()
    row_id = story.recognitions[0].id
    page = editor_client.get(f"/review/story/{story.id}/edit").get_data(as_text=True)
    assert "“Dana W.” is" in page and f'value="{dana.id}"' in page
    data = {**_story_form(story), "link_name": "Dana W.", "link_user": str(dana.id)}
    response = editor_client.post(f"/review/story/{story.id}/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    [row] = db.session.scalars(sa.select(Recognition).where(Recognition.story_id == story.id))
    assert (row.id, row.user_id, row.name) == (row_id, dana.id, None)
    revision = db.session.scalars(sa.select(Revision).order_by(Revision.number.desc())).first()
    assert revision.data["colleagues"] == ["Dana Wright"]


def test_editors_and_authors_hit_the_same_rules(editor_client, employee_client, employee,
                                                make_story, db):
    theirs = make_story(status=S.SUBMITTED)
    db.session.commit()
    tags = ", ".join(f"t{i}" for i in range(11))
    editor_page = editor_client.post(f"/review/story/{theirs.id}/edit",
                                     data={**_story_form(theirs), "tags": tags})
    author_page = employee_client.post("/stories/new", data={
        "title": "A good day", "body": "x" * 40, "tags": tags, "action": "draft"})
    message = "Add at most 10 tags (you added 11)."
    assert editor_page.status_code == 400
    assert message in editor_page.get_data(as_text=True)
    assert message in author_page.get_data(as_text=True)


def test_a_save_checks_the_rules_once(employee, employee_client, make_user, make_team, db):
    colleague = make_user()
    team = make_team()
    db.session.commit()
    with count_queries() as log:
        response = employee_client.post("/stories/new", data={
            "title": "A good day", "body": "x" * 40, "colleagues": colleague.email,
            "team": str(team.id), "action": "draft"})
    assert response.status_code == 302
    team_reads = [q for q in log.statements
                  if "FROM teams" in q and "WHERE teams.id" in q]
    assert len(team_reads) == 1, team_reads  # once, by the rules; not by the view as well


def _story_form(story: Story) -> dict:
    data = rules.story_input(story)
    return {
        "version": str(story.version), "title": data.title, "body": data.body_md,
        "colleague_names": "\n".join(data.colleague_names),
        "team": str(data.team_id or ""), "touchpoint": str(data.touchpoint_id or ""),
        "tags": ", ".join(data.tags), "customer_segment": data.customer_segment,
    }


# -- dead code put to use ------------------------------------------------------------------------


def test_the_uploads_job_deletes_only_unused_day_old_pictures(app, db, make_story):
    import os

    from app.submissions.subscribers import prune_uploads_job

    directory = uploads.upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    used, orphan = "a" * 22 + ".png", "b" * 22 + ".png"
    for name in (used, orphan):
        (directory / name).write_bytes(b"x")
        old = time.time() - 2 * 86_400
        os.utime(directory / name, (old, old))
    make_story(cover_image=used, cover_image_alt="A picture")
    db.session.commit()
    assert uploads.is_valid_name(used)
    assert prune_uploads_job(lambda: False) == 1
    assert (directory / used).exists() and not (directory / orphan).exists()
