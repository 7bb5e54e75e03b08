"""Admin → Chat: admins add, edit, test and delete Slack / Teams destinations; the webhook URL
(the secret) is never in a response once saved, nor in the audit log; validation keeps what was
typed; editors and employees get 403; every form carries a CSRF token."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from werkzeug import Response

from app.chat import services
from app.chat.delivery import wait_for_posts
from app.errors import ValidationError
from app.extensions import db
from app.models import AuditEvent
from app.models import ChatDestination
from app.models import ChatPost
from app.models import ChatPostStatus
from app.models.chat import URL_MAX
from tests.fixtures.chat import bodies
from tests.fixtures.chat import check_slack
from tests.fixtures.chat import check_teams
from tests.fixtures.chat import make_destination
from tests.fixtures.chat import make_post

S = ChatPostStatus
SECRET = "Zq9Xw7Vb3Ls1Kp5Mn0Ty"
TEAMS_PREFIX = ("https://prod-00.westeurope.logic.azure.com:443/workflows/0a1b2c/triggers/manual"
                "/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=")


def _form(**values):
    data = {"name": "Kudos", "kind": "slack", "webhook_url": "", "on_edition_sent": "y",
            "team": "", "active": "y"}
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


def _text(response) -> str:
    return response.get_data(as_text=True)


def _only(model):
    db.session.commit()
    return db.session.scalars(sa.select(model)).all()


def _audit() -> list[AuditEvent]:
    db.session.commit()
    return list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.like("chat.%")).order_by(AuditEvent.id)))


def test_admin_connects_slack_and_never_sees_the_url_again(app, admin_client, chat_server):
    chat_server.expect_request(f"/services/T0/B0/{SECRET}").respond_with_data("ok")
    url = chat_server.url_for(f"/services/T0/B0/{SECRET}")
    empty = _text(admin_client.get("/admin/chat/"))
    assert "No chat destinations yet" in empty and 'href="/admin/chat/new"' in empty
    assert 'href="/admin/chat/" aria-current="page">Chat</a>' in empty  # the admin tab

    created = admin_client.post("/admin/chat/new", data=_form(webhook_url=url))
    assert created.status_code == 302
    [destination] = _only(ChatDestination)
    assert created.location == f"/admin/chat/{destination.id}"
    assert (destination.webhook_url, destination.name, destination.kind) == (url, "Kudos", "slack")
    assert (destination.on_edition_sent, destination.on_colleague_featured,
            destination.on_story_published, destination.team_id) == (True, False, False, None)
    responses = [admin_client.get(created.location)]
    page = _text(responses[0])
    assert "“Kudos” is connected" in page
    assert "does not look like a Slack incoming webhook URL" in page  # loopback, not Slack
    assert f"127.0.0.1 · …{SECRET[-4:]}" in page

    # Send a test post: delivered after the commit, the outcome shown.
    tested = admin_client.post(f"/admin/chat/{destination.id}/test", follow_redirects=True)
    responses.append(tested)
    assert "Test post delivered to “Kudos” (200)" in _text(tested)
    [body] = bodies(chat_server, f"/services/T0/B0/{SECRET}")
    check_slack(body)
    assert body["blocks"][0]["text"]["text"] == "Test post from Feel Good Fridays"
    assert body["blocks"][1]["text"]["text"] == (
        "The destination “Kudos” is connected. This channel will get each edition when it is sent.")

    responses += [admin_client.get(path) for path in (
        "/admin/chat/", f"/admin/chat/{destination.id}", f"/admin/chat/{destination.id}/edit",
        f"/admin/chat/{destination.id}/delete")]
    # Edit without a URL keeps the stored one; the page never had it in the field.
    responses.append(admin_client.post(f"/admin/chat/{destination.id}/edit",
                                       data=_form(name="Kudos (Slack)", webhook_url=""),
                                       follow_redirects=True))
    db.session.commit()
    assert db.session.get(ChatDestination, destination.id).webhook_url == url
    # A validation error on the edit form does not show the stored URL either.
    responses.append(admin_client.post(f"/admin/chat/{destination.id}/edit",
                                       data=_form(name="", webhook_url="")))
    for response in responses:
        assert response.status_code == 200
        assert SECRET not in _text(response) and SECRET[:-4] not in _text(response)
    assert f"…{SECRET[-4:]}" in _text(responses[-1])  # the hint instead

    events = _audit()
    assert [e.action for e in events] == [
        "chat.destination.create", "chat.destination.test", "chat.destination.update"]
    assert all(SECRET[:-4] not in json.dumps(e.details) for e in events)
    assert events[0].object_type == "chat_destination" and events[0].object_id == destination.id
    assert events[2].details == {"name": "Kudos (Slack)", "new_name": "Kudos (Slack)"}


def test_a_new_url_replaces_the_old_one_and_the_audit_says_so_only(admin_client, admin,
                                                                   chat_server):
    destination = make_destination(chat_server.url_for(f"/old/{SECRET}"), name="Kudos")
    db.session.commit()
    new = chat_server.url_for("/services/T1/B1/NewSecretValue9876")
    done = admin_client.post(f"/admin/chat/{destination.id}/edit",
                             data=_form(webhook_url=new, kind="slack"))
    assert done.status_code == 302
    db.session.commit()
    assert db.session.get(ChatDestination, destination.id).webhook_url == new
    [event] = _audit()
    assert event.details == {"name": "Kudos", "new_webhook_url": "changed"}
    assert "NewSecretValue" not in _text(admin_client.get(f"/admin/chat/{destination.id}"))


@pytest.mark.parametrize(("url", "message"), [
    ("", "Paste the webhook URL."),
    ("http://hooks.example.com/services/abc", "Use an https:// address"),
    ("ftp://hooks.example.com/abc", "Enter the full address, starting with https://"),
    ("hooks.slack.com/services/abc", "Enter the full address, starting with https://"),
    ("https://user:pw@hooks.slack.com/services/abc", "must not contain a user name or password"),
    ("https://hooks.slack.com/services/a b", "no spaces, line breaks or accented characters"),
    ("https://hooks.slack.com/services/é", "no spaces, line breaks or accented characters"),
    ("https://hooks.slack.com:99999/services/abc", "This is not a valid URL."),
    ("https://hooks.slack.com/" + "a" * URL_MAX, "The URL is too long: at most 2,000 characters."),
])
def test_bad_urls_are_refused_and_the_form_keeps_the_input(admin_client, url, message):
    response = admin_client.post("/admin/chat/new", data=_form(name="Sales wins", webhook_url=url,
                                                               kind="teams"))
    page = _text(response)
    assert response.status_code == 200
    assert message in page and "There’s a problem" in page
    assert 'value="Sales wins"' in page
    assert re.search(r'<input checked [^>]*value="teams"', page)
    if url and len(url) < 200:
        assert f'value="{url}"'.replace("&", "&amp;") in page  # what was typed, to fix it
    assert _only(ChatDestination) == []


def test_name_and_team_are_checked(admin_client, make_team, chat_server):
    url = chat_server.url_for("/x")
    make_destination(url, name="Kudos")
    db.session.commit()
    for data, message in [
        (_form(name="   ", webhook_url=url), "Name the destination"),
        (_form(name=" kudos ", webhook_url=url), "Another destination has this name."),
        (_form(name="x" * 81, webhook_url=url), "At most 80 characters."),
        (_form(name="Ops", webhook_url=url, team="999999"), "That team no longer exists."),
        (_form(name="Ops", webhook_url=url, team="not-a-number"), "Invalid Choice"),
        (_form(name="Ops", webhook_url=url, kind="irc"), "Not a valid choice"),
    ]:
        response = admin_client.post("/admin/chat/new", data=data)
        assert response.status_code == 200, data
        assert message in _text(response), data
    assert len(_only(ChatDestination)) == 1


def test_the_longest_teams_workflow_url_is_accepted(admin_client, make_team):
    ops = make_team("Ops")
    db.session.commit()
    longest = TEAMS_PREFIX + "s" * (URL_MAX - len(TEAMS_PREFIX))
    done = admin_client.post("/admin/chat/new", data=_form(
        name="Ops channel", kind="teams", webhook_url=longest, team=str(ops.id),
        on_edition_sent=None, on_story_published="y", on_colleague_featured="y"))
    assert done.status_code == 302
    [destination] = _only(ChatDestination)
    assert destination.webhook_url == longest and len(longest) == URL_MAX
    assert (destination.kind, destination.team_id, destination.on_edition_sent,
            destination.on_story_published) == ("teams", ops.id, False, True)
    page = _text(admin_client.get(done.location))
    assert "does not look like" not in page  # a real workflow URL: no warning
    assert "prod-00.westeurope.logic.azure.com · …ssss" in page
    assert "Shout-outs and new stories of Ops only" in page
    assert "s" * 40 not in page


def test_http_is_allowed_only_to_this_machine_in_development_and_tests(app):
    assert services.check_url("http://127.0.0.1:8080/hook", "slack")[0].startswith("http://")
    app.config.update(TESTING=False, DEBUG=False)
    with pytest.raises(ValidationError, match="https://"):
        services.check_url("http://127.0.0.1:8080/hook", "slack")
    with pytest.raises(ValidationError, match="https://"):
        services.check_url("http://hooks.slack.com/services/x", "slack")
    url, warning = services.check_url("https://hooks.slack.com/services/T/B/x", "slack")
    assert warning is None
    assert "connector" in services.check_url("https://x.webhook.office.com/a", "teams")[1]


def test_a_refused_test_post_is_shown_with_its_answer_and_can_be_retried(app, admin_client,
                                                                         chat_server):
    chat_server.expect_request("/gone").respond_with_data("channel_not_found", status=404)
    destination = make_destination(chat_server.url_for("/gone"), name="Old channel")
    db.session.commit()

    page = _text(admin_client.post(f"/admin/chat/{destination.id}/test", follow_redirects=True))
    assert "The test post to “Old channel” was refused: 404 channel_not_found" in page
    assert re.search(r"Failed</span>.*?<code>404</code> <span class=\"chat-answer\">"
                     r"channel_not_found</span>", page, re.S)
    listing = _text(admin_client.get("/admin/chat/"))
    assert "Failure:" in listing and "404 channel_not_found" in listing and "1 failed" in listing
    assert "Retry 1 failed post" in page

    retried = admin_client.post(f"/admin/chat/{destination.id}/retry", follow_redirects=True)
    assert "1 failed post(s) will be tried again now." in _text(retried)
    assert wait_for_posts(app, 30)
    assert len(chat_server.log) == 2  # posted again right after the commit
    [post] = _only(ChatPost)
    assert (post.status, post.attempts) == (S.FAILED, 1)
    chat_server.clear_all_handlers()
    chat_server.expect_request("/gone").respond_with_data("ok")  # the channel is back
    admin_client.post(f"/admin/chat/{destination.id}/retry")
    assert wait_for_posts(app, 30)
    assert [p.status for p in _only(ChatPost)] == [S.SENT]
    nothing = admin_client.post(f"/admin/chat/{destination.id}/retry", follow_redirects=True)
    assert "There are no failed posts to retry." in _text(nothing)


@pytest.mark.app_config(CHAT_TIMEOUT_SECONDS=1)
def test_a_test_post_without_an_answer_says_it_will_be_retried(admin_client, chat_server):
    url = chat_server.url_for("/x").replace(f":{chat_server.port}", ":9")  # nothing listens
    destination = make_destination(url, kind="teams", name="Nowhere")
    db.session.commit()
    page = _text(admin_client.post(f"/admin/chat/{destination.id}/test", follow_redirects=True))
    assert "The test post to “Nowhere” did not go through" in page
    assert "It will be tried again." in page and "Waiting</span>" in page


def test_a_test_post_to_a_destination_deleted_meanwhile_says_so(admin_client, chat_server):
    engine = db.engine

    def deleted_while_posting(_request):  # another admin deletes it as the post goes out
        with engine.begin() as conn:
            conn.execute(sa.delete(ChatPost))
            conn.execute(sa.delete(ChatDestination))
        return Response("ok")

    chat_server.expect_request("/x").respond_with_handler(deleted_while_posting)
    destination = make_destination(chat_server.url_for("/x"), name="Kudos")
    db.session.commit()

    done = admin_client.post(f"/admin/chat/{destination.id}/test")
    assert done.status_code == 302 and done.location == "/admin/chat/"
    page = _text(admin_client.get(done.location))
    assert ("“Kudos” was deleted while the test post was being sent, so there is no answer to "
            "show. Nothing more is posted there.") in page
    assert "Test post delivered" not in page and "No chat destinations yet" in page
    assert len(chat_server.log) == 1 and _only(ChatDestination) == []


def test_a_teams_test_post_is_an_adaptive_card(admin_client, chat_server):
    chat_server.expect_request("/wf").respond_with_data("", status=202)
    destination = make_destination(chat_server.url_for("/wf"), kind="teams", name="Teams")
    db.session.commit()
    page = _text(admin_client.post(f"/admin/chat/{destination.id}/test", follow_redirects=True))
    assert "Test post delivered to “Teams” (202)" in page
    [body] = bodies(chat_server, "/wf")
    check_teams(body)


def test_delete_asks_first_then_removes_the_destination_and_its_posts(admin_client,
                                                                      chat_server):
    destination = make_destination(chat_server.url_for(f"/{SECRET}"), name="Kudos")
    make_post(destination, key="edition:1")
    db.session.commit()
    confirm = admin_client.get(f"/admin/chat/{destination.id}/delete")
    page = _text(confirm)
    assert "Delete “Kudos”?" in page and "1 waiting post will not be sent." in page
    assert SECRET not in page and _only(ChatDestination)

    done = admin_client.post(f"/admin/chat/{destination.id}/delete", follow_redirects=True)
    assert "“Kudos” is deleted" in _text(done)
    assert _only(ChatDestination) == [] and _only(ChatPost) == []
    [event] = _audit()
    assert (event.action, event.details) == ("chat.destination.delete",
                                             {"name": "Kudos", "kind": "slack"})
    assert admin_client.get(f"/admin/chat/{destination.id}").status_code == 404


def test_switching_platform_or_off_drops_waiting_posts(admin_client, chat_server):
    destination = make_destination(chat_server.url_for("/x"), name="Kudos")
    make_post(destination, key="a")
    sent = make_post(destination, key="b", status=S.SENT)
    db.session.commit()
    page = _text(admin_client.post(f"/admin/chat/{destination.id}/edit",
                                   data=_form(kind="teams"), follow_redirects=True))
    assert "1 waiting post(s) were dropped" in page
    assert "does not look like a Teams workflow URL" in page  # the kept URL is checked again
    assert [p.id for p in _only(ChatPost)] == [sent.id]
    make_post(destination, key="c")
    db.session.commit()
    admin_client.post(f"/admin/chat/{destination.id}/edit", data=_form(kind="teams", active=None))
    assert [p.id for p in _only(ChatPost)] == [sent.id]
    assert _only(ChatDestination)[0].active is False


def test_posts_are_listed_newest_first_a_page_at_a_time(admin_client, chat_server):
    destination = make_destination(chat_server.url_for("/x"), name="Kudos")
    for i in range(45):
        make_post(destination, key=f"k{i}", status=S.SENT, response_code=200,
                  response_text=f"answer-{i}")
    db.session.commit()
    first = _text(admin_client.get(f"/admin/chat/{destination.id}"))
    assert "answer-44" in first and "answer-25" in first and "answer-24" not in first
    older = re.search(r'href="([^"]+before=\d+)"', first).group(1).replace("&amp;", "&")
    second = _text(admin_client.get(older))
    assert "answer-24" in second and "answer-5<" in second and "answer-4<" not in second
    assert "Older posts" in second
    assert admin_client.get(f"/admin/chat/{destination.id}?before=x").status_code == 200
    assert admin_client.get(f"/admin/chat/{destination.id}?before=99999999999").status_code == 200


def test_only_admins_reach_the_chat_pages(app, editor_client, employee_client, client,
                                          chat_server):
    destination = make_destination(chat_server.url_for("/x"), name="Kudos")
    db.session.commit()
    base = f"/admin/chat/{destination.id}"
    routes = [("GET", "/admin/chat/"), ("GET", "/admin/chat/new"), ("POST", "/admin/chat/new"),
              ("GET", base), ("GET", f"{base}/edit"), ("POST", f"{base}/edit"),
              ("POST", f"{base}/test"), ("POST", f"{base}/retry"), ("GET", f"{base}/delete"),
              ("POST", f"{base}/delete")]
    for method, path in routes:
        for who in (editor_client, employee_client):
            response = who.open(path, method=method, data=_form(webhook_url="https://x.y/z"))
            assert response.status_code == 403, (method, path)
            assert "127.0.0.1" not in _text(response)
        anonymous = client.open(path, method=method)
        assert anonymous.status_code == 302 and "/login" in anonymous.location
    assert len(_only(ChatDestination)) == 1 and _only(ChatPost) == [] and _audit() == []
    assert len(chat_server.log) == 0


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_every_chat_form_needs_its_csrf_token(admin_client, chat_server):
    chat_server.expect_request("/x").respond_with_data("ok")
    destination = make_destination(chat_server.url_for("/x"), name="Kudos")
    db.session.commit()
    base = f"/admin/chat/{destination.id}"
    for path in ("/admin/chat/new", f"{base}/edit", f"{base}/test", f"{base}/retry",
                 f"{base}/delete"):
        refused = admin_client.post(path, data=_form(webhook_url="https://a.b/c", name="New"))
        assert refused.status_code == 400, path
    assert len(_only(ChatDestination)) == 1 and _only(ChatPost) == [] and not chat_server.log

    for path in ("/admin/chat/new", f"{base}/edit", f"{base}/delete", base, "/admin/chat/"):
        assert 'name="csrf_token"' in _text(admin_client.get(path)), path
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      _text(admin_client.get("/admin/chat/new"))).group(1)
    done = admin_client.post(f"{base}/test", data={"csrf_token": token}, follow_redirects=True)
    assert "Test post delivered" in _text(done)


def test_the_list_costs_the_same_queries_for_one_destination_or_twelve(admin_client, make_team,
                                                                       chat_server):
    from tests.querycount import count_queries

    def listed() -> int:
        with count_queries() as queries:
            assert admin_client.get("/admin/chat/").status_code == 200
        return queries.count

    team = make_team("Ops")
    make_destination(chat_server.url_for("/0"), name="d0", team_id=team.id)
    db.session.commit()
    one = listed()
    for i in range(1, 12):
        destination = make_destination(chat_server.url_for(f"/{i}"), name=f"d{i}",
                                       team_id=make_team(f"T{i}").id)
        make_post(destination, key="a")
        make_post(destination, key="b", status=S.FAILED)
    db.session.commit()
    twelve = listed()
    assert twelve == one
    page = _text(admin_client.get("/admin/chat/"))
    assert page.count("1 waiting") == 11 and page.count("1 failed") == 11
