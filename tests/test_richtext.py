"""app.richtext: the one Markdown renderer - safety against the XSS corpus, features, plain text.

Pure unit tests: no app, no database. Safety is checked structurally (every tag and attribute
of the output is parsed and compared with the allow-list), not by looking for substrings only.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from html.parser import HTMLParser

import pytest
from markupsafe import Markup

from app.richtext import ALLOWED_ATTRIBUTES
from app.richtext import ALLOWED_TAGS
from app.richtext import ALLOWED_URL_SCHEMES
from app.richtext import ELLIPSIS
from app.richtext import excerpt
from app.richtext import render_markdown
from app.richtext import render_plain_text
from app.richtext import sanitize_html
from tests.corpora import LONG_WORD
from tests.corpora import awkward_strings
from tests.corpora import xss_payloads

PAYLOADS = xss_payloads()
AWKWARD = awkward_strings()
FORBIDDEN_TAG_TEXT = (
    "<script", "<img", "<iframe", "<frame", "<svg", "<math", "<object", "<embed", "<style",
    "<form", "<input", "<button", "<meta", "<base", "<link", "<body", "<template", "<applet",
)  # fmt: skip
DANGEROUS_TOKENS = ("javascript:", "vbscript:", "data:", "<script", "onerror", "onload")


_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def _scheme(url: str) -> str | None:
    """The scheme a browser would see: it strips C0/space at the ends and drops tab/CR/LF."""
    url = re.sub(r"[\t\n\r]", "", url.strip(_C0_AND_SPACE))
    match = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", url)
    return match.group(1).lower() if match else None


class _Audit(HTMLParser):
    """Collect allow-list violations and the visible text (with list numbers) of a fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self._counters: list[int | None] = []  # per open list: next number, None for <ul>

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ol", "ul") and self._counters:
            self._counters.pop()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        allowed = ALLOWED_ATTRIBUTES.get(tag, frozenset())
        values = dict(attrs)
        for name, value in attrs:
            if name not in allowed or name.startswith("on") or name == "style":
                self.problems.append(f"attribute {name} on <{tag}>")
            if name in ("href", "src") and _scheme(value or "") not in ALLOWED_URL_SCHEMES:
                self.problems.append(f"url {value!r} on <{tag}>")
            if name == "align" and value not in ("left", "center", "right"):
                self.problems.append(f"align={value!r}")
            if name == "start" and not (value or "").isdigit():
                self.problems.append(f"start={value!r}")
        if tag == "a" and values.get("rel") != "noopener noreferrer":
            self.problems.append(f"<a> without rel: {values}")
        if tag in ("ol", "ul"):
            start = values.get("start") or "1"
            self._counters.append(int(start) if tag == "ol" and start.isdigit() else None)
        if tag == "li" and self._counters and self._counters[-1] is not None:
            self.text.append(f"{self._counters[-1]}. ")
            self._counters[-1] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"declaration {data!r}")


def audit(html: str) -> _Audit:
    auditor = _Audit()
    auditor.feed(str(html))
    auditor.close()
    return auditor


def assert_inert(html: str) -> None:
    result = audit(html)
    assert result.problems == [], html
    lowered = html.lower()
    for needle in FORBIDDEN_TAG_TEXT:
        assert needle not in lowered, html
    for tag in re.findall(r"<[^>]*>", html):
        # nh3 always double-quotes attribute values; ignore their (inert) contents here.
        bare = re.sub(r'"[^"]*"', '""', tag)
        assert not re.search(r"\son\w+\s*=", bare, re.I), tag
        assert "style=" not in bare.lower(), tag


def visible(html: str) -> str:
    return "".join(audit(html).text)


def squash(text: str) -> str:
    """Collapse what HTML collapses (ASCII whitespace); trim all Unicode whitespace at the ends."""
    return re.sub(r"[ \t\n\r\f]+", " ", text).strip()


def ids(values: list[str], prefix: str) -> list[str]:
    return [f"{prefix}{index:03d}" for index in range(len(values))]


# --------------------------------------------------------------------------- corpora


def test_corpora_are_large_and_decoded() -> None:
    assert len(PAYLOADS) >= 80
    assert len(AWKWARD) >= 40
    assert all(PAYLOADS) and all(AWKWARD)
    assert LONG_WORD in AWKWARD and len(LONG_WORD) == 500 and " " not in LONG_WORD
    assert "[ref]\n\n[ref]: javascript:alert(1)" in PAYLOADS  # "\n" escapes decoded
    assert "\\x3cscript\\x3ealert(1)\\x3c/script\\x3e" in PAYLOADS  # other backslashes kept
    assert "\\# <script>alert(1)</script>" not in PAYLOADS
    assert "# <script>alert(1)</script>" in PAYLOADS
    assert any("\u200d" in s for s in AWKWARD) and any("\u202e" in s for s in AWKWARD)


