"""Markdown to safe HTML, for whole documents and for replies that arrive in pieces.

Model output is hostile input. Three layers keep it harmless:

1. Python-Markdown runs with raw HTML switched off, so ``<b>`` in the source shows as text.
2. A treeprocessor turns every image into a link (or plain text), so the browser never
   fetches a URL the model chose (an image URL can carry data out in its query string).
3. nh3 cleans the result against an allowlist of exactly what our markdown emits.

``IncrementalRenderer`` renders a streamed reply block by block: finished blocks are
rendered and sent once, and only the unfinished tail is re-rendered, no more often than
it doubles in size, so the total markdown work stays linear in the reply's length.
"""

from __future__ import annotations

import html
import re
import threading
import xml.etree.ElementTree as etree
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import markdown
import nh3
from markdown.treeprocessors import Treeprocessor
from pygments.formatters import HtmlFormatter
from pygments.token import STANDARD_TYPES
from pymdownx.superfences import RE_NESTED_FENCE_START

TAB_LENGTH = 4

# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------

_EXTENSIONS = [
    "tables",
    "sane_lists",
    "pymdownx.betterem",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "pymdownx.tasklist",
    "pymdownx.tilde",
]
_EXTENSION_CONFIGS = {
    # `align="left"` instead of `style="text-align: left"`: we allow no style attributes.
    "tables": {"use_align_attribute": True},
    # Models write "```python title" or "```js {1,3}"; without relaxed headers such a
    # fence is not a fence at all and its code is parsed as markdown.
    "pymdownx.superfences": {"relaxed_headers": True},
    # Guessing the language of unlabelled code is slow and often wrong.
    "pymdownx.highlight": {"css_class": "highlight", "guess_lang": False},
    # A single "~" is common in prose ("~5 minutes"); only "~~x~~" means something.
    "pymdownx.tilde": {"subscript": False},
}

_SAFE_IMAGE_SCHEMES = {"http", "https"}
# C0 controls, DEL and whitespace: browsers drop these from URLs before reading the scheme.
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]+")


def _url_scheme(url: str) -> str:
    """The scheme a browser would see in `url` (which may contain entities), lower-cased."""
    cleaned = _URL_JUNK.sub("", html.unescape(url))
    try:
        return urlsplit(cleaned).scheme.lower()
    except ValueError:
        return ""


class _ImagesToLinks(Treeprocessor):
    """Replace every <img> by a link to the image, or by its alt text.

    Done here, on the element tree, rather than in nh3: nh3 can only drop the tag or
    keep it, while the reader should still see that there was an image and where.
    Links nested in links are invalid HTML, so an image inside a link becomes text.
    """

    def run(self, root: etree.Element) -> None:
        # A loop, not recursion: hostile nesting can run deeper than Python's stack.
        stack = [(root, False)]
        while stack:
            element, in_link = stack.pop()
            for child in element:
                if child.tag == "img":
                    self._replace(child, in_link)
                else:
                    stack.append((child, in_link or child.tag == "a"))

    @staticmethod
    def _replace(img: etree.Element, in_link: bool) -> None:
        src = img.get("src", "")
        alt = img.get("alt", "") or "image"
        safe = _url_scheme(src) in _SAFE_IMAGE_SCHEMES
        img.attrib.clear()
        img.tag = "span"
        img.text = f"\N{FRAME WITH PICTURE} {alt}" if safe else alt
        if safe and not in_link:
            img.tag = "a"
            img.set("href", src)
            img.set("class", "image-link")


def _build_markdown() -> markdown.Markdown:
    md = markdown.Markdown(
        extensions=_EXTENSIONS,
        extension_configs=_EXTENSION_CONFIGS,
        output_format="html",
        tab_length=TAB_LENGTH,
    )
    # Raw HTML blocks and inline tags: without these two, "<" is escaped like any text.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    # After "unescape" (priority 0), so that backslash escapes in URLs are resolved.
    md.treeprocessors.register(_ImagesToLinks(md), "images_to_links", -10)
    return md


# Building a Markdown instance is slow, so each thread keeps one; it is not thread-safe.
_local = threading.local()


