"""The webhook URL is a secret and the server posts wherever it points: a failed post never
stores, shows or logs the URL (not even inside an exception's text or an answer that echoes
it), and outside development and tests the URL cannot point inside the network."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from werkzeug import Request
from werkzeug import Response

from app.chat import delivery
from app.chat import services
from app.errors import ValidationError
from app.extensions import db
from app.models import ChatDestination
from app.models import ChatPost
from app.models import ChatPostStatus
from tests.fixtures.chat import make_destination
from tests.fixtures.chat import make_post

S = ChatPostStatus
PATH_SECRET = "Pq7Rs2Tu9Vw4Xy1Za6Bc"
QUERY_SECRET = "sIg0Zq9Xw7Vb3Ls1Kp5MnTy"
SECRETS = (PATH_SECRET, QUERY_SECRET, PATH_SECRET[:10], QUERY_SECRET[:10])
HOOK = f"/workflows/{PATH_SECRET}/invoke?api-version=2016-06-01&sig={QUERY_SECRET}"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def _no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where}: {text!r}"


def _stored_texts() -> list[str]:
    """Every value of every chat_posts / chat_destinations column (but the URL itself)."""
    db.session.commit()
    texts = []
    for table in (ChatPost.__table__, ChatDestination.__table__):
        columns = [c for c in table.c if c.name != "webhook_url"]
        for row in db.session.execute(sa.select(*columns)):
            texts += [f"{table.name}.{c.name}={value}"
                      for c, value in zip(columns, row, strict=True)]
    return texts


def _check_nothing_leaked(admin_client, caplog, destination_id: int, responses: list) -> None:
    responses += [admin_client.get(path) for path in (
        "/admin/chat/", f"/admin/chat/{destination_id}", f"/admin/chat/{destination_id}/edit",
        f"/admin/chat/{destination_id}/delete")]
    for response in responses:
        assert response.status_code == 200
        _no_secret(response.get_data(as_text=True), response.request.path)
    stored = _stored_texts()
    assert any("last_failure=" in text and "None" not in text for text in stored)
    for text in stored:
        _no_secret(text, "stored")
    assert caplog.records  # the failures were logged…
    for record in caplog.records:  # …without the URL
        _no_secret(record.getMessage(), record.name)
        _no_secret(record.exc_text or "", record.name)


@pytest.mark.app_config(CHAT_TIMEOUT_SECONDS=1)
@pytest.mark.parametrize("kind", ["slack", "teams"])
@pytest.mark.parametrize("where", ["closed", "silent"])
def test_a_post_without_an_answer_keeps_the_url_out_of_rows_pages_and_logs(
        request, admin_client, caplog, kind, where):
    caplog.set_level(logging.DEBUG)
    port = request.getfixturevalue("closed_port" if where == "closed" else "black_hole")
    destination = make_destination(f"http://127.0.0.1:{port}{HOOK}", kind=kind, name="Wins")
    post = make_post(destination, key="edition:1")
    destination_id, post_id = destination.id, post.id
    db.session.commit()

    assert delivery.deliver_posts().deferred == 1  # the background path
    tested = admin_client.post(f"/admin/chat/{destination_id}/test",
                               follow_redirects=True)  # the admin's path, with its flash
    page = tested.get_data(as_text=True)
    assert "The test post to “Wins” did not go through" in page

    db.session.commit()
    text = db.session.get(ChatPost, post_id).response_text
    expected = "connection refused" if where == "closed" else "timed out"
    assert expected in text.lower() and expected in page  # still says what happened
    assert db.session.get(ChatDestination, destination_id).last_failure == text
    _check_nothing_leaked(admin_client, caplog, destination_id, [tested])


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_an_answer_echoing_the_url_is_stored_without_it(admin_client, chat_server, caplog,
                                                        kind):
    caplog.set_level(logging.INFO)

    def echo(req: Request) -> Response:
        return Response(f"no_service: POST {req.full_path} ({req.url}) token={QUERY_SECRET}",
                        status=404)

    chat_server.expect_request(HOOK.partition("?")[0]).respond_with_handler(echo)
    destination = make_destination(chat_server.url_for(HOOK), kind=kind, name="Wins")
    post = make_post(destination, key="edition:1")
    db.session.commit()

    assert delivery.deliver_posts().failed == 1
    db.session.commit()
    stored = db.session.get(ChatPost, post.id)
    assert (stored.status, stored.response_code) == (S.FAILED, 404)
    assert stored.response_text.startswith("no_service: POST …")  # the rest of it is kept
    caplog.records[:] = [r for r in caplog.records if r.name != "werkzeug"]  # the fake server's
    _check_nothing_leaked(admin_client, caplog, destination.id, [])


# -- where a URL may point ---------------------------------------------------------------------

INTERNAL = [
    "https://127.0.0.1/hook", "https://127.0.0.1:8443/hook", "https://localhost/hook",
    "https://LOCALHOST./hook", "https://chat.localhost/hook", "https://[::1]/hook",
    "https://10.0.0.5/hook", "https://172.16.3.4/hook", "https://192.168.0.10/hook",
    "https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/latest/meta-data/",
    "https://[fe80::1]/hook", "https://[fe80::1%25eth0]/hook",
    "https://[::ffff:169.254.169.254]/hook", "https://100.64.0.1/hook", "https://0.0.0.0/hook",
    "https://[::]/hook", "https://127.1/hook", "https://2130706433/hook", "https://0x7f.1/hook",
    "https://0177.0.0.1/hook", "https://224.0.0.1/hook", "https://240.0.0.1/hook",
    "https://255.255.255.255/hook",
]
PUBLIC = [
    "https://hooks.slack.com/services/T0/B0/x",
    "https://prod-00.westeurope.logic.azure.com:443/workflows/0a/triggers/manual/paths/invoke",
    "https://8.8.8.8/hook", "https://[2606:4700:4700::1111]/hook",
    "https://10.example.com/hook", "https://localhost.example.com/hook",
]


# Refused everywhere, development and tests included (app.outbound's address rule).
NEVER = [
    "https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/latest/meta-data/",
    "https://[fe80::1]/hook", "https://[fe80::1%25eth0]/hook",
    "https://[::ffff:169.254.169.254]/hook", "https://0.0.0.0/hook", "https://[::]/hook",
    "https://127.1/hook", "https://2130706433/hook", "https://0x7f.1/hook",
    "https://0177.0.0.1/hook", "https://2852039166/hook", "https://0/hook",
    "https://224.0.0.1/hook", "https://240.0.0.1/hook", "https://255.255.255.255/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
]
LOCAL = [u for u in INTERNAL if u not in NEVER]


@pytest.mark.app_config(TESTING=False, DEBUG=False)
def test_internal_addresses_are_refused_outside_development_and_tests(app):
    assert not (app.testing or app.debug)
    for url in INTERNAL + NEVER:
        with pytest.raises(ValidationError, match="cannot receive chat posts") as refused:
            services.check_url(url, "slack")
        assert refused.value.field == "webhook_url"
    for url in PUBLIC:
        assert services.check_url(url, "teams")[0] == url

    app.config["DEBUG"] = True  # a developer's own machine: a local stand-in is fine
    for url in LOCAL:
        assert services.check_url(url, "slack")[0] == url
    for url in NEVER:  # … but never cloud metadata or an address in disguise
        with pytest.raises(ValidationError, match="cannot receive chat posts"):
            services.check_url(url, "slack")


def test_metadata_and_disguised_addresses_are_refused_in_tests_too(app):
    assert app.testing
    for url in NEVER:
        with pytest.raises(ValidationError, match="cannot receive chat posts"):
            services.check_url(url, "slack")
    with pytest.raises(ValidationError, match=r"2852039166 means 169\.254\.169\.254, which is "
                                              r"link-local"):
        services.check_url("https://2852039166/hook", "slack")
    assert services.check_url("https://127.0.0.1:8443/hook", "slack")[0].startswith("https://127")


@pytest.mark.app_config(TESTING=False, DEBUG=False)
def test_names_are_resolved_and_every_address_checked(app, monkeypatch):
    real = socket.getaddrinfo
    answers = {"hooks.example.com": ["52.1.2.3", "10.0.0.7"],
               "evil.example.com": ["169.254.169.254"], "fine.example.com": ["52.1.2.3"]}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(ValidationError, match="hooks.example.com resolves to 10.0.0.7, which is "
                                              "inside the company network"):
        services.check_url("https://hooks.example.com/services/x", "slack")
    with pytest.raises(ValidationError, match="which is link-local"):
        services.check_url("https://evil.example.com/x", "slack")
    assert services.check_url("https://fine.example.com/x", "slack")[0].endswith("/x")
    app.config["DEBUG"] = True  # private allowed on a developer's machine, metadata never
    assert services.check_url("https://hooks.example.com/services/x", "slack")[0]
    with pytest.raises(ValidationError, match="which is link-local"):
        services.check_url("https://evil.example.com/x", "slack")


@pytest.mark.app_config(TESTING=False, DEBUG=False)
def test_the_form_refuses_the_metadata_address_and_keeps_the_input(admin_client):
    url = "https://169.254.169.254/latest/meta-data/iam"
    response = admin_client.post("/admin/chat/new", data={
        "name": "Sneaky", "kind": "slack", "webhook_url": url, "on_edition_sent": "y",
        "team": "", "active": "y"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ("This address cannot receive chat posts: 169.254.169.254 is link-local (where cloud "
            "metadata lives). Use the public webhook URL Slack or Teams gave you.") in page
    assert f'value="{url}"' in page and 'value="Sneaky"' in page
    db.session.commit()
    assert db.session.scalars(sa.select(ChatDestination)).all() == []
