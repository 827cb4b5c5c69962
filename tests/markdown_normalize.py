"""One canonical form for the page's HTML and cmark-gfm's, so that the conformance tests
compare renderings, not markup details. docs/rendering.md ("Compared with GitHub") lists
what is reduced; tests/test_markdown_normalize.py shows what is not.

`normalize(html)` is applied to both sides and reduces only markup details:

- entity spelling, attribute order and quoting, `<br />` against `<br>`;
- an international host name written as punycode or percent-encoded (it is one host);
- attributes that do not change what is shown: everything but `href`, `title` (links),
  `start` (lists), `align` (table cells; a `text-align` style counts as `align`),
  `type`/`checked`/`disabled` (checkboxes), a code block's `language-*` class, and math's
  `display`;
- whitespace between and around block elements, and runs of whitespace in text (not
  inside `<pre>` nor `<code>`);
- highlight.js's spans inside code blocks (`<span class="hljs-…">`, and the spans it
  wraps an embedded language in): a code block's text has no markup of its own;
- whitespace around a link's title (DOMPurify trims attribute values);
- a task list item's `<label>`;
- footnote markup: the separator `<hr>`, `[1]` against `1`, the targets' ids (each side's
  footnotes are numbered in order), the back-reference arrow;
- MathML's annotations and attributes (but `display`); display math inside a paragraph
  ends the paragraph (GitHub treats `$$` as inline, markdown-it as a block: both show a
  displayed equation between two pieces of text).

`apply_policy(html)` is applied to the reference only, so the page must really do what
it promises: an image becomes a link to the image (its alt text, or else its address, as
the link's text), or just its alt text inside a link or when its address is unsafe; a
link whose address has a scheme other than http, https and mailto is dropped, its text
kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit, urlunsplit

VOID = {"br", "hr", "img", "input", "col", "wbr", "area", "source", "meta", "link"}
BLOCK = {
    "address", "article", "aside", "blockquote", "details", "div", "dl", "dd", "dt",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
}  # fmt: skip
KEPT_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    "input": {"type", "checked", "disabled"},
    "code": {"class"},
    "math": {"display"},
}
BOOLEAN = {"checked", "disabled"}
WHITESPACE = re.compile(r"[ \t\n\r\f]+")
# The only schemes the page links to; relative addresses (no scheme) are kept too.
SAFE_SCHEMES = {"http", "https", "mailto"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root")
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Element(tag, {n: v or "" for n, v in attrs}))

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)

    def handle_comment(self, data):
        self.stack[-1].children.append(Element("#comment", {"text": data}))


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def _map_children(element: Element, function) -> None:
    """Replace each child element by function(child) (a list of nodes), depth first."""
    result: list[Element | str] = []
    for child in element.children:
        if isinstance(child, Element):
            _map_children(child, function)
            result.extend(function(child))
        else:
            result.append(child)
    element.children = result


# --- policy (reference only) ---


def _is_unsafe(url: str) -> bool:
    """Any scheme but http, https and mailto (relative addresses have none)."""
    compact = re.sub(r"[\x00-\x20\x7f-\x9f]", "", url)
    scheme = re.match(r"([a-z][a-z0-9+.-]*):", compact, re.IGNORECASE)
    return scheme is not None and scheme.group(1).lower() not in SAFE_SCHEMES


def _policy(element: Element, in_link: bool = False) -> list[Element | str]:
    """The element as the page shows it (children first, knowing whether inside a link)."""
    inner = in_link or element.tag == "a"
    children: list[Element | str] = []
    for child in element.children:
        children.extend(_policy(child, inner) if isinstance(child, Element) else [child])
    element.children = children
    if element.tag == "img":
        src, alt = element.attrs.get("src", ""), element.attrs.get("alt", "")
        if in_link or _is_unsafe(src):
            return [alt] if alt else []
        link = Element("a", {"href": src}, [alt or src])
        if "title" in element.attrs:
            link.attrs["title"] = element.attrs["title"]
        return [link]
    if element.tag == "a" and _is_unsafe(element.attrs.get("href", "")):
        return element.children
    return [element]


def apply_policy(html: str) -> str:
    """What the page promises instead of what cmark-gfm does: images as links, unsafe
    links dropped (their text kept)."""
    root = parse(html)
    _policy(root)
    return serialize(root)


# --- normalisation (both sides) ---


def _unwrap_markup(element: Element) -> list[Element | str]:
    if element.tag == "label":
        return element.children
    if element.tag == "hr" and "footnotes-sep" in element.classes():
        return []
    if element.tag == "math":
        return [_canonical_math(element)]
    if element.tag in ("annotation", "annotation-xml"):
        return []
    if element.tag == "semantics":
        return element.children
    if element.tag == "#comment":
        return [element]
    return [element]


def _canonical_math(element: Element) -> Element:
    display = "block" if element.attrs.get("display") == "block" else "inline"
    element.attrs = {"display": display}
    return element


def _unwrap_highlighting(element: Element, in_code_block: bool = False) -> None:
    """Spans in a code block are the highlighter's: a code block's text has no markup."""
    children: list[Element | str] = []
    for child in element.children:
        if isinstance(child, Element):
            inside = in_code_block or child.tag == "pre"
            _unwrap_highlighting(child, inside)
            if inside and child.tag == "span":
                children.extend(child.children)
                continue
        children.append(child)
    element.children = children


def _footnotes(root: Element) -> None:
    """Number footnote targets in order of appearance on each side; references and
    back-references point at those numbers."""
    targets: dict[str, int] = {}

    def collect(element: Element) -> None:
        if element.tag == "section" and (
            "footnotes" in element.classes() or "data-footnotes" in element.attrs
        ):
            for ol in (c for c in element.children if isinstance(c, Element)):
                if ol.tag != "ol":
                    continue
                for li in (c for c in ol.children if isinstance(c, Element)):
                    if li.tag == "li" and "id" in li.attrs:
                        targets[li.attrs["id"]] = len(targets) + 1
        for child in element.children:
            if isinstance(child, Element):
                collect(child)

    collect(root)

    def rewrite(element: Element) -> list[Element | str]:
        href = element.attrs.get("href", "")
        if element.tag == "a" and "footnote-backref" in element.classes():
            return [Element("a", {"href": "#footnote-reference"}, ["↩"])]
        if element.tag == "a" and href.startswith("#") and href[1:] in targets:
            number = targets[href[1:]]
            return [Element("a", {"href": f"#footnote-{number}"}, [element.text().strip("[]")])]
        return [element]

    if targets:
        _map_children(root, rewrite)


def _attributes(element: Element) -> list[Element | str]:
    if element.tag == "#comment":
        return [element]
    attrs = dict(element.attrs)
    style = attrs.get("style", "")
    align = re.search(r"text-align:\s*(left|center|right)", style)
    if align and element.tag in ("th", "td"):
        attrs["align"] = align.group(1)
    kept = KEPT_ATTRIBUTES.get(element.tag, set())
    attrs = {name: value for name, value in attrs.items() if name in kept}
    if element.tag == "code":
        languages = [c for c in attrs.get("class", "").split() if c.startswith("language-")]
        attrs = {"class": languages[0]} if languages else {}
    if "href" in attrs:
        attrs["href"] = _canonical_host(attrs["href"])
    if "title" in attrs:  # DOMPurify trims attribute values
        attrs["title"] = attrs["title"].strip()
    for name in BOOLEAN & attrs.keys():
        attrs[name] = ""
    if element.tag == "ol" and attrs.get("start") == "1":
        del attrs["start"]
    element.attrs = attrs
    return [element]


def _canonical_host(url: str) -> str:
    """An international host written as Unicode: punycode ("xn--") and percent-encoded
    UTF-8 name the same host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if "%" not in host and "xn--" not in host:
        return url
    try:
        readable = ".".join(
            label.encode().decode("idna") if label.startswith("xn--") else unquote(label)
            for label in host.split(".")
        )
    except UnicodeError:
        return url
    netloc = re.sub(re.escape(host), readable, parts.netloc, count=1, flags=re.IGNORECASE)
    return urlunsplit(parts._replace(netloc=netloc))