def _markdown() -> markdown.Markdown:
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _build_markdown()
    return md


# ---------------------------------------------------------------------------
# Sanitising
# ---------------------------------------------------------------------------

_TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6"),
    *("strong", "em", "del", "code", "pre", "span", "div", "blockquote"),
    *("ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "input"),
    # Tool-call blocks (chat/tool_blocks.py), stored with the reply and cleaned again on
    # the way out; markdown itself never emits them (raw HTML is escaped).
    *("details", "summary"),
}
_TOOL_STATES = {"is-streaming", "is-running", "is-done", "is-failed", "is-stopped"}
# Dropped together with their content: their text is not meant to be read.
_CLEAN_CONTENT_TAGS = {"script", "style", "template", "noscript", "svg", "math", "iframe"}
_ALIGN = {"align": {"left", "center", "right"}}
_PYGMENTS_CLASSES = {name for name in STANDARD_TYPES.values() if name}
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags=_CLEAN_CONTENT_TAGS,
    # `class` is governed by `allowed_classes` below (nh3 refuses it in both places).
    attributes={"a": {"href", "title"}, "ol": {"start"}, "input": {"checked"}},
    tag_attribute_values={"th": _ALIGN, "td": _ALIGN, "input": {"type": {"checkbox"}}},
    allowed_classes={
        "div": {"highlight", "tool-calls", "tool-section", "tool-label"},
        "span": _PYGMENTS_CLASSES | {"tool-name", "tool-state"},
        "details": {"tool-call"} | _TOOL_STATES,
        "pre": {"tool-args", "tool-result"},
        "ul": {"task-list"},
        "li": {"task-list-item"},
        "a": {"image-link"},
    },
    # Task list checkboxes are for show: whatever the input says, it ends up disabled (a
    # non-checkbox input loses its type). Only one attribute is forced per tag: nh3 writes
    # several in an order that varies between runs.
    set_tag_attribute_values={"a": {"target": "_blank"}, "input": {"disabled": ""}},
    link_rel="noopener noreferrer nofollow",
    url_schemes={"http", "https", "mailto"},
    # A relative link would point into this site (think "/logout"): drop it.
    url_relative="deny",
    strip_comments=True,
)


def sanitize_html(html_text: str) -> str:
    """Clean HTML down to what our markdown emits (also used on stored HTML)."""
    return _CLEANER.clean(html_text)


# Python-Markdown's link patterns take time quadratic in the number of unmatched "[" (or
# "](" never closed) in a paragraph: 4,000 of them stall the server for seconds. Past this
# many, a text's brackets are shown as they are instead of being read as links.
MAX_UNMATCHED_BRACKETS = 200
_WHOLE_LINK = re.compile(r"!?\[[^\[\]]*\]\([^()]*\)|!?\[[^\[\]]*\](?!\()")
_CODE_SPAN = re.compile(r"(`{1,16})[^`]*?\1")  # bounded: no backtracking blow-up


def _defuse_brackets(text: str) -> str:
    if text.count("[") <= MAX_UNMATCHED_BRACKETS:
        return text
    unmatched = _WHOLE_LINK.sub("", _CODE_SPAN.sub("", text)).count("[")
    if unmatched <= MAX_UNMATCHED_BRACKETS or _Fence.opened_by(text.lstrip("\n")):
        return text  # ordinary links, or a fenced block (its content is never parsed)
    # Escaped outside code spans, where a backslash would show.
    out, at = [], 0
    for match in _CODE_SPAN.finditer(text):
        out += [text[at : match.start()].replace("[", "\\["), match.group()]
        at = match.end()
    out.append(text[at:].replace("[", "\\["))
    return "".join(out)


def render_markdown(text: str) -> str:
    """Render one whole markdown document to sanitised HTML."""
    md = _markdown()
    md.reset()
    try:
        body = md.convert(_defuse_brackets(text))
    except RecursionError:
        # Python-Markdown recurses once per level of nesting, and "- - - ...x" is enough
        # to exhaust the stack: such a text is shown as it is. The instance is left
        # mid-parse (reset() does not clear its parser's state), so it is dropped.
        _local.md = None
        return render_plain_text(text)
    return sanitize_html(body)