# --------------------------------------------------------------------------- XSS corpus


@pytest.mark.parametrize("payload", PAYLOADS, ids=ids(PAYLOADS, "xss"))
def test_payload_renders_inert_html(payload: str) -> None:
    assert_inert(render_markdown(payload))


@pytest.mark.parametrize("payload", PAYLOADS, ids=ids(PAYLOADS, "xss"))
def test_sanitizer_alone_neutralises_raw_payload(payload: str) -> None:
    """Defence in depth: even if Markdown passed HTML through, the allow-list would hold."""
    assert_inert(sanitize_html(payload))


@pytest.mark.parametrize("payload", PAYLOADS, ids=ids(PAYLOADS, "xss"))
def test_payload_plain_text_adds_nothing_dangerous(payload: str) -> None:
    """The plain text may only add link targets, which passed the scheme allow-list."""
    plain = render_plain_text(payload)
    seen = visible(render_markdown(payload)).lower()
    for token in DANGEROUS_TOKENS:
        assert plain.lower().count(token) <= seen.count(token), (token, plain)
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", plain)
    if "&" not in payload:
        assert "&lt;" not in plain and "&amp;" not in plain  # text, not HTML


def test_literal_payload_text_stays_visible() -> None:
    """Escaped, not removed: readers see exactly what was typed."""
    html = render_markdown("<script>alert(1)</script> <b onclick=x>hi</b>")
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &lt;b onclick=x&gt;hi&lt;/b&gt;</p>"
    assert render_plain_text("<b>hi</b>") == "<b>hi</b>"


def test_character_references_are_shown_literally() -> None:
    source = "&copy; &#X41; &#106; &amp; &lt AT&T"
    assert visible(render_markdown(source)) == source
    assert render_plain_text(source) == source
    assert visible(render_markdown("`&copy;`")) == "&copy;"


def test_html_comments_and_cdata_are_text() -> None:
    assert visible(render_markdown("<!-- hidden --> <![CDATA[x]]>")) == (
        "<!-- hidden --> <![CDATA[x]]>"
    )


# --------------------------------------------------------------------------- links


def test_allowed_links_get_rel_noopener() -> None:
    html = render_markdown(
        '[web](https://example.com/a?b=1&c=2 "Title") [plain](http://example.com) '
        "[mail](mailto:team@example.com) <https://example.org/x> <me@example.com>"
    )
    assert_inert(html)
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" title="Title" rel="noopener noreferrer">'
        "web</a>" in html
    )
    assert '<a href="http://example.com" rel="noopener noreferrer">plain</a>' in html
    assert '<a href="mailto:team@example.com" rel="noopener noreferrer">mail</a>' in html
    assert '<a href="https://example.org/x" rel="noopener noreferrer">' in html
    assert visible(html).endswith("https://example.org/x me@example.com")
    assert html.count('href="') == 5


@pytest.mark.parametrize(
    "target",
    ["/stories/1", "stories/1", "#top", "//evil.example/", "ftp://example.com/f", "tel:+4412345"],
)
def test_only_absolute_http_https_mailto_links_survive(target: str) -> None:
    """Relative links mean nothing in an email and would resolve against whichever host."""
    html = render_markdown(f"[keep the text]({target})")
    assert_inert(html)
    assert "href" not in html
    assert visible(html) == "keep the text"
    assert render_plain_text(f"[keep the text]({target})") == "keep the text"


def test_html_link_in_source_is_not_a_link() -> None:
    html = render_markdown('<a href="https://example.com">x</a>')
    assert "<a" not in html
    assert visible(html) == '<a href="https://example.com">x</a>'


# --------------------------------------------------------------------------- Markdown features


def test_core_and_extension_features_render() -> None:
    source = "\n".join(
        [
            "Hello *em* and **strong** and ~~gone~~ and `co<de>`.",
            "",
            "- one",
            "- two",
            "",
            "3. three",
            "4. four",
            "",
            "> quoted",
            "",
            "```python",
            "if a < b:",
            "    print('x')",
            "```",
            "",
            "| Name | Score |",
            "|:-----|------:|",
            "| Ann  | 10    |",
            "",
            "---",
        ]
    )
    html = render_markdown(source)
    assert_inert(html)
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html
    assert "<del>gone</del>" in html and "<code>co&lt;de&gt;</code>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert '<ol start="3">\n<li>three</li>' in html  # sane_lists: a new list
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in html
    assert "<pre><code>if a &lt; b:\n    print('x')\n</code></pre>" in html  # no class=
    assert '<th align="left">Name</th>' in html and '<td align="right">10</td>' in html
    assert "<hr>" in html


