"""The one Markdown renderer for stories, quotes and editor intros (pages, live preview, emails).

Why a single module: the page, the live preview and both parts of every email must agree on
what a story looks like and on what is safe, so all user-written rich text goes through
`render_markdown` (HTML) or `render_plain_text` (text/plain email parts), and cards and search
results use `excerpt` (and the email's teaser cards `two_sentences` of `excerpt_lines`).

Pipeline
--------
1. Input hygiene: C0 control characters other than tab/newline/CR are dropped and lone
   surrogates become U+FFFD (they cannot be encoded as UTF-8 and break emails). The renderer
   does not Unicode-normalise: stored text is already NFC (`app.text.clean_text` at save time,
   which keeps CJK compatibility ideographs as typed), and a preview shows what will be saved.

2. Python-Markdown with a fixed extension set (`MARKDOWN_EXTENSIONS`), built once per thread:

   - core: paragraphs, emphasis, lists, links, blockquotes, headings, rules, code spans.
   - ``fenced_code``: ``` blocks, for the occasional snippet in an engineering story.
   - ``tables``: simple tables; alignment is emitted as the ``align`` attribute because the
     sanitizer cannot safely allow ``style``.
   - ``sane_lists``: a numbered list right after a bullet list starts a new list instead of
     silently merging into it, which is what non-technical writers expect.
   - NOT ``nl2br``: a single newline joins lines as in every other Markdown tool, so text pasted
     from an email wrapped at 72 columns does not get hard breaks. A blank line starts a new
     paragraph; two trailing spaces force a line break.
   - ``_FeelGoodExtension`` (below), the house rules:

     * Raw HTML is ESCAPED, never passed through: ``<b>hi</b>`` is shown literally. Escaping
       (rather than removing) never eats text such as ``x <y> z`` or ``I <3 this``.
     * Character references are literal too: ``&copy;`` shows as ``&copy;``. Same rule - what
       you typed is what readers see - and it closes the entity-obfuscation channel early.
     * Images are not supported: ``![alt](src)`` renders its alt text as ordinary text. Stories
       must not hot-link tracking pixels or huge files into pages and emails.
     * Headings are demoted: h1/h2 -> h3 and h5/h6 -> h4, so user text never competes with
       the page's own headings and the allow-list needs only h3/h4.
     * ``~~text~~`` -> ``<del>``.

3. nh3 (ammonia) with an explicit allow-list - the security boundary, so a bug or a new
   feature in step 2 still cannot produce active content:

   - tags: `ALLOWED_TAGS`; anything else is removed, keeping its text, except
     `DROPPED_WITH_CONTENT` (script, style, iframe, svg, ...) which disappear entirely;
   - attributes: `a[href, title]`, `ol[start]`, `th/td[align]` (left/center/right only);
     never ``style``, ``class``, ``id`` or event handlers;
   - URLs: absolute ``http``, ``https`` and ``mailto`` only. Relative, protocol-relative and
     fragment links are dropped as well as ``javascript:``/``vbscript:``/``data:`` (however
     they are encoded): relative links mean nothing in an email and would resolve against
     whichever host shows them. A link without a usable URL keeps its text;
   - ``rel="noopener noreferrer"`` on every link; HTML comments are stripped.

`render_markdown` returns `markupsafe.Markup` (a ``str``), so templates need no ``|safe`` and
concatenating it with untrusted strings escapes them.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import xml.etree.ElementTree as etree  # builds Python-Markdown elements; never parses
from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser

import markdown
import nh3
from markdown.extensions import Extension
from markdown.inlinepatterns import ImageInlineProcessor
from markdown.inlinepatterns import ImageReferenceInlineProcessor
from markdown.inlinepatterns import InlineProcessor
from markdown.inlinepatterns import ShortImageReferenceInlineProcessor
from markdown.inlinepatterns import SimpleTagInlineProcessor
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "ALLOWED_URL_SCHEMES",
    "DROPPED_WITH_CONTENT",
    "ELLIPSIS",
    "LINK_REL",
    "MARKDOWN_EXTENSIONS",
    "excerpt",
    "excerpt_lines",
    "render_markdown",
    "render_plain_text",
    "sanitize_html",
    "two_sentences",
]

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "p", "br", "strong", "em", "b", "i", "del", "code", "pre", "a", "blockquote",
        "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "h3", "h4", "hr",
    }
)  # fmt: skip
# Attributes per tag; `rel` on <a> is set by the sanitizer itself, never taken from input.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title", "rel"}),
    "ol": frozenset({"start"}),
    "th": frozenset({"align"}),
    "td": frozenset({"align"}),
}
ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer"
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "script", "style", "template", "iframe", "frame", "frameset", "object", "embed",
        "applet", "noscript", "noembed", "noframes", "svg", "math", "textarea", "select",
        "title", "xmp",
    }
)  # fmt: skip
MARKDOWN_EXTENSIONS: tuple[str, ...] = ("fenced_code", "tables", "sane_lists")

_ALIGN_VALUES = {"left", "center", "right"}
_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    tag_attribute_values={"th": {"align": _ALIGN_VALUES}, "td": {"align": _ALIGN_VALUES}},
    url_schemes=set(ALLOWED_URL_SCHEMES),
    url_relative="deny",
    link_rel=LINK_REL,
    strip_comments=True,
)

# --------------------------------------------------------------------------- Markdown stage

# Everything a browser would decode as a character reference once Python-Markdown's serializer
# leaves it alone (see markdown.serializers.RE_AMP): named, decimal and hex, any case.
_CHAR_REF_RE = r"(?i)&(?:#[0-9]+|#x[0-9a-f]+|[0-9a-z]+);"
_STRIKE_RE = r"(~~)(?=\S)(.+?)(?<=\S)~~"
_HEADING_LEVELS = {"h1": "h3", "h2": "h3", "h5": "h4", "h6": "h4"}


class _LiteralCharRef(InlineProcessor):
    """Show ``&name;`` as typed by stashing it with its ampersand escaped."""

    def handleMatch(self, m: re.Match[str], data: str) -> tuple[str, int, int]:
        return self.md.htmlStash.store("&amp;" + m.group(0)[1:]), m.start(0), m.end(0)


def _image_as_text(text: str) -> etree.Element:
    """A <span> holding the alt text: inline-processed like link text, unwrapped by nh3."""
    el = etree.Element("span")
    el.text = text
    return el


class _ImageAsText(ImageInlineProcessor):
    """``![alt](src "title")`` -> the alt text; the URL is parsed only to consume it."""

    def handleMatch(
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | None, int | None, int | None]:
        text, index, handled = self.getText(data, m.end(0))
        if not handled:
            return None, None, None
        _src, _title, index, handled = self.getLink(data, index)
        if not handled:
            return None, None, None
        return _image_as_text(text), m.start(0), index


class _ImageReferenceAsText(ImageReferenceInlineProcessor):
    def makeTag(self, href: str, title: str, text: str) -> etree.Element:
        return _image_as_text(text)


class _ShortImageReferenceAsText(ShortImageReferenceInlineProcessor):
    def makeTag(self, href: str, title: str, text: str) -> etree.Element:
        return _image_as_text(text)


class _DemoteHeadings(Treeprocessor):
    """h1/h2 -> h3 and h5/h6 -> h4: the page owns the top levels; the allow-list has h3/h4."""

    def run(self, root: etree.Element) -> None:
        for el in root.iter():
            el.tag = _HEADING_LEVELS.get(el.tag, el.tag)


class _FeelGoodExtension(Extension):
    """Raw HTML and entities escaped, images as text, headings demoted, ``~~del~~``."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.inlinePatterns.register(_LiteralCharRef(_CHAR_REF_RE, md), "entity", 80)
        patterns = md.inlinePatterns
        patterns.register(_ImageAsText(patterns["image_link"].pattern, md), "image_link", 150)
        patterns.register(
            _ImageReferenceAsText(patterns["image_reference"].pattern, md), "image_reference", 140
        )
        patterns.register(
            _ShortImageReferenceAsText(patterns["short_image_ref"].pattern, md),
            "short_image_ref",
            125,
        )
        patterns.register(SimpleTagInlineProcessor(_STRIKE_RE, "del"), "del", 175)
        md.treeprocessors.register(_DemoteHeadings(md), "demote_headings", 15)


