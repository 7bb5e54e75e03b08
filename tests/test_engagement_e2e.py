"""The issue's "done when" for readership, end to end: an edition with two stories is sent to
three colleagues through a real SMTP server; each received message is parsed with the email
package; its tracked links (HTML and text part) and its open image are followed with a real HTTP
client against the live app (redirects not followed: 302 to exactly the original target); a
tampered token is refused; the edition's page then shows the numbers, in both analytics modes."""

from __future__ import annotations

import html as html_lib
import re
import urllib.error
import urllib.request
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.engagement import tokens
from app.extensions import db
from app.models import Edition
from app.models import EditionStatus
from app.models import EngagementEvent
from app.models import Role
from app.models import SubmissionStatus
from app.models import utcnow
from app.newsletter import jobs
from app.newsletter import sending
from app.settings import set_settings
from tests import factories
from tests.fixtures.smtp import configure_app_for
from tests.test_engagement_report import figure
from tests.test_engagement_report import item_clickers

pytestmark = pytest.mark.slow

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
APPLE_PROXY = "Mozilla/5.0"  # Apple Mail Privacy Protection's prefetch
PROCESS = "https://example.com/process"
GUIDE = "https://docs.example.org/guide?x=1&y=2"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx comes back as an HTTPError we can inspect


_opener = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, agent: str = BROWSER) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": agent})
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def parts(message: EmailMessage) -> tuple[str, str]:
    return (message.get_body(("html",)).get_content(),
            message.get_body(("plain",)).get_content())


def tracked_links(base: str, html: str, text: str) -> tuple[list[str], list[str]]:
    prefix = re.escape(f"{base}/r/")
    in_html = [html_lib.unescape(u) for u in re.findall(rf'href="({prefix}[^"]+)"', html)]
    # As a mail program links a URL in running text: without the punctuation that ends the
    # sentence around it ("(see https://…/r/…/tag).").
    in_text = [u.rstrip(").,;:!?]>'\"") for u in re.findall(rf"{prefix}\S+", text)]
    return in_html, in_text


def target_of(link: str) -> tokens.LinkTarget:
    """What a tracked link's signed token says (the server reads it the same way)."""
    return tokens.read_link_token(urlsplit(link).path.split("/")[2])


def link_to(links: list[str], url: str) -> str:
    found = [link for link in links if target_of(link).url == url]
    assert found, (url, [target_of(link).url for link in links])
    return found[0]


