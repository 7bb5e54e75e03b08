"""Tracked links in an edition email: every http(s) link of the compiled email (HTML and text)
goes through the signed redirect `/r/<link token>/<TRACK marker>`, the unsubscribe link excepted
(one-click unsubscribe must stay a direct link).

Done once per compiled edition (`track_links`), on the email as the composer made it, with its
per-recipient markers still in place: the link token names the edition, the story or quote the
link belongs to and the exact target URL, and the `%%FGF:TRACK%%` marker after it becomes each
message's tag when the sender fills the markers in. Left alone: `mailto:` and other schemes, the
unsubscribe link, applause links (they carry their own token and land on our page), the open
image (an <img>, not a link) and any link built from per-recipient markers, which cannot be
signed once for everybody. The edition's own web address (`%%FGF:WEB_URL%%`, the same for every
recipient) is resolved to the real URL and tracked like the others.

Which item a link belongs to ("click-through by story") does not depend on the email's layout:
a link to the item on the edition page (`…#story-12`, `…#quote-3`), to the story's own page
(`/stories/12`), or found in exactly one item's own text is that item's; other links (read on the
web, share your story) belong to the edition as a whole.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.models import Edition

_MARKER = "%%FGF:"
WEB_URL_MARKER = "%%FGF:WEB_URL%%"
TRACK_MARKER = "%%FGF:TRACK%%"
# An <a …> tag's href, either quote style (the composer's templates and nh3 write double quotes).
_ANCHOR_HREF_RE = re.compile(
    r"""(<a\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE | re.DOTALL
)
# A URL in the text part: a scheme and everything up to white space (trailing punctuation and
# unbalanced closing brackets are trimmed off afterwards: "see https://x.test/a." or "(url)").
_TEXT_URL_RE = re.compile(r"%%FGF:WEB_URL%%\S*|\bhttps?://\S+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"»›”’"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}
_ITEM_ANCHOR_RE = re.compile(r"#(story|quote)-([1-9][0-9]{0,9})$")
_STORY_PATH_RE = re.compile(r"/stories/([1-9][0-9]{0,9})(?:[/?#]|$)")


def track_links(edition: Edition, html: str, text: str) -> tuple[str, str]:
    """(html, text) of the email with its links tracked; called once per compiled edition.

    With the `track_clicks` setting off both come back unchanged."""
    from app.settings import get_setting

    if not get_setting("track_clicks"):
        return html, text
    tracker = _Tracker(edition)
    return tracker.html(html), tracker.text(text)


def applause_link(edition_id: int, story_id: int, applause_marker: str) -> str:
    """The absolute "Applaud" link of one story in the email: `<BASE>/a/<story id>/<marker>`.

    `applause_marker` is the APPLAUSE marker, filled per recipient with a signed token naming
    the reader and the edition (`RecipientKeys.applause`); the link opens a confirmation page
    and never applauds by itself (mail scanners open links). Never click-tracked. The edition is
    named by the token, so `edition_id` only documents which edition the link is for.
    """
    from app.web.urls import base_url

    return f"{base_url()}/a/{int(story_id)}/{applause_marker}"


def open_image_url(edition_id: int, track_marker: str) -> str | None:
    """The absolute URL of the 1×1 open-counting image, `<BASE>/o/<edition token>/<marker>.gif`,
    or None when the `track_opens` setting is off (the template then leaves the image out).

    `track_marker` is the TRACK marker, filled per recipient with the message's tag."""
    from app.engagement.tokens import make_edition_token
    from app.settings import get_setting
    from app.web.urls import base_url

    if not get_setting("track_opens"):
        return None
    return f"{base_url()}/o/{make_edition_token(edition_id)}/{track_marker}.gif"


class _Tracker:
    """Rewrites one edition's links; each distinct (target, item) is signed once."""

    def __init__(self, edition: Edition) -> None:
        from app.engagement import tokens
        from app.newsletter.links import edition_url
        from app.newsletter.links import unsubscribe_url
        from app.web.urls import base_url

        self.edition_id = edition.id
        self.tokens = tokens
        self.serializer = tokens.link_serializer()
        self.base = base = base_url()
        self.prefix = f"{base}/r/"
        self.web_url = edition_url(edition.number)
        self.story_prefix = f"{base}/stories/"
        # Our own links that must stay direct: applause (own token, own page), tracked links
        # and the open image (already ours), unsubscribe (one-click, RFC 8058).
        self.untouched = (f"{base}/a/", f"{base}/o/", self.prefix, unsubscribe_url("-")[:-1])
        self.items = _item_ids(edition)
        self.owner = _links_in_items(edition)
        self.signed: dict[tuple[str, str | None, int | None], str] = {}

    # -- the two parts ----------------------------------------------------------------------------

    def html(self, html: str) -> str:
        def rewrite(match: re.Match[str]) -> str:
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            tracked = self.track(html_lib.unescape(raw))
            if tracked is None:
                return match.group(0)
            return f'{match.group(1)}"{html_lib.escape(tracked, quote=True)}"'

        return _ANCHOR_HREF_RE.sub(rewrite, html)

    def text(self, text: str) -> str:
        known = sorted(self.owner, key=len, reverse=True)

        def rewrite(match: re.Match[str]) -> str:
            found = match.group(0)
            url = next((u for u in known if _is_url_then_punctuation(found, u)), None)
            url = url or _trim(found)
            tracked = self.track(url)
            if tracked is None:
                return found
            return tracked + found[len(url):]

        return _TEXT_URL_RE.sub(rewrite, text)

    # -- one link ---------------------------------------------------------------------------------

    def track(self, url: str) -> str | None:
        """The tracked form of `url`, or None to leave it as it is."""
        target = url.strip()
        if target.startswith(WEB_URL_MARKER):
            target = self.web_url + target[len(WEB_URL_MARKER):]
        if _MARKER in target or not target.lower().startswith(("http://", "https://")):
            return None  # per-recipient (unsubscribe, applause), mailto:, tel:, #anchors…
        if target.startswith(self.untouched):
            return None
        if not target.startswith(self.tokens.SCHEMES):  # "HTTPS://…": the scheme in lower case
            scheme, separator, rest = target.partition("://")
            target = scheme.lower() + separator + rest
        item_kind, item_id = self.item_of(url, target)
        key = (target, item_kind, item_id)
        token = self.signed.get(key)
        if token is None:
            token = self.tokens.make_link_token(
                self.tokens.LinkTarget(self.edition_id, item_kind, item_id, target),
                self.serializer,
            )
            self.signed[key] = token
        return f"{self.prefix}{token}/{TRACK_MARKER}"

    def item_of(self, original: str, target: str) -> tuple[str | None, int | None]:
        anchor = _ITEM_ANCHOR_RE.search(target)
        if anchor and (anchor.group(1), int(anchor.group(2))) in self.items:
            return anchor.group(1), int(anchor.group(2))
        if target.startswith(self.story_prefix):
            path = _STORY_PATH_RE.match(target[len(self.base):])
            if path and ("story", int(path.group(1))) in self.items:
                return "story", int(path.group(1))
        owner = self.owner.get(original) or self.owner.get(target)
        return owner if owner else (None, None)


def _is_url_then_punctuation(found: str, url: str) -> bool:
    """`found` is `url` followed by nothing but what `_trim` would take off."""
    return found.startswith(url) and all(
        ch in _TRAILING or ch in _CLOSERS for ch in found[len(url):]
    )


def _trim(found: str) -> str:
    """A URL found in running text, without the punctuation that ends the sentence around it
    and without closing brackets it never opened ("(see https://x.test/a_(b))" keeps one)."""
    url = found
    while url:
        last = url[-1]
        unopened = last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])
        if last not in _TRAILING and not unopened:
            break
        url = url[:-1]
    return url


def _item_ids(edition: Edition) -> set[tuple[str, int]]:
    ids = set()
    for entry in edition.items:
        if entry.story_id is not None:
            ids.add(("story", entry.story_id))
        elif entry.quote_id is not None:
            ids.add(("quote", entry.quote_id))
    return ids


def _links_in_items(edition: Edition) -> dict[str, tuple[str, int] | None]:
    """Each URL linked from an item's own text → that item (None when several items link it)."""
    owner: dict[str, tuple[str, int] | None] = {}
    for entry in edition.items:
        if entry.story is not None:
            item, body = ("story", entry.story.id), entry.story.body_html or ""
        elif entry.quote is not None:
            item, body = ("quote", entry.quote.id), entry.quote.text_html or ""
        else:
            continue
        for match in _ANCHOR_HREF_RE.finditer(body):
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            url = html_lib.unescape(raw).strip()
            if not url.lower().startswith(("http://", "https://")):
                continue
            owner[url] = item if owner.get(url, item) == item else None
    return owner
