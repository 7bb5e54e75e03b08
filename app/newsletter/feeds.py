"""The Atom feed of sent editions (RFC 4287), built as XML so escaping cannot go wrong.

One document, two addresses: `/editions.atom` for a signed-in browser (or a portal sharing the
session), and each person's private `/feeds/<secret>/editions.atom` for real feed readers, which
cannot send the session cookie (app.branding.views). Entries link to the archive, which asks
for sign-in as always.
"""

from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree as ET  # noqa: N817

from app.models import Edition
from app.models import utcnow
from app.newsletter import links
from app.newsletter.compose import WEB_URL
from app.newsletter.compose import marker
from app.newsletter.compose import render_edition
from app.text import xml_safe
from app.web.urls import absolute_url

ATOM_NS = "http://www.w3.org/2005/Atom"


def atom(editions: list[Edition], *, self_url: str | None = None) -> bytes:
    """A valid Atom 1.0 document of `editions` (newest first); `self_url` is the address the
    reader fetched (default: the signed-in feed's)."""
    ET.register_namespace("", ATOM_NS)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            node.text = xml_safe(text)  # rows stored before app.text cleaned input may hold any
        return node

    home = absolute_url()
    archive_url = absolute_url("newsletter.archive")
    root = ET.Element(f"{{{ATOM_NS}}}feed")
    el(root, "id", archive_url)
    el(root, "title", "Feel Good Fridays")
    el(root, "subtitle", "Stories of colleagues who made a customer's day, every Friday.")
    el(root, "updated", rfc3339(editions[0].sent_at if editions else None))
    el(root, "link", rel="self", href=self_url or absolute_url("newsletter.feed"),
       type="application/atom+xml")
    el(root, "link", rel="alternate", href=archive_url, type="text/html")
    author = el(root, "author")
    el(author, "name", "Feel Good Fridays")
    el(author, "uri", home)
    for edition in editions:
        url = links.edition_url(edition.number)
        entry = el(root, "entry")
        el(entry, "id", url)
        el(entry, "title", edition.full_subject)
        el(entry, "link", rel="alternate", href=url, type="text/html")
        el(entry, "published", rfc3339(edition.sent_at))
        el(entry, "updated", rfc3339(edition.sent_at))
        body = render_edition(edition).web_html.replace(marker(WEB_URL), url)
        el(entry, "content", body, type="html")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def rfc3339(when: datetime | None) -> str:
    return (when or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")