def render_plain_text(text: str) -> str:
    """A user's message as HTML: escaped text, blank lines make paragraphs, newlines <br>."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    paragraphs = (p for p in re.split(r"\n\s*\n", text) if p.strip())
    return "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def pygments_css() -> str:
    """CSS for highlighted code: a light theme, and a dark one for dark-mode browsers."""
    light = _style_rules("default")
    dark = _style_rules("github-dark")
    # Classes the light theme colours and the dark one does not would keep their light
    # colours in dark mode: neutralise every light rule first, then apply the dark ones.
    selectors = [rule.split("{", 1)[0].strip() for rule in light]
    reset = [f"  {s}," for s in selectors if s != ".highlight"]
    reset[-1] = reset[-1].removesuffix(",") + " {"
    reset.append(
        "    color: inherit; background-color: transparent; border: none;"
        " font-weight: inherit; font-style: inherit;"
    )
    return "\n".join(
        [
            "/* Generated by chat.render.pygments_css(); do not edit. */",
            *light,
            "@media (prefers-color-scheme: dark) {",
            *reset,
            "  }",
            *(f"  {rule}" for rule in dark),
            "}",
            "",
        ]
    )


def _style_rules(style: str) -> list[str]:
    # Only rules scoped to .highlight: Pygments also emits bare `pre` and line-number rules.
    defs = HtmlFormatter(style=style).get_style_defs(".highlight")
    return [line for line in defs.splitlines() if line.startswith(".highlight")]


# ---------------------------------------------------------------------------
# Splitting a growing text into blocks
# ---------------------------------------------------------------------------

_PREFIX_CHARS = "> "  # what superfences allows before a fence (tabs are expanded by then)
# Python-Markdown wants a space after the marker; "1)" is not a list there, but joining
# too much is harmless, so it counts.
_LIST_ITEM = re.compile(r"(?:[*+-]|\d+[.)])[ \t]")
_LIST_ITEM_PREFIX = re.compile(r"[*+-]|\d+[.)]?")  # could still become a list item


def _is_blank(line: str) -> bool:
    return not line.strip(" ")


@dataclass
class _Fence:
    """An open fenced code block, following pymdownx.superfences' own rules.

    The splitter must never cut inside a fence superfences would see, so it mirrors it:
    any line of 3+ backticks or tildes after a prefix of spaces and ">" opens one (with
    relaxed headers every such line is a valid header); the fence closes at a line with
    exactly the same marker and prefix, and is abandoned (superfences then treats the
    lines as ordinary markdown) when a non-blank line has a different prefix.
    """

    prefix: str
    marker: str
    quotes: int
    blank_lines: int = 0

    @classmethod
    def opened_by(cls, line: str) -> _Fence | None:
        prefix = line[: len(line) - len(line.lstrip(_PREFIX_CHARS))]
        match = RE_NESTED_FENCE_START.match(line, len(prefix))
        if match is None:
            return None
        return cls(prefix=prefix, marker=match.group("fence"), quotes=prefix.count(">"))

    @property
    def closer(self) -> str:
        return self.prefix + self.marker

    def continues(self, line: str) -> bool:
        """Whether the fence is still open after `line` (False: closed or abandoned)."""
        ws = line[: len(self.prefix)]
        ws = ws[: len(ws) - len(ws.lstrip(_PREFIX_CHARS))]
        content = line[len(ws) :]
        quotes = ws.count(">")
        is_closer = content.rstrip(" \t") == self.marker
        if not self.quotes:
            if quotes:
                return False
            if not line.strip():
                return True
            if len(ws) != len(self.prefix):
                return False
            return not is_closer
        if quotes > self.quotes:
            return False
        if not content:
            self.blank_lines += 1
            return True
        if len(ws) < len(self.prefix) or (self.blank_lines and quotes < self.quotes):
            return False
        self.blank_lines = 0
        return not is_closer


class BlockSplitter:
    """Cuts a growing markdown text into blocks that render alike alone or together.

    A blank line outside a fence ends a block, unless the next non-blank line continues
    it: an indented line, a list item after a list, a ">" line after a quote (Python-
    Markdown joins those across blank lines). Only the unfinished text is kept and each
    line is examined once, so feeding a whole reply costs time linear in its length.
    Joining blocks wrongly only makes a block bigger; cutting wrongly would change the
    rendering, so every doubt is resolved by joining.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.open = ""  # the unfinished text: the start of the current block onwards
        self._line_start = 0  # offset in `open` of the first line not yet examined
        self._newline_from = 0  # no "\n" in `open` between `_line_start` and this
        self._reset_block()

    def _reset_block(self) -> None:
        self.fence: _Fence | None = None
        self._has_content = False
        self._after_blank = False  # blank line(s) after content: the block may end here
        # Whether the current chunk (lines since the last blank line and a line that is
        # not indented, and its indented continuations) holds a list item, or a ">" line.
        self._list = False
        self._quote = False

    def feed(self, delta: str) -> list[str]:
        """Add text; return the source of each block it finished."""
        self.open += delta
        finished = []
        while True:
            start = self._line_start
            end = self.open.find("\n", max(start, self._newline_from))
            line = self.open[start:] if end == -1 else self.open[start:end]
            if self._after_blank and self.fence is None:
                verdict = self._starts_block(line, complete=end != -1)
                if verdict is None:
                    break
                if verdict:
                    finished.append(self.open[:start])
                    self.open = self.open[start:]
                    self._newline_from = max(0, self._newline_from - start)
                    self._line_start = 0
                    self._reset_block()
                    continue
            if end == -1:
                self._newline_from = len(self.open)
                break
            self._examine(line)
            self._line_start = end + 1
        return finished

    def close(self) -> str:
        """End of text: return what is left (one block, or empty) and start afresh."""
        rest = self.open
        self._reset()
        return rest

    def fence_closer(self) -> str:
        """What to append to `open` to close its open fence ("" if none is open)."""
        if self.fence is None:
            return ""
        partial = self.open[self._line_start :]  # every complete line has been examined
        if not partial:
            return self.fence.closer
        if not replace(self.fence).continues(partial.expandtabs(TAB_LENGTH)):
            return ""  # the partial last line already closes it (or ends it otherwise)
        return "\n" + self.fence.closer

    def _starts_block(self, line: str, complete: bool) -> bool | None:
        """After a blank line: does `line` start a new block? None: cannot tell yet."""
        head = line.partition("\r")[0].expandtabs(TAB_LENGTH)
        if _is_blank(head):
            return None if not complete else False
        if head[0] == " ":
            return False
        if head[0] == ">":
            return not self._quote
        if self._list:
            if _LIST_ITEM.match(head):
                return False
            if not complete and _LIST_ITEM_PREFIX.fullmatch(head):
                return None
        return True

    def _examine(self, line: str) -> None:
        # Python-Markdown reads "\r\n" and a lone "\r" as line ends, and expands tabs.
        for part in line.removesuffix("\r").split("\r"):
            self._examine_part(part.expandtabs(TAB_LENGTH))

    def _examine_part(self, line: str) -> None:
        if self.fence is not None:
            # superfences may still give up on this fence and read its lines as markdown,
            # so they count for `_list` and `_quote` too: too much joining is harmless.
            if not self.fence.continues(line):
                self.fence = None  # and this last line does not open another one
            self._note(line)
            return
        if _is_blank(line):
            self._after_blank = self._has_content
            return
        if self._after_blank and line[0] != " ":  # a new top-level chunk of the same block
            self._list = self._quote = False
        self._after_blank = False
        self._has_content = True
        self._note(line)
        self.fence = _Fence.opened_by(line)

    def _note(self, line: str) -> None:
        # Any indentation: Python-Markdown allows up to 3 spaces, and more is harmless.
        stripped = line.lstrip(" ")
        self._list = self._list or _LIST_ITEM.match(stripped) is not None
        self._quote = self._quote or stripped.startswith(">")