def _split_paragraphs_at_display_math(element: Element) -> list[Element | str]:
    if element.tag != "p":
        return [element]
    pieces: list[Element | str] = []
    current = Element("p")
    for child in element.children:
        if isinstance(child, Element) and child.tag == "math" and child.attrs["display"] == "block":
            pieces.extend([current, child])
            current = Element("p")
        else:
            current.children.append(child)
    pieces.append(current)
    if len(pieces) == 1:
        return [element]
    return [p for p in pieces if not (isinstance(p, Element) and p.tag == "p" and _blank(p))]


def _blank(element: Element) -> bool:
    return all(isinstance(c, str) and not c.strip(" \t\n\r\f") for c in element.children)


def _is_block(node: Element | str) -> bool:
    if isinstance(node, str):
        return False
    return node.tag in BLOCK or (node.tag == "math" and node.attrs.get("display") == "block")


def _whitespace(element: Element, preformatted: bool = False) -> None:
    if element.tag in ("pre", "code") or preformatted:
        for child in element.children:
            if isinstance(child, Element):
                _whitespace(child, True)
        return
    children: list[Element | str] = []
    for child in element.children:
        if isinstance(child, str):
            child = WHITESPACE.sub(" ", child)
            if children and isinstance(children[-1], str):
                children[-1] += child
                continue
        children.append(child)
    # Whitespace next to a block boundary (the element's own edges, a block child) is
    # not shown.
    for i, child in enumerate(children):
        if not isinstance(child, str):
            continue
        if i == 0 or _is_block(children[i - 1]):
            child = child.lstrip(" ")
        if i == len(children) - 1 or _is_block(children[i + 1]):
            child = child.rstrip(" ")
        children[i] = child
    element.children = [c for c in children if c != ""]
    for child in element.children:
        if isinstance(child, Element):
            _whitespace(child)


