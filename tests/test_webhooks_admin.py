"""Admin → Webhooks: admins add endpoints (bad URLs are form errors with the text kept), see the
secret once, rotate it, edit, delete with a confirmation, send a test, browse the deliveries log
(filtered, keyset-paginated) and replay; audit events; editors and employees get 403; every
form carries a CSRF token."""

from __future__ import annotations

import html
import re
import time

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from app.models import WebhookDelivery
from app.models import WebhookDeliveryStatus
from app.models import WebhookEndpoint
from app.models.webhooks import URL_MAX
from app.webhooks import signing
from app.webhooks.delivery import wait_for_deliveries
from tests.fixtures.webhooks import make_delivery
from tests.fixtures.webhooks import make_endpoint
from tests.fixtures.webhooks import received
from tests.fixtures.webhooks import verified
from tests.test_webhooks_delivery import answering

S = WebhookDeliveryStatus
SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _endpoints() -> list[WebhookEndpoint]:
    db.session.commit()
    return list(db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def _audit() -> list[AuditEvent]:
    db.session.commit()
    return list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.like("webhook.%")).order_by(AuditEvent.id)))


def _form(url="https://hooks.example.com/fgf", events=("edition.sent",), **values):
    return {"url": url, "events": list(events), "description": "", "active": "y", **values}


def test_admin_adds_an_endpoint_and_sees_the_secret_once(admin_client):
    empty = _text(admin_client.get("/admin/webhooks/"))
    assert "No webhook endpoints yet" in empty

    page = admin_client.post("/admin/webhooks/new", data=_form(
        events=["edition.sent", "story.published"], description="Intranet  news\x00 page"))

    assert page.status_code == 200  # rendered, not redirected: the secret is in this response
    assert page.headers["Cache-Control"] == "no-store"
    [endpoint] = _endpoints()
    text = _text(page)
    assert SECRET_RE.findall(text) == [endpoint.secret]
    assert "shown only this once" in text and "hmac.compare_digest" in text
    assert (endpoint.url, endpoint.events, endpoint.description, endpoint.active) == (
        "https://hooks.example.com/fgf", ["edition.sent", "story.published"],
        "Intranet news page", True)
    for later in ("/admin/webhooks/", f"/admin/webhooks/{endpoint.id}",
                  f"/admin/webhooks/{endpoint.id}/edit"):
        assert endpoint.secret not in _text(admin_client.get(later))
    [created] = _audit()
    assert created.action == "webhook.endpoint.create"
    assert endpoint.secret not in str(created.details)
    listing = _text(admin_client.get("/admin/webhooks/"))
    assert "hooks.example.com" in listing and "edition.sent" in listing


@pytest.mark.parametrize(("url", "message"), [
    ("", "Enter the endpoint's URL."),
    ("   ", "Enter the endpoint's URL."),
    ("ftp://example.com/x", "starting with https://"),
    ("hooks.example.com/x", "starting with https://"),
    ("https://user:pass@example.com/x", "must not contain a user name or password"),
    ("https://token@example.com/x", "must not contain a user name or password"),
    ("https://example.com/" + "a" * URL_MAX, "too long"),
    ("https://exa mple.com/x", "no spaces"),
    ("https://example.com/\u00e9", "no spaces"),
    ("https://example.com/x\x07", "no spaces"),
    ("https://example.com:99999999/x", "not a valid URL"),
    ("http://169.254.169.254/latest", "cannot receive webhooks"),
    ("http://[::]/x", "cannot receive webhooks"),
    # The same addresses in the forms a resolver takes (review: all were accepted).
    ("http://2852039166/", "2852039166 means 169.254.169.254, which is link-local"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "means 169.254.169.254, which is link-local"),
    ("http://169.16689662/", "means 169.254.169.254, which is link-local"),
    ("http://0xa9fe.0xa9fe/", "is not an address: write an IP address as four decimal"),
    ("http://0x7f.1/", "0x7f.1 means 127.0.0.1: write an IP address as four decimal numbers"),
    ("http://0177.0.0.1/", "write an IP address as four decimal numbers"),
    ("http://0/", "0 means 0.0.0.0, which is an unspecified address"),
    ("http://0.0.0.0:8080/", "0.0.0.0 is an unspecified address"),
    ("http://[::ffff:169.254.169.254]/", "(169.254.169.254) is link-local"),
    ("http://[::ffff:a9fe:a9fe]/", "(169.254.169.254) is link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/", "(169.254.169.254) is link-local"),
    ("http://[fe80::1%25eth0]/x", "fe80::1 is link-local"),
    ("http://metadata.google.internal/computeMetadata/v1/", "is a cloud metadata service"),
    ("http://METADATA.GOOGLE.INTERNAL./x", "is a cloud metadata service"),
    ("http://[fd00:ec2::254]/latest", "fd00:ec2::254 is a cloud metadata address"),
    ("http://224.0.0.1/x", "is a multicast address"),
    ("http://[ff02::1]/x", "is a multicast address"),
    ("http://255.255.255.255/x", "is a reserved address"),
    ("http://240.0.0.1/x", "is a reserved address"),
])
def test_bad_urls_are_form_errors_with_the_text_kept(admin_client, url, message):
    page = admin_client.post("/admin/webhooks/new", data=_form(
        url=url, events=["story.published"], description="Kept description"))
    text = _text(page)
    assert page.status_code == 200
    assert message in text
    assert "Kept description" in text
    assert re.search(r'value="story.published"[^>]*checked', page.get_data(as_text=True))
    if url.strip() and len(url) < 100 and url.isprintable():
        assert f'value="{html.escape(url.strip(), quote=True)}"' in page.get_data(as_text=True)
    assert _endpoints() == [] and _audit() == []