_local = threading.local()


def _markdown() -> markdown.Markdown:
    """One configured instance per thread: `markdown.Markdown` is not thread-safe."""
    md: markdown.Markdown | None = getattr(_local, "md", None)
    if md is None:
        md = markdown.Markdown(
            extensions=[*MARKDOWN_EXTENSIONS, _FeelGoodExtension()],
            extension_configs={"tables": {"use_align_attribute": True}},
            output_format="html",
        )
        _local.md = md
    return md


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def _prepare(text: str) -> str:
    if _SURROGATE_RE.search(text):
        # Re-pairs split surrogate pairs; lone halves become U+FFFD.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL_RE.sub("", text)


def sanitize_html(html: str) -> Markup:
    """Apply the allow-list to HTML that did not come from `render_markdown` (already applied)."""
    return Markup(_CLEANER.clean(_prepare(html)))  # noqa: S704 - this IS the sanitizer


def render_markdown(text: str) -> Markup:
    """Markdown source -> safe HTML fragment, for pages, the live preview and HTML emails."""
    if not text or not text.strip():
        return Markup("")
    md = _markdown()
    try:
        html = md.convert(_prepare(text))
    finally:
        md.reset()  # drop this document's references and stash before the next call
    return Markup(_CLEANER.clean(html))  # noqa: S704 - sanitized just here