def normalize(html: str) -> str:
    root = parse(html)
    _unwrap_highlighting(root)
    _map_children(root, _unwrap_markup)
    _footnotes(root)
    _map_children(root, _attributes)
    _map_children(root, _split_paragraphs_at_display_math)
    _whitespace(root)
    return serialize(root)


def serialize(root: Element) -> str:
    """Canonical HTML: attributes sorted, minimal escaping, each block element on its own
    line (so a failure's diff reads line by line); text inside <pre> as it is."""
    out: list[str] = []

    def write(node: Element | str, preformatted: bool) -> None:
        if isinstance(node, str):
            out.append(escape(node, quote=False))
            return
        if node.tag == "#comment":
            out.append(f"<!--{node.attrs['text']}-->")
            return
        block = _is_block(node) and not preformatted
        if block and out and not out[-1].endswith("\n"):
            out.append("\n")
        attrs = "".join(
            f" {name}" if name in BOOLEAN else f' {name}="{escape(value)}"'
            for name, value in sorted(node.attrs.items())
        )
        out.append(f"<{node.tag}{attrs}>")
        if node.tag in VOID:
            if block:
                out.append("\n")
            return
        inner = preformatted or node.tag == "pre"
        for child in node.children:
            write(child, inner)
        if block and not inner and out and not out[-1].endswith("\n") and _has_block(node):
            out.append("\n")
        out.append(f"</{node.tag}>")
        if block:
            out.append("\n")

    for child in root.children:
        write(child, False)
    return "".join(out).strip("\n")


def _has_block(element: Element) -> bool:
    return any(_is_block(child) for child in element.children)