def test_single_newline_is_not_a_line_break() -> None:
    """No nl2br: wrapped text pasted from email stays one paragraph; two spaces force <br>."""
    assert render_markdown("one\ntwo") == "<p>one\ntwo</p>"
    assert render_markdown("one  \ntwo") == "<p>one<br>\ntwo</p>"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# Big", "<h3>Big</h3>"),
        ("## Less", "<h3>Less</h3>"),
        ("### Same", "<h3>Same</h3>"),
        ("#### Four", "<h4>Four</h4>"),
        ("##### Five", "<h4>Five</h4>"),
        ("###### Six", "<h4>Six</h4>"),
        ("Setext\n======", "<h3>Setext</h3>"),
        ("Setext\n------", "<h3>Setext</h3>"),
    ],
)
def test_headings_are_demoted(source: str, expected: str) -> None:
    assert render_markdown(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        '![A *happy* customer](https://example.com/pic.png "Title")',
        "![A *happy* customer][pic]\n\n[pic]: https://example.com/pic.png",
        "![A *happy* customer]\n\n[a *happy* customer]: https://example.com/pic.png",
    ],
)
def test_images_render_their_alt_text(source: str) -> None:
    html = render_markdown(source)
    assert_inert(html)
    assert html == "<p>A <em>happy</em> customer</p>"


def test_image_inside_link_keeps_the_link() -> None:
    html = render_markdown("[![logo](https://example.com/l.png)](https://example.com)")
    assert html == '<p><a href="https://example.com" rel="noopener noreferrer">logo</a></p>'


def test_renders_markup_that_escapes_what_is_added() -> None:
    html = render_markdown("*hi*")
    assert isinstance(html, Markup)
    assert html + "<b>" == "<p><em>hi</em></p>&lt;b&gt;"


@pytest.mark.parametrize("source", ["", " ", "\n\n", "\t", "\u3000"])
def test_blank_input_renders_nothing(source: str) -> None:
    assert render_markdown(source) == ""
    assert render_plain_text(source) == ""
    assert excerpt(source) == ""


def test_control_characters_and_lone_surrogates_are_cleaned() -> None:
    html = render_markdown("a\x00b\x01c\x1bd\x7fe \ud800 \ud83d\ude00")
    assert html == "<p>abcde \ufffd \U0001f600</p>"
    assert render_plain_text("tab\tkept\r\nline") == "tab kept line"


def test_renderer_is_safe_across_threads() -> None:
    """One Markdown instance per thread: reference definitions must never leak between calls."""
    errors: list[str] = []

    def work(number: int) -> None:
        for _ in range(50):
            html = render_markdown(f"[x][r]\n\n[r]: https://t{number}.example/")
            if f"https://t{number}.example/" not in html or html.count("href") != 1:
                errors.append(html)
        if "href" in render_markdown("[x][r]"):
            errors.append("reference leaked into the next call")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --------------------------------------------------------------------------- plain text


def test_plain_text_conversion() -> None:
    source = "\n".join(
        [
            "### Thanks, **Ann**!",
            "",
            "Read [the story](https://example.com/s/1), mail [us](mailto:fgf@example.com)",
            "or visit <https://example.com>.",
            "",
            "> She *really* helped.",
            ">",
            "> > Nested",
            "",
            "- first",
            "- second",
            "    - inner",
            "",
            "1. one",
            "2. two",
            "",
            "| Who | What |",
            "|-----|------|",
            "| Ann | `fix` |",
            "",
            "```",
            "  keep   spacing",
            "```",
            "",
            "***",
            "",
            "Last  ",
            "line",
        ]
    )
    assert render_plain_text(source) == "\n".join(
        [
            "Thanks, Ann!",
            "",
            "Read the story (https://example.com/s/1), mail us (fgf@example.com) or visit "
            "https://example.com.",
            "",
            "> She really helped.",
            ">",
            "> > Nested",
            "",
            "- first",
            "- second",
            "  - inner",
            "",
            "1. one",
            "2. two",
            "",
            "Who | What",
            "Ann | fix",
            "",
            "  keep   spacing",
            "",
            "----",
            "",
            "Last",
            "line",
        ]
    )