# --------------------------------------------------------------------------- plain text

_VOID_TAGS = {"br", "hr"}
_BLOCK_TAGS = {
    "p", "h3", "h4", "ul", "ol", "li", "blockquote", "pre", "table", "thead", "tbody", "tr",
    "th", "td", "hr",
}  # fmt: skip
_HTML_SPACE_RE = re.compile(r"[ \t\n\r\f]+")  # what HTML collapses; NBSP & co. are content


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """Minimal DOM of the sanitized HTML (well-formed, allow-listed tags only)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {name: value or "" for name, value in attrs})
        self._stack[-1].children.append(node)
        if tag not in _VOID_TAGS:
            self._stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._stack) - 1, 0, -1):
            if self._stack[depth].tag == tag:
                del self._stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._stack[-1].children.append(data)


def _parse(html: str) -> _Node:
    builder = _TreeBuilder()
    builder.feed(str(html))  # a plain str: Markup would escape what we concatenate onto it
    builder.close()
    return builder.root


def _link_target(href: str) -> str:
    return href[len("mailto:") :] if href.lower().startswith("mailto:") else href


def _inline(nodes: list[_Node | str], lines: list[str]) -> None:
    """Append inline content to ``lines[-1]``; <br> starts a new line."""
    for node in nodes:
        if isinstance(node, str):
            lines[-1] += node
        elif node.tag == "br":
            lines.append("")
        elif node.tag == "a" and node.attrs.get("href"):
            inner = [""]
            _inline(node.children, inner)
            lines[-1] += inner[0]
            lines.extend(inner[1:])
            target = _link_target(node.attrs["href"])
            if _squash(" ".join(inner)) != target:
                lines[-1] += f" ({target})"
        else:
            _inline(node.children, lines)


def _squash(line: str) -> str:
    return _HTML_SPACE_RE.sub(" ", line).strip(" ")


def _finish(lines: list[str]) -> str:
    return "\n".join(_squash(line) for line in lines).strip("\n")


def _hang(marker: str, body: str) -> str:
    """Prefix the first line with ``marker`` and indent the rest to match."""
    first, *rest = body.split("\n")
    pad = " " * len(marker)
    return "\n".join([marker + first, *(pad + line if line else "" for line in rest)])


def _text_content(node: _Node | str) -> str:
    if isinstance(node, str):
        return node
    return "".join(_text_content(child) for child in node.children)


def _blocks(nodes: list[_Node | str]) -> list[str]:
    """Render a node list as text blocks; runs of inline content form one block."""
    out: list[str] = []
    pending = [""]
    for node in nodes:
        if isinstance(node, str) or node.tag not in _BLOCK_TAGS:
            _inline([node], pending)
            continue
        if text := _finish(pending):
            out.append(text)
        pending = [""]
        if text := _block(node):
            out.append(text)
    if text := _finish(pending):
        out.append(text)
    return out


def _block(node: _Node) -> str:
    if node.tag in ("ul", "ol"):
        start = node.attrs.get("start", "1")
        number = int(start) if start.isascii() and start.isdigit() else 1
        items = []
        for child in node.children:
            if isinstance(child, _Node) and child.tag == "li":
                marker = f"{number}. " if node.tag == "ol" else "- "
                number += 1
                items.append(_hang(marker, "\n".join(_blocks(child.children))))
        return "\n".join(items)
    if node.tag == "blockquote":
        inner = "\n\n".join(_blocks(node.children))
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if node.tag == "pre":
        return _text_content(node).strip("\n")
    if node.tag == "table":
        rows = []
        for row in _find_all(node, "tr"):
            cells = [
                _finish(_inline_lines(cell.children))
                for cell in row.children
                if isinstance(cell, _Node) and cell.tag in ("th", "td")
            ]
            rows.append(" | ".join(cell.replace("\n", " ") for cell in cells))
        return "\n".join(rows)
    if node.tag == "hr":
        return "----"
    return "\n".join(_blocks(node.children))


def _inline_lines(nodes: list[_Node | str]) -> list[str]:
    lines = [""]
    _inline(nodes, lines)
    return lines


def _find_all(node: _Node, tag: str) -> list[_Node]:
    found: list[_Node] = []
    for child in node.children:
        if isinstance(child, _Node):
            if child.tag == tag:
                found.append(child)
            else:
                found.extend(_find_all(child, tag))
    return found


def render_plain_text(text: str) -> str:
    """Markdown source -> readable text for text/plain email parts.

    Built from the sanitized HTML so it says exactly what HTML readers see: links as
    "text (url)" (just the url when the text is the url), list items as "- " or "1. ",
    quotes as "> ", table rows as cells joined by " | ", emphasis markers dropped.
    """
    return "\n\n".join(_blocks(_parse(render_markdown(text)).children))


# --------------------------------------------------------------------------- excerpts

ELLIPSIS = "\u2026"
_RENDERED_HTML_RE = re.compile(r"\s*<(?:p|h3|h4|ul|ol|blockquote|pre|table|hr)[\s>/]", re.I)
_ZWJ = "\u200d"


def _visible_text(html: str) -> str:
    """Text a reader sees, blocks separated by spaces, whitespace collapsed (for excerpts)."""
    parts: list[str] = []

    def walk(node: _Node | str) -> None:
        if isinstance(node, str):
            parts.append(node)
            return
        if node.tag in _BLOCK_TAGS or node.tag in _VOID_TAGS:
            parts.append(" ")
        for child in node.children:
            walk(child)
        if node.tag in _BLOCK_TAGS:
            parts.append(" ")

    walk(_parse(html))
    return _squash("".join(parts))


def _continues_cluster(text: str, index: int) -> bool:
    """True if cutting before ``text[index]`` would split a visible character.

    Deliberately simple rather than full UAX #29: combining marks, ZWJ sequences, variation
    selectors, skin-tone modifiers, emoji tag sequences, flag (regional indicator) pairs,
    conjoining Hangul jamo and a virama joining the next consonant. A Python ``str`` holds
    code points, and `_prepare` re-pairs surrogates, so surrogate halves never occur here.
    """
    char, prev = text[index], text[index - 1]
    cp = ord(char)
    if unicodedata.category(char) in ("Mn", "Me", "Mc") or char == _ZWJ or prev == _ZWJ:
        return True
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F or 0x1160 <= cp <= 0x11FF:
        return True
    if unicodedata.combining(prev) == 9:  # virama
        return True
    if 0x1F1E6 <= cp <= 0x1F1FF:
        run = 0
        while index - run - 1 >= 0 and 0x1F1E6 <= ord(text[index - run - 1]) <= 0x1F1FF:
            run += 1
        return run % 2 == 1
    return False


_BULLETS = ("\u2022", "\u25e6")  # "•" for top-level items, "◦" for nested ones
_INDENT = "  "
_MARKER_ONLY_RE = re.compile(r"\n[ ]*(?:[\u2022\u25e6]|\d+\.)$")


def _excerpt_inline(nodes: list[_Node | str], lines: list[str]) -> None:
    """Inline text onto ``lines[-1]`` (link text only, no URLs); <br> starts a new line."""
    for node in nodes:
        if isinstance(node, str):
            lines[-1] += node
        elif node.tag == "br":
            lines.append("")
        else:
            _excerpt_inline(node.children, lines)


def _excerpt_lines(nodes: list[_Node | str], depth: int = 0) -> list[str]:
    """The lines an excerpt keeps: one per paragraph, heading, table row, code line and list
    item ("• item", "1. item"; nested items indented with "◦"), whitespace collapsed."""
    out: list[str] = []
    pending = [""]

    def flush() -> None:
        out.extend(line for raw in pending if (line := _squash(raw)))
        pending[:] = [""]

    for node in nodes:
        if isinstance(node, str) or node.tag not in _BLOCK_TAGS:
            _excerpt_inline([node], pending)
            continue
        flush()
        if node.tag in ("ul", "ol"):
            start = node.attrs.get("start", "1")
            number = int(start) if start.isascii() and start.isdigit() else 1
            for child in node.children:
                if not (isinstance(child, _Node) and child.tag == "li"):
                    continue
                marker = f"{number}." if node.tag == "ol" else _BULLETS[min(depth, 1)]
                number += 1
                first, *rest = _excerpt_lines(child.children, depth + 1) or [""]
                out.append(f"{marker} {first}".rstrip())
                out.extend(_INDENT + line for line in rest)
        elif node.tag == "pre":
            out.extend(line for raw in _text_content(node).split("\n") if (line := _squash(raw)))
        elif node.tag == "tr":
            cells = [" ".join(_excerpt_lines([cell])) for cell in node.children
                     if isinstance(cell, _Node)]
            if row := " | ".join(cell for cell in cells if cell):
                out.append(row)
        elif node.tag != "hr":
            out.extend(_excerpt_lines(node.children, depth))
    flush()
    return out


def _cut(text: str, length: int) -> str:
    """``text`` shortened to fit ``length`` with the ellipsis: at the last space or line break
    when that keeps at least half of the budget, else at the last whole visible character."""
    budget = length - len(ELLIPSIS)
    cut = max(text.rfind(" ", 0, budget + 1), text.rfind("\n", 0, budget + 1))
    if cut < max(1, budget // 2):
        cut = budget
        while cut > 0 and _continues_cluster(text, cut):
            cut -= 1
    return _trim_end(text[:cut]) + ELLIPSIS


def _trim_end(text: str) -> str:
    """No trailing punctuation, blank line or lone list marker before an ellipsis."""
    text = text.rstrip(" ,;:\n")
    while (marker := _MARKER_ONLY_RE.search(text)) is not None:
        text = text[: marker.start()].rstrip(" ,;:\n")
    return text


def excerpt(
    text_or_html: str,
    length: int = 200,
    *,
    is_html: bool | None = None,
    one_line: bool = False,
    max_lines: int | None = None,
) -> str:
    """Plain-text excerpt of at most ``length`` characters, ending in "…" if shortened.

    Lines stay readable: each paragraph, heading, code line and table row is a line, list
    items become "• item" / "1. item" lines (nested ones indented, "◦ item"), separated by
    "\n" (pages show them with <br> or ``white-space: pre-line``; text emails as they are).
    ``one_line=True`` joins everything into one line without markers (subjects, titles,
    preheaders); ``max_lines`` keeps at most that many lines (cards of even height).

    Accepts Markdown source or HTML from `render_markdown` (detected by its leading block tag;
    pass ``is_html`` to decide explicitly). Cuts at the last space or line break when that keeps
    at least half of the budget, otherwise (CJK, very long words) at the last whole visible
    character. The result is text, never markup: templates escape it.
    """
    if length < 1:
        raise ValueError("excerpt length must be positive")
    if max_lines is not None and max_lines < 1:
        raise ValueError("excerpt max_lines must be positive")
    html = _excerpt_html(text_or_html, is_html)
    if one_line:
        text = _visible_text(html)
        return text if len(text) <= length else _cut(text, length)
    lines = _excerpt_lines(_parse(html).children)
    clipped = max_lines is not None and len(lines) > max_lines
    text = "\n".join(lines[:max_lines] if clipped else lines)
    if len(text) > length:
        return _cut(text, length)
    if not clipped:
        return text
    text = _trim_end(text)
    return text + ELLIPSIS if len(text) + len(ELLIPSIS) <= length else _cut(text, length)


def _excerpt_html(text_or_html: str, is_html: bool | None) -> str:
    if is_html is None:
        is_html = bool(_RENDERED_HTML_RE.match(text_or_html))
    return sanitize_html(text_or_html) if is_html else render_markdown(text_or_html)


def excerpt_lines(text_or_html: str, *, is_html: bool | None = None) -> str:
    """Every line `excerpt` would keep, uncut and joined by "\n": for excerpts that choose
    their own end (`two_sentences`)."""
    return "\n".join(_excerpt_lines(_parse(_excerpt_html(text_or_html, is_html)).children))


# --------------------------------------------------------------------------- two sentences

_LIST_LINE_RE = re.compile(r"(?:[\u2022\u25e6]|\d+\.)(?: |$)")
# A sentence ends at . ! ? … (with closing quotes or brackets) before a space, or at a CJK
# full stop, exclamation or question mark wherever it is.
_END_RE = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*(?=\s)|[\u3002\uff01\uff1f\uff61]+")
_ABBREVIATIONS = frozenset({
    "e.g", "i.e", "eg", "ie", "cf", "vs", "mr", "mrs", "ms", "dr", "prof", "st", "no", "nr",
    "approx", "appr", "ca", "inc", "ltd", "co", "corp", "jr", "sr", "dept", "fig", "al", "resp",
    "incl", "excl", "min", "max", "avg", "mt", "ft", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "z.b", "bzw", "usw", "ggf", "vgl",
})  # fmt: skip


def two_sentences(text: str, limit: int) -> str:
    """The first two sentences of `excerpt_lines` text, for the email's teaser cards.

    A paragraph's end ends a sentence even without punctuation; a list counts as one sentence
    (with the line that introduces it with a colon) and keeps its "• item" lines; "e.g.",
    "Dr." and initials do not end one, nor does "3.5" or a full stop before a lower-case word.
    Capped at `limit` characters as `excerpt` cuts (`_cut`: at a space or line break, a whole
    visible character otherwise, no lone list marker before the "…").
    """
    lines = [line for line in text.split("\n") if line.strip()]
    taken: list[str] = []
    count = 0
    index = 0
    while index < len(lines) and count < 2:
        line = lines[index]
        if _LIST_LINE_RE.match(line):
            while index < len(lines) and (_LIST_LINE_RE.match(lines[index])
                                          or lines[index].startswith(" ")):
                taken.append(lines[index])
                index += 1
            count += 1
            continue
        ends = _sentence_ends(line)
        wanted = 2 - count
        if len(ends) >= wanted:
            taken.append(line[: ends[wanted - 1]])
            count = 2
            break
        taken.append(line)
        index += 1
        opens_list = line.rstrip().endswith(":") and index < len(lines) \
            and _LIST_LINE_RE.match(lines[index])
        count += len(ends) + (0 if opens_list else 1)
    result = "\n".join(taken).strip()
    return result if len(result) <= limit else _cut(result, limit)


def _sentence_ends(line: str) -> list[int]:
    """Offsets just after each sentence end inside `line` (not its final one at the end)."""
    ends = []
    for match in _END_RE.finditer(line):
        end = match.end()
        rest = line[end:].lstrip()
        if not rest:
            continue  # the line's end: counted by the caller
        if match.group().startswith((".", "!", "?", "\u2026")):
            if rest[0].islower():
                continue  # "approx. five", "e.g. the router", "Yes! and then"
            if match.group() == ".":
                before = line[: match.start()]
                word = before.rsplit(None, 1)[-1] if before.strip() else ""
                word = word.lstrip("(\"'\u201c\u2018").lower()
                if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                    continue  # "Dr. Lee", "J. Smith"
        ends.append(end)
    return ends