def split_blocks(text: str) -> list[str]:
    """Cut `text` into block sources (joined, they give back `text`)."""
    splitter = BlockSplitter()
    blocks = splitter.feed(text)
    rest = splitter.close()
    return [*blocks, rest] if rest else blocks


# ---------------------------------------------------------------------------
# Incremental rendering
# ---------------------------------------------------------------------------

MIN_GROWTH = 24  # chars: below this, re-rendering the tail is not worth it


@dataclass
class Frame:
    """One update of a reply for the browser (docs/protocol.md, "Frames")."""

    start: int  # index of the first block in `blocks`
    blocks: list[str]  # finished blocks' HTML that the receiver does not have yet
    tail: str  # HTML of the unfinished tail, as last rendered
    pending: str  # raw text that arrived after `tail` was rendered (shown as TEXT)


class IncrementalRenderer:
    """Renders a reply as it streams in; see the module docstring and docs/protocol.md.

    Finished blocks are rendered once. The tail is re-rendered by `frame()` only when the
    text added since its last render is at least as long as what that render covered
    (and at least MIN_GROWTH): each render covers at least twice the previous one, so a
    tail's renders add up to less than twice its final length. Text not yet rendered
    travels as `pending`, for the client to show as plain text.

    Each block's HTML after the first starts with "\\n", the separator Python-Markdown puts
    between top-level elements, so that the blocks joined equal the whole-text render.
    One known difference: blocks are rendered alone, so a reference-style link ("[x][r]")
    whose definition ("[r]: url") is in another block stays text.
    """

    def __init__(self, render: Callable[[str], str] = render_markdown) -> None:
        self._render_fn = render
        self.chars_rendered = 0
        self.blocks: list[str] = []
        self._done: list[str] = []  # sources of finished blocks (`text` joins on demand)
        self._splitter = BlockSplitter()
        self._sent = 0  # blocks already handed out by frame()
        self._start_tail()

    def _start_tail(self) -> None:
        self._tail_html = ""  # as rendered, without the leading separator
        self._tail_len = 0  # how much of the open text that render covered
        self._tail_exact = True  # False if the render added a closing fence

    @property
    def text(self) -> str:
        """Everything fed so far."""
        return "".join(self._done) + self._splitter.open

    @property
    def html(self) -> str:
        """All blocks, the tail and the escaped pending text (for checkpoints)."""
        return "".join(self.blocks) + self._tail() + html.escape(self._pending())

    def feed(self, delta: str) -> None:
        for source in self._splitter.feed(delta):
            self._finish_block(source)

    def frame(self) -> Frame:
        """What changed since the previous frame(): new blocks, tail and pending."""
        open_text = self._splitter.open
        grown = len(open_text) - self._tail_len
        if grown >= max(MIN_GROWTH, self._tail_len):
            # An open fence is rendered closed, so the reader sees code, not a paragraph.
            closer = self._splitter.fence_closer()
            self._tail_html = self._render(open_text + closer)
            self._tail_len = len(open_text)
            self._tail_exact = not closer
        return self._take(self._tail(), self._pending())

    def finish(self) -> Frame:
        """End of the reply: the rest becomes finished block(s); tail and pending empty."""
        rest = self._splitter.close()
        if rest:
            self._finish_block(rest)
        return self._take("", "")

    def snapshot(self) -> Frame:
        """Everything so far, for a new subscriber."""
        return Frame(start=0, blocks=list(self.blocks), tail=self._tail(), pending=self._pending())

    def _take(self, tail: str, pending: str) -> Frame:
        frame = Frame(
            start=self._sent, blocks=self.blocks[self._sent :], tail=tail, pending=pending
        )
        self._sent = len(self.blocks)
        return frame

    def _finish_block(self, source: str) -> None:
        self._done.append(source)
        if self._tail_exact and self._tail_len == len(source) and source:
            body = self._tail_html  # the tail was last rendered from exactly this text
        else:
            body = self._render(source)
        self._start_tail()
        if body:
            self.blocks.append(self._separated(body))

    def _render(self, source: str) -> str:
        self.chars_rendered += len(source)
        return self._render_fn(source)

    def _separated(self, body: str) -> str:
        return "\n" + body if self.blocks and body else body

    def _tail(self) -> str:
        return self._separated(self._tail_html)

    def _pending(self) -> str:
        return self._splitter.open[self._tail_len :]