def test_plain_text_multi_paragraph_list_items_are_indented() -> None:
    source = "1. First para\n\n    Second para\n\n2. Next"
    assert render_plain_text(source) == "1. First para\n   Second para\n2. Next"


# --------------------------------------------------------------------------- awkward strings

# Characters Markdown may consume as markup; everything else must survive exactly.
_MARKDOWN_SYNTAX = set("\\`*_~[]()#+-.!|<>=")
# Strings without these are plain prose for Markdown and must come back exactly.
_MARKUP_TRIGGERS = set("\\`*_~[]")
_BLOCK_MARKER_RE = re.compile(r"\s*(?:[-+*>#]|\d+\.)\s")


def _significant(text: str) -> str:
    return "".join(c for c in text if c not in _MARKDOWN_SYNTAX and not c.isspace())


@pytest.mark.parametrize("text", AWKWARD, ids=ids(AWKWARD, "awkward"))
def test_awkward_strings_round_trip(text: str) -> None:
    """What readers see is what was typed.

    No Unicode normalisation happens, so NFC and NFD input must come back unchanged and the
    comparison is exact (after collapsing ASCII whitespace as HTML does and trimming the ends).
    Strings with Markdown syntax may lose their markup characters, but no other character.
    """
    html = render_markdown(text)
    assert_inert(html)
    seen = squash(visible(html))
    plain = squash(render_plain_text(text))
    expected = squash(text)
    assert _significant(seen) == _significant(text)
    assert _significant(plain) == _significant(text)
    if _MARKUP_TRIGGERS.isdisjoint(text):
        assert plain == expected  # list/quote markers come back as "1986. ", "- ", "> "
        if not _BLOCK_MARKER_RE.match(text):
            assert seen == expected


def test_no_unicode_normalisation() -> None:
    nfd = unicodedata.normalize("NFD", "café Ångström")
    assert visible(render_markdown(nfd)) == nfd
    assert visible(render_markdown("\u212b")) == "\u212b"  # NFC would turn it into U+00C5


# --------------------------------------------------------------------------- excerpt


def test_excerpt_short_text_is_unchanged_plain_text() -> None:
    source = "Hello **world**, [see](https://example.com)\n\n- a"
    assert excerpt(source) == "Hello world, see\n\u2022 a"
    assert excerpt(source, one_line=True) == "Hello world, see a"


def test_excerpt_cuts_on_a_word_boundary() -> None:
    text = "The customer called back just to say thank you to the whole support team"
    result = excerpt(text, 30)
    assert result == "The customer called back just" + ELLIPSIS
    assert len(result) <= 30
    assert excerpt(text, len(text)) == text


def test_excerpt_drops_trailing_punctuation_before_the_ellipsis() -> None:
    assert excerpt("Alpha, beta, gamma, delta", 13) == "Alpha, beta" + ELLIPSIS


def test_excerpt_hard_cuts_long_words_and_cjk() -> None:
    assert excerpt(LONG_WORD, 50) == LONG_WORD[:49] + ELLIPSIS
    cjk = "顧客満足度が大幅に向上しました。" * 10
    assert excerpt(cjk, 20) == cjk[:19] + ELLIPSIS