@pytest.mark.parametrize("mode", ["aggregate", "person"])
def test_reads_of_a_really_sent_edition_appear_in_its_report(
    app, smtp_server, live_server, login_as, mode
):
    configure_app_for(app, smtp_server)
    app.config["BASE_URL"] = live_server
    set_settings({"analytics_mode": mode, "track_opens": True, "track_clicks": True}, actor=None)
    team = factories.make_team("Support")
    editor = factories.make_user(Role.EDITOR, team=team, email="dana@example.com")
    ana = factories.make_user(team=team, email="ana@example.com")
    ben = factories.make_user(team=team, email="ben@example.com")
    author = factories.make_user(active=False)  # not a recipient
    night = factories.make_story(
        author, status=SubmissionStatus.APPROVED, title="The night shift",
        body=f"Noah stayed on the line. See [our process]({PROCESS}).",
    )
    quiet = factories.make_story(
        author, status=SubmissionStatus.APPROVED, title="A quiet hero",
        body=f"Amina fixed it before anyone noticed. [The guide]({GUIDE})",
    )
    edition = factories.make_edition(status=EditionStatus.DRAFT, items=[night, quiet],
                                     subject="Two stories")
    db.session.commit()
    now = utcnow()
    sending.request_send_now(edition, editor, now=now)
    db.session.commit()
    jobs.deliver(now + timedelta(seconds=15))
    db.session.expire_all()
    edition = db.session.get(Edition, edition.id)
    assert edition.status == EditionStatus.SENT and edition.sent_count == 3

    received = {
        m.rcpt_tos[0]: m.message
        for m in smtp_server.messages
        if "Two stories" in m.message["Subject"]
    }
    assert sorted(received) == ["ana@example.com", "ben@example.com", "dana@example.com"]
    emails = {address: parts(message) for address, message in received.items()}

    # Every message: its links tracked in both parts, one open image, all ours and signed.
    for address, (html, text) in emails.items():
        in_html, in_text = tracked_links(live_server, html, text)
        assert in_html and in_text, address
        assert PROCESS not in html and GUIDE not in html.replace("&amp;", "&")
        assert PROCESS not in text and GUIDE not in text
        assert {target_of(u).url for u in in_text} <= {target_of(u).url for u in in_html}
        assert all(target_of(u).edition_id == edition.id for u in in_html + in_text)
        images = re.findall(rf'src="({re.escape(live_server)}/o/[^"]+\.gif)"', html)
        assert len(images) == 1, address

    # Ana: opens it (twice, one message) and follows both stories' links from the HTML part,
    # the first one twice.
    html, text = emails["ana@example.com"]
    in_html, _ = tracked_links(live_server, html, text)
    for url, times in ((PROCESS, 2), (GUIDE, 1)):
        link = link_to(in_html, url)
        assert (target_of(link).item_kind, target_of(link).item_id) == (
            "story", night.id if url == PROCESS else quiet.id)
        for _ in range(times):
            status, headers, _body = fetch(link)
            assert status == 302 and headers["Location"] == url
    image = re.search(r'src="([^"]+\.gif)"', html).group(1)
    for _ in range(2):
        status, headers, body = fetch(html_lib.unescape(image))
        assert status == 200 and headers["Content-Type"] == "image/gif"
        assert body.startswith(b"GIF89a")

    # Ben: Apple's privacy proxy fetches his image (not a read); he clicks from the text part.
    html, text = emails["ben@example.com"]
    _, in_text = tracked_links(live_server, html, text)
    status, _headers, body = fetch(
        html_lib.unescape(re.search(r'src="([^"]+\.gif)"', html).group(1)), APPLE_PROXY)
    assert status == 200 and body.startswith(b"GIF89a")
    status, headers, _body = fetch(link_to(in_text, PROCESS))
    assert status == 302 and headers["Location"] == PROCESS

    # Dana reads nothing; a tampered token is refused, and records nothing.
    html, text = emails["dana@example.com"]
    in_html, _ = tracked_links(live_server, html, text)
    link = link_to(in_html, GUIDE)
    token = urlsplit(link).path.split("/")[2]
    forged = link.replace(token, token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"))
    status, headers, body = fetch(forged)
    assert status == 404 and "Location" not in headers
    assert "doesn’t lead anywhere" in body.decode("utf-8")  # the friendly page

    db.session.commit()  # end this session's read snapshot: the live server wrote since
    stored = db.session.execute(
        sa.select(EngagementEvent.kind, EngagementEvent.tag, EngagementEvent.user_id)
        .where(EngagementEvent.edition_id == edition.id)
    ).all()
    assert sorted(kind for kind, _, _ in stored) == [
        "click", "click", "click", "click", "open", "open", "proxy_open"]
    users = {user_id for _, _, user_id in stored}
    if mode == "aggregate":
        assert users == {None}  # nobody's reading is recorded
        assert all(re.fullmatch(r"r[A-Za-z0-9_-]{16}", tag) for _, tag, _ in stored)
    else:
        assert users == {ana.id, ben.id}

    # The report on the edition's page, as the editor sees it.
    page = login_as(editor).get(f"/editions/{edition.number}").get_data(as_text=True)
    assert figure(page, "delivered") == "3"
    assert figure(page, "opened") == "1"
    assert figure(page, "proxy") == "1"
    assert figure(page, "clicked") == "2"
    assert "33.3 % of delivered" in page and "66.7 % of delivered" in page
    assert item_clickers(page) == {f"story-{night.id}": 2, f"story-{quiet.id}": 1}
    assert "First edition: nothing to compare yet." in page
    assert f'data-mode="{mode}"' in page
    if mode == "person":
        assert "Did my team read it?" in page
        # One team of 3: grouped as "Small teams", and still too few to show who read.
        row = re.search(r'<tr data-team="Small teams">(.*?)</tr>', page, re.DOTALL).group(1)
        assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["3"]
        assert "too few recipients to show" in row
        assert "Support" not in page.split("Did my team read it?")[1]
        for person in (ana, ben, editor):
            assert person.email not in page.split('data-readership')[1].split("</section>")[0]
    else:
        assert "Did my team read it?" not in page and "data-team=" not in page