@pytest.fixture
def fake_dns(monkeypatch) -> dict[str, list[str]]:
    return answering(monkeypatch)


def test_a_name_is_refused_when_any_of_its_addresses_is(admin_client, fake_dns):
    fake_dns.update({"169.254.169.254.nip.io": ["169.254.169.254"],
                     "mixed.example.com": ["93.184.216.34", "fe80::1"],
                     "mapped.example.com": ["::ffff:169.254.169.254"],
                     "intranet.example.com": ["10.1.2.3", "fd12:3456::1"],
                     "public.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    for host, reason in (
            ("169.254.169.254.nip.io", "resolves to 169.254.169.254, which is link-local"),
            ("mixed.example.com", "resolves to fe80::1, which is link-local"),
            ("mapped.example.com",
             "resolves to ::ffff:a9fe:a9fe (169.254.169.254), which is link-local")):
        page = admin_client.post("/admin/webhooks/new", data=_form(url=f"https://{host}/x"))
        assert f"This address cannot receive webhooks: {host} {reason}" in _text(page), host
    assert _endpoints() == []
    for host in ("intranet.example.com", "public.example.com", "unknown.invalid"):
        admin_client.post("/admin/webhooks/new", data=_form(url=f"https://{host}/x"))
    assert [e.url for e in _endpoints()] == [  # private allowed; unresolved: checked at send
        "https://intranet.example.com/x", "https://public.example.com/x",
        "https://unknown.invalid/x"]


@pytest.mark.parametrize("require_https", [False, True])
def test_loopback_only_while_https_is_not_required(app, admin_client, fake_dns, require_https):
    app.config["WEBHOOK_REQUIRE_HTTPS"] = require_https
    fake_dns["me.example.com"] = ["127.0.0.1"]
    loopback = ["https://127.0.0.1:8443/x", "https://localhost/x", "https://[::1]/x",
                "https://127.5.5.5/x", "https://me.example.com/x", "https://app.localhost/x"]
    for url in loopback:
        text = _text(admin_client.post("/admin/webhooks/new", data=_form(url=url)))
        assert ("is this server (loopback)" in text) is require_https, url
    admin_client.post("/admin/webhooks/new", data=_form(url="https://10.0.0.5/x"))
    assert [e.url for e in _endpoints()] == (
        ["https://10.0.0.5/x"] if require_https else [*loopback, "https://10.0.0.5/x"])


@pytest.mark.parametrize("events", [[], ["nope"], ["edition.sent", "x" * 10_000]])
def test_events_must_be_chosen_and_known(admin_client, events):
    page = admin_client.post("/admin/webhooks/new", data=_form(events=events))
    assert page.status_code == 200
    assert "Choose at least one event." in _text(page) or "Unknown event type." in _text(page)
    assert _endpoints() == []


@pytest.mark.app_config(WEBHOOK_REQUIRE_HTTPS=True)
def test_https_is_required_when_configured(admin_client):
    page = admin_client.post("/admin/webhooks/new", data=_form(url="http://hooks.example.com/x"))
    assert "Use an https:// address" in _text(page) and _endpoints() == []
    admin_client.post("/admin/webhooks/new", data=_form(url="https://hooks.example.com/x"))
    assert len(_endpoints()) == 1


def test_a_too_long_description_is_refused(admin_client):
    page = admin_client.post("/admin/webhooks/new", data=_form(description="d" * 201))
    assert "At most 200 characters." in _text(page) and _endpoints() == []


def test_edit_changes_events_description_and_active_and_audits(admin_client, admin):
    endpoint = make_endpoint("https://hooks.example.com/a", events=["edition.sent"])
    db.session.commit()
    secret = endpoint.secret
    response = admin_client.post(f"/admin/webhooks/{endpoint.id}/edit", data=_form(
        url="https://hooks.example.com/b", events=["quote.published", "colleague.featured"],
        description="New", active=None))
    assert response.status_code == 302
    [saved] = _endpoints()
    assert (saved.url, saved.events, saved.description, saved.active, saved.secret) == (
        "https://hooks.example.com/b", ["quote.published", "colleague.featured"], "New", False,
        secret)
    [update] = _audit()
    assert update.action == "webhook.endpoint.update"
    assert update.details["new_url"] == "changed" and update.details["new_active"] is False


def test_rotate_asks_first_then_shows_the_new_secret_once(admin_client):
    endpoint = make_endpoint("https://hooks.example.com/a")
    db.session.commit()
    old = endpoint.secret
    confirm = admin_client.get(f"/admin/webhooks/{endpoint.id}/rotate")
    assert "Rotate the secret" in _text(confirm) and _endpoints()[0].secret == old

    page = admin_client.post(f"/admin/webhooks/{endpoint.id}/rotate")

    [rotated] = _endpoints()
    assert rotated.secret != old
    assert SECRET_RE.findall(_text(page)) == [rotated.secret]
    assert page.headers["Cache-Control"] == "no-store"
    assert [a.action for a in _audit()] == ["webhook.endpoint.rotate"]


def test_delete_asks_first_and_deletes_the_deliveries(admin_client):
    endpoint = make_endpoint("https://hooks.example.com/a")
    other = make_endpoint("https://hooks.example.com/b")
    for n in range(3):
        make_delivery(endpoint, key=str(n))
    make_delivery(other, key="kept")
    db.session.commit()
    confirm = admin_client.get(f"/admin/webhooks/{endpoint.id}/delete")
    assert "3 waiting deliveries will not be sent" in _text(confirm)
    assert len(_endpoints()) == 2

    response = admin_client.post(f"/admin/webhooks/{endpoint.id}/delete")

    assert response.status_code == 302
    assert [e.id for e in _endpoints()] == [other.id]
    assert db.session.scalars(sa.select(WebhookDelivery.dedupe_key)).all() == ["kept"]
    assert [a.action for a in _audit()] == ["webhook.endpoint.delete"]
    assert admin_client.get(f"/admin/webhooks/{endpoint.id}").status_code == 404


def test_a_test_delivery_is_sent_and_its_answer_shown(admin_client, webhook_server):
    webhook_server.expect_request("/hook").respond_with_data("received")
    endpoint = make_endpoint(webhook_server.url_for("/hook"), events=["edition.sent"])
    db.session.commit()
    page = admin_client.post(f"/admin/webhooks/{endpoint.id}/test", follow_redirects=True)
    assert "Test delivery accepted by 127.0.0.1" in _text(page) and "200 received" in _text(page)
    [request] = received(webhook_server, "/hook")
    assert verified(request, endpoint.secret)["type"] == "webhook.test"

    webhook_server.clear()
    webhook_server.expect_request("/hook").respond_with_data("nope", status=500)
    page = admin_client.post(f"/admin/webhooks/{endpoint.id}/test", follow_redirects=True)
    assert "did not go through: 500 nope" in _text(page)


def test_the_log_filters_paginates_and_shows_a_delivery(admin_client):
    endpoint = make_endpoint("https://hooks.example.com/a")
    rows = [make_delivery(endpoint, key=str(n), status=S.FAILED if n % 2 else S.DELIVERED,
                          attempts=1, response_code=500 if n % 2 else 200, response_ms=12,
                          response_text="<b>answer</b>")
            for n in range(30)]
    db.session.commit()
    first = admin_client.get(f"/admin/webhooks/{endpoint.id}")
    text = first.get_data(as_text=True)
    shown = [int(i) for i in re.findall(r'id="delivery-(\d+)"', text)]
    assert shown == [r.id for r in reversed(rows)][:25]  # newest first, a page of 25
    older = re.search(r'href="([^"]*cursor=[^"]*)"', text).group(1)
    second = admin_client.get(html.unescape(older)).get_data(as_text=True)
    assert [int(i) for i in re.findall(r'id="delivery-(\d+)"', second)] == [
        r.id for r in reversed(rows)][25:]
    newer = re.search(r'href="([^"]*cursor=[^"]*)"', second).group(1)
    back = admin_client.get(html.unescape(newer)).get_data(as_text=True)
    assert [int(i) for i in re.findall(r'id="delivery-(\d+)"', back)] == shown

    failed = admin_client.get(f"/admin/webhooks/{endpoint.id}?status=failed").get_data(
        as_text=True)
    assert [int(i) for i in re.findall(r'id="delivery-(\d+)"', failed)] == [
        r.id for r in reversed(rows) if r.status is S.FAILED]
    for odd in ("nonsense", "%00", "x" * 5000):
        assert admin_client.get(f"/admin/webhooks/{endpoint.id}?status={odd}").status_code == 200
    for cursor in ("-1", "abc", "W10", "x" * 5000, "WyJhZnRlciIsWyJ4IiwieSJdXQ"):
        tampered = admin_client.get(f"/admin/webhooks/{endpoint.id}?cursor={cursor}")
        assert tampered.status_code == 200  # read as the first page
        assert re.findall(r'id="delivery-(\d+)"', tampered.get_data(as_text=True))[0] == str(
            rows[-1].id)

    detail = admin_client.get(f"/admin/webhooks/{endpoint.id}/deliveries/{rows[1].id}")
    body = detail.get_data(as_text=True)
    assert "&lt;b&gt;answer&lt;/b&gt;" in body and "<b>answer</b>" not in body
    assert rows[1].message_id in body and "&#34;hello&#34;: &#34;world&#34;" in body
    other = make_endpoint("https://hooks.example.com/b")
    db.session.commit()
    assert admin_client.get(
        f"/admin/webhooks/{other.id}/deliveries/{rows[1].id}").status_code == 404


def test_empty_log_and_filter_states(admin_client):
    endpoint = make_endpoint("https://hooks.example.com/a")
    db.session.commit()
    assert "No deliveries yet" in _text(admin_client.get(f"/admin/webhooks/{endpoint.id}"))
    assert "No deliveries with this status" in _text(
        admin_client.get(f"/admin/webhooks/{endpoint.id}?status=failed"))


def test_replay_one_and_all_failed(app, admin_client, webhook_server):
    webhook_server.expect_request("/hook").respond_with_data("ok")
    endpoint = make_endpoint(webhook_server.url_for("/hook"))
    failed = [make_delivery(endpoint, key=str(n), status=S.FAILED, attempts=29) for n in range(3)]
    delivered = make_delivery(endpoint, key="d", status=S.DELIVERED, attempts=1)
    pending = make_delivery(endpoint, key="p")
    db.session.commit()
    ids = {r.id: r.message_id for r in failed}

    one = admin_client.post(
        f"/admin/webhooks/{endpoint.id}/deliveries/{failed[0].id}/replay", follow_redirects=True)
    assert "sent again now, with the same webhook-id" in _text(one)
    assert wait_for_deliveries(app, 30)
    conflict = admin_client.post(
        f"/admin/webhooks/{endpoint.id}/deliveries/{pending.id}/replay", follow_redirects=True)
    assert "still waiting to be sent" in _text(conflict)
    everything = admin_client.post(f"/admin/webhooks/{endpoint.id}/replay-failed",
                                   follow_redirects=True)
    assert "2 failed delivery(ies) will be sent again now." in _text(everything)
    assert wait_for_deliveries(app, 30)

    db.session.commit()
    for row_id, message_id in ids.items():
        row = db.session.get(WebhookDelivery, row_id)
        assert (row.status, row.attempts, row.message_id) == (S.DELIVERED, 1, message_id)
    assert sorted(r.headers["webhook-id"] for r in received(webhook_server, "/hook")) == sorted(
        ids.values())
    assert db.session.get(WebhookDelivery, delivered.id).attempts == 1
    assert [a.action for a in _audit()] == ["webhook.delivery.replay",
                                           "webhook.endpoint.replay_failed"]
    nothing = admin_client.post(f"/admin/webhooks/{endpoint.id}/replay-failed",
                                follow_redirects=True)
    assert "There are no failed deliveries to replay." in _text(nothing)


@pytest.mark.parametrize("who", ["employee_client", "editor_client"])
def test_non_admins_get_403(request, who):
    client = request.getfixturevalue(who)
    endpoint = make_endpoint("https://hooks.example.com/a")
    row = make_delivery(endpoint, status=S.FAILED)
    db.session.commit()
    base = f"/admin/webhooks/{endpoint.id}"
    for path in ("/admin/webhooks/", "/admin/webhooks/new", base, f"{base}/edit",
                 f"{base}/rotate", f"{base}/delete", f"{base}/deliveries/{row.id}"):
        assert client.get(path).status_code == 403, path
    for path in ("/admin/webhooks/new", f"{base}/edit", f"{base}/rotate", f"{base}/delete",
                 f"{base}/test", f"{base}/replay-failed", f"{base}/deliveries/{row.id}/replay"):
        assert client.post(path, data=_form()).status_code == 403, path
    assert len(_endpoints()) == 1 and _audit() == []


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/webhooks/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_posts_without_a_csrf_token_are_refused(admin_client):
    endpoint = make_endpoint("https://hooks.example.com/a")
    db.session.commit()
    old = endpoint.secret
    for path in ("/admin/webhooks/new", f"/admin/webhooks/{endpoint.id}/rotate",
                 f"/admin/webhooks/{endpoint.id}/delete", f"/admin/webhooks/{endpoint.id}/test",
                 f"/admin/webhooks/{endpoint.id}/replay-failed"):
        response = admin_client.post(path, data=_form())
        assert response.status_code in (200, 400), path
    [kept] = _endpoints()
    assert kept.secret == old
    assert _audit() == []
    form = admin_client.get("/admin/webhooks/new").get_data(as_text=True)
    assert 'name="csrf_token"' in form


def test_the_python_snippet_on_the_secret_page_verifies_a_real_delivery(admin_client):
    page = admin_client.post("/admin/webhooks/new", data=_form())
    [endpoint] = _endpoints()
    [code] = re.findall(r'<pre class="webhooks-code"><code>(.*?)</code></pre>',
                        page.get_data(as_text=True), re.S)
    namespace: dict = {}
    exec(compile(html.unescape(code), "snippet", "exec"), namespace)  # noqa: S102 -- our page
    verify = namespace["verify"]
    body = b'{"type":"edition.sent","data":{}}'
    headers = signing.headers(endpoint.secret, "msg_1", int(time.time()), body)
    assert verify(endpoint.secret, body, headers) is True
    assert verify(endpoint.secret, body + b" ", headers) is False
    assert verify(signing.new_secret(), body, headers) is False
    old = signing.headers(endpoint.secret, "msg_1", int(time.time()) - 600, body)
    assert verify(endpoint.secret, body, old) is False


def test_the_delivery_page_shows_what_the_last_attempt_sent_and_no_made_up_signature(
        admin_client, webhook_server):
    webhook_server.expect_request("/hook").respond_with_data("ok")
    endpoint = make_endpoint(webhook_server.url_for("/hook"))
    row = make_delivery(endpoint)
    never = make_delivery(endpoint, key="never")
    db.session.commit()
    from app.webhooks import delivery

    assert delivery.deliver(ids=[row.id]).done == 1
    [request] = received(webhook_server, "/hook")
    admin_client.post(f"/admin/webhooks/{endpoint.id}/rotate", data={})  # a new secret now

    page = _text(admin_client.get(f"/admin/webhooks/{endpoint.id}/deliveries/{row.id}"))
    assert f"webhook-id: {request.headers['webhook-id']}" in page
    assert f"webhook-timestamp: {request.headers['webhook-timestamp']}" in page  # as sent
    assert "webhook-signature: (not stored)" in page and "signed anew" in page
    assert "v1," not in page and request.headers["webhook-signature"] not in page
    untried = _text(admin_client.get(f"/admin/webhooks/{endpoint.id}/deliveries/{never.id}"))
    assert "Headers of the last attempt" not in untried and "Not tried yet" in untried