@pytest.mark.parametrize(
    "unit",
    [
        "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # ZWJ family
        "\U0001f44d\U0001f3fd",  # skin tone
        "\U0001f1ec\U0001f1e7",  # flag (regional indicator pair)
        "e\u0301\u0323",  # combining marks
        "1\ufe0f\u20e3",  # keycap
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # tag seq.
        "क्ष",  # Devanagari conjunct (virama)
        "\u1100\u1161\u11a8",  # conjoining Hangul jamo
    ],
)
def test_excerpt_never_splits_a_visible_character(unit: str) -> None:
    text = "ab" + unit * 40
    for length in range(3, 40):
        result = excerpt(text, length)
        assert result.endswith(ELLIPSIS) and len(result) <= length
        body = result[: -len(ELLIPSIS)]
        assert body.startswith("ab")
        assert body[2:] == unit * (len(body[2:]) // len(unit)), (length, result)


def test_excerpt_of_rendered_html() -> None:
    html = render_markdown("# Title\n\nSome *lovely* words about [Ann](https://example.com).")
    assert excerpt(html) == "Title\nSome lovely words about Ann."
    assert excerpt(html, 16) == "Title\nSome" + ELLIPSIS
    assert excerpt(html, one_line=True) == "Title Some lovely words about Ann."
    assert excerpt(html, 16, one_line=True) == "Title Some" + ELLIPSIS
    assert excerpt("<b>literal</b>", is_html=False) == "<b>literal</b>"
    assert excerpt("<p>x <script>y</script></p>", is_html=True) == "x"


def test_excerpt_rejects_nonpositive_length() -> None:
    with pytest.raises(ValueError, match="positive"):
        excerpt("text", 0)
    with pytest.raises(ValueError, match="positive"):
        excerpt("text", max_lines=0)


# Lines survive: a list is not flattened into one run-on sentence (cards, queue, emails).

B, N = "\u2022", "\u25e6"  # the top-level and nested item markers


def test_excerpt_keeps_paragraphs_and_list_items_on_their_own_lines() -> None:
    source = "We fixed three things:\n\n- the login\n- the *invoice*\n- the [export](https://x.io)"
    assert excerpt(source) == (
        f"We fixed three things:\n{B} the login\n{B} the invoice\n{B} the export"
    )


def test_excerpt_nested_lists_are_indented_with_their_own_marker() -> None:
    source = "- Monday\n    - called back\n    - sent the part\n- Tuesday\n\n    A loose paragraph."
    assert excerpt(source) == (
        f"{B} Monday\n  {N} called back\n  {N} sent the part\n{B} Tuesday\n  A loose paragraph."
    )
    deep = "- one\n    - two\n        - three"
    assert excerpt(deep) == f"{B} one\n  {N} two\n    {N} three"


def test_excerpt_ordered_lists_keep_their_numbers_and_start() -> None:
    assert excerpt("1. first\n2. second") == "1. first\n2. second"
    assert excerpt("7. seventh\n8. eighth") == "7. seventh\n8. eighth"
    assert excerpt("- bullet\n\n1. then numbered") == f"{B} bullet\n1. then numbered"


def test_excerpt_headings_code_quotes_tables_and_breaks_are_lines() -> None:
    source = (
        "## Heading\n\nLine one  \nline two\n\n> quoted *words*\n\n"
        "```\nrun   --fast\n\n  done\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n---\n\nEnd `code`."
    )
    assert excerpt(source, 500) == (
        "Heading\nLine one\nline two\nquoted words\nrun --fast\ndone\na | b\n1 | 2\nEnd code."
    )


def test_excerpt_long_item_is_cut_at_a_word_inside_the_list() -> None:
    source = "Intro.\n\n- short\n- " + "a very long item that goes on " * 5 + "\n- never shown"
    result = excerpt(source, 60)
    assert len(result) <= 60 and result.endswith(ELLIPSIS)
    assert result == f"Intro.\n{B} short\n{B} a very long item that goes on a very long" + ELLIPSIS
    assert "never" not in result


def test_excerpt_never_ends_on_a_lone_marker_or_blank_line() -> None:
    # The budget ends just after the next item's marker: the marker goes, the ellipsis stays.
    source = "- alpha beta\n- gamma delta"
    for length in range(len("\u2022 alpha beta") + 1, len(source) - 2):
        result = excerpt(source, length)
        assert result.endswith(ELLIPSIS) and len(result) <= length, (length, result)
        last = result[: -len(ELLIPSIS)].split("\n")[-1]
        assert last.strip() not in ("", B), (length, result)
    assert excerpt("1. one two\n2. three four", 16) == "1. one two" + ELLIPSIS


def test_excerpt_max_lines_keeps_the_first_lines() -> None:
    source = "\n".join(f"- item {i}" for i in range(1, 10))
    assert excerpt(source, max_lines=3) == f"{B} item 1\n{B} item 2\n{B} item 3" + ELLIPSIS
    assert excerpt(source, max_lines=9) == excerpt(source)
    assert not excerpt(source).endswith(ELLIPSIS)
    assert len(excerpt(source, 12, max_lines=3)) <= 12


def test_excerpt_is_text_never_markup() -> None:
    source = "- <script>alert(1)</script>\n- <img src=x onerror=alert(1)>\n- &lt;b&gt;"
    result = excerpt(source)
    assert not isinstance(result, Markup)
    # Raw HTML is shown literally (the renderer escapes it); templates escape it again.
    assert result.split("\n") == [
        f"{B} <script>alert(1)</script>", f"{B} <img src=x onerror=alert(1)>", f"{B} &lt;b&gt;"
    ]
    assert excerpt("<ul><li>x<script>y</script></li></ul>", is_html=True) == f"{B} x"
