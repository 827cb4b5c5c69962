"""What GitHub makes of a markdown text: cmark-gfm's HTML, with the page's policy applied
the way the page applies it, for the conformance tests and bench/conformance.py.

Three sets of documents are compared (docs/rendering.md, "Compared with GitHub"):

- the CommonMark 0.31.2 spec examples without raw HTML: all but those where cmark-gfm's
  safe mode omits raw HTML, and all but those of the spec's "HTML blocks" and "Raw HTML"
  sections (the page never passes raw HTML through, so these measure nothing);
- the GFM spec's extension examples (tables, strikethrough, autolinks, task lists), less
  the one tagfilter example, which is about raw HTML;
- the answers in tests/markdown_corpus/.

The reference for each is cmark-gfm (tables, strikethrough, autolinks, task lists,
footnotes), with two things done to the source first, each what the page's renderer
promises instead of raw HTML and plain dollars:

- raw HTML is text: every `<` that cmark-gfm reads as the start of raw HTML gets a
  backslash, so cmark-gfm shows it as text and parses what follows as markdown, which is
  what markdown-it does with `html: false`;
- math is math: spans found by `math_spans` (the rules GitHub and pandoc use) become
  `<math display="inline|block">TeX</math>`, their TeX kept as written.
"""

from __future__ import annotations

import ctypes
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cmarkgfm
from cmarkgfm.cmark import Options

from tests.markdown_normalize import apply_policy, normalize

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "markdown"
COMMONMARK_SPEC = FIXTURES / "commonmark-0.31.2-spec.txt"
GFM_SPEC = FIXTURES / "gfm-spec.txt"
CORPUS = Path(__file__).resolve().parent / "markdown_corpus"

EXTENSIONS = ("table", "strikethrough", "autolink", "tasklist")
# Spec sections about raw HTML: with raw HTML shown as text they measure nothing.
RAW_HTML_SECTIONS = {"HTML blocks", "Raw HTML"}
# GFM extension examples counted; "disabled" is how the GFM spec file tags its two task
# list examples, and tagfilter (one example) concerns raw HTML only.
GFM_EXTENSIONS = {"table", "strikethrough", "autolink", "disabled"}

FENCE = "`" * 32


@dataclass(frozen=True)
class Example:
    spec: str  # "commonmark" or "gfm" (the corpus uses "corpus")
    number: int  # the example's number in its spec file (1-based), or the corpus file's
    section: str
    extension: str  # the word after "example" in the spec file: "table", …, or ""
    markdown: str
    spec_html: str = ""

    @property
    def name(self) -> str:
        return f"{self.spec} {self.number} ({self.section})"


def spec_examples(path: Path, spec: str) -> list[Example]:
    """Every example of a spec file: blocks between a line of 32 backticks + " example"
    and a line of 32 backticks, markdown and HTML separated by a line holding ".", with
    "→" standing for a tab."""
    examples: list[Example] = []
    section = ""
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if line.startswith(FENCE + " example"):
            extension = line[len(FENCE + " example") :].strip()
            end = lines.index(FENCE, i + 1)
            body = lines[i + 1 : end]
            dot = body.index(".")
            markdown = "".join(part + "\n" for part in body[:dot]).replace("→", "\t")
            spec_html = "".join(part + "\n" for part in body[dot + 1 :]).replace("→", "\t")
            examples.append(
                Example(spec, len(examples) + 1, section, extension, markdown, spec_html)
            )
            i = end
        i += 1
    return examples


def cmark_html(markdown: str, unsafe: bool = True) -> str:
    options = Options.CMARK_OPT_FOOTNOTES | (Options.CMARK_OPT_UNSAFE if unsafe else 0)
    return cmarkgfm.markdown_to_html_with_extensions(
        markdown, options=options, extensions=list(EXTENSIONS)
    )


def has_raw_html(markdown: str) -> bool:
    """cmark-gfm's own judgement: its safe mode leaves out some raw HTML."""
    return "<!-- raw HTML omitted -->" in cmark_html(markdown, unsafe=False)


@cache
def commonmark_examples() -> list[Example]:
    """The CommonMark spec examples that measure the page: those without raw HTML."""
    return [
        example
        for example in spec_examples(COMMONMARK_SPEC, "commonmark")
        if example.section not in RAW_HTML_SECTIONS and not has_raw_html(example.markdown)
    ]


@cache
def gfm_extension_examples() -> list[Example]:
    return [
        example for example in spec_examples(GFM_SPEC, "gfm") if example.extension in GFM_EXTENSIONS
    ]


@cache
def corpus_documents() -> list[Example]:
    return [
        Example("corpus", int(path.name.split("-")[0]), path.stem, "", path.read_text("utf-8"))
        for path in sorted(CORPUS.glob("*.md"))
    ]


# --- cmark-gfm's syntax tree, through its C API (cmarkgfm's bindings expose only the HTML
# renderer; the library itself exports the rest). Source positions: 1-based lines,
# 1-based byte columns.


class _Cmark:
    def __init__(self) -> None:
        library = ctypes.CDLL(str(Path(cmarkgfm.__file__).parent / "_cmark.abi3.so"))
        node, text, integer = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        signatures = {
            "cmark_gfm_core_extensions_ensure_registered": (None, []),
            "cmark_parser_new": (node, [integer]),
            "cmark_find_syntax_extension": (node, [text]),
            "cmark_parser_attach_syntax_extension": (integer, [node, node]),
            "cmark_parser_feed": (None, [node, text, ctypes.c_size_t]),
            "cmark_parser_finish": (node, [node]),
            "cmark_parser_free": (None, [node]),
            "cmark_node_free": (None, [node]),
            "cmark_iter_new": (node, [node]),
            "cmark_iter_next": (integer, [node]),
            "cmark_iter_get_node": (node, [node]),
            "cmark_iter_free": (None, [node]),
            "cmark_node_get_type_string": (text, [node]),
            "cmark_node_get_literal": (text, [node]),
            "cmark_node_get_string_content": (text, [node]),
            "cmark_node_get_start_line": (integer, [node]),
            "cmark_node_get_start_column": (integer, [node]),
            "cmark_node_get_end_line": (integer, [node]),
            "cmark_node_get_end_column": (integer, [node]),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(library, name)
            function.restype, function.argtypes = restype, argtypes
        self.c = library
        library.cmark_gfm_core_extensions_ensure_registered()

    def nodes(self, markdown: str) -> list[Node]:
        """Every node of the document, in document order."""
        c = self.c
        data = markdown.encode()
        parser = c.cmark_parser_new(Options.CMARK_OPT_FOOTNOTES)
        for name in EXTENSIONS:
            c.cmark_parser_attach_syntax_extension(
                parser, c.cmark_find_syntax_extension(name.encode())
            )
        c.cmark_parser_feed(parser, data, len(data))
        document = c.cmark_parser_finish(parser)
        found = []
        walker = c.cmark_iter_new(document)
        while (event := c.cmark_iter_next(walker)) != 1:  # 1: done
            if event != 2:  # 2: entering a node
                continue
            node = c.cmark_iter_get_node(walker)
            kind = c.cmark_node_get_type_string(node).decode()
            literal = content = b""
            if kind.startswith("html"):
                literal = c.cmark_node_get_literal(node) or b""
            if kind in ("paragraph", "heading"):
                content = c.cmark_node_get_string_content(node) or b""
            found.append(
                Node(
                    kind,
                    c.cmark_node_get_start_line(node),
                    c.cmark_node_get_start_column(node),
                    c.cmark_node_get_end_line(node),
                    c.cmark_node_get_end_column(node),
                    literal.decode(errors="replace"),
                    content.decode(errors="replace"),
                )
            )
        c.cmark_iter_free(walker)
        c.cmark_node_free(document)
        c.cmark_parser_free(parser)
        return found


@dataclass(frozen=True)
class Node:
    kind: str
    start_line: int
    start_column: int
    end_line: int
    end_column: int
    literal: str
    content: str


@cache
def _cmark() -> _Cmark:
    return _Cmark()


class SourceError(ValueError):
    """The source could not be prepared faithfully; the document is reported, not guessed."""


def _line_starts(data: bytes) -> list[int]:
    return [0] + [i + 1 for i, byte in enumerate(data) if byte == 0x0A]


def raw_html_as_text(markdown: str) -> str:
    """The source with a backslash before every `<` that cmark-gfm reads as the start of
    raw HTML (inline or block), one at a time, re-parsing after each."""
    for _ in range(10_000):
        raw = next((n for n in _cmark().nodes(markdown) if n.kind.startswith("html")), None)
        if raw is None:
            return markdown
        data = markdown.encode()
        at = _line_starts(data)[raw.start_line - 1] + raw.start_column - 1
        first_line = raw.literal.lstrip(" ").split("\n")[0].encode()
        if data[at : at + 1] != b"<" or not data[at:].startswith(first_line):
            raise SourceError(f"cmark-gfm places raw HTML {raw.literal!r} where it is not")
        markdown = (data[:at] + b"\\" + data[at:]).decode()
    raise SourceError("too much raw HTML")


# --- Math. The rules (those of GitHub, pandoc and the page's renderer):
# - `$…$` inline: the opening `$` is not followed by a space, the next unescaped `$` closes
#   it if it is not preceded by a space nor followed by a digit; otherwise the opening `$`
#   is plain text. `$$…$$` is display math. Inside one paragraph, heading or table cell.
# - `\(…\)` inline; `\[…\]` display when `\[` begins a line and `\]` ends one.
# - Not inside code spans nor link destinations; `\$` is a dollar.


@dataclass(frozen=True)
class MathSpan:
    start: int  # offsets in the inline content
    end: int
    tex: str
    display: bool
    source: str = ""  # the span as written, delimiters included


def math_spans(text: str) -> list[MathSpan]:
    """The math in one paragraph's (heading's, cell's) inline content."""
    spans: list[MathSpan] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "`":
            run = len(text[i:]) - len(text[i:].lstrip("`"))
            closing = re.compile(r"(?<!`)" + "`" * run + r"(?!`)").search(text, i + run)
            i = closing.end() if closing else i + run
        elif text.startswith("\\(", i):
            end = _unescaped(text, "\\)", i + 2)
            if end > i + 2:
                spans.append(MathSpan(i, end + 2, text[i + 2 : end], False, text[i : end + 2]))
                i = end + 2
            else:
                i += 2
        elif text.startswith("\\[", i) and (i == 0 or text[i - 1] == "\n"):
            end = _unescaped(text, "\\]", i + 2)
            if end > i + 2 and _ends_line(text, end + 2):
                spans.append(MathSpan(i, end + 2, text[i + 2 : end], True, text[i : end + 2]))
                i = end + 2
            else:
                i += 2
        elif char == "\\":
            i += 2
        elif text.startswith("](", i):
            i = _after_destination(text, i + 2)
        elif text.startswith("$$", i):
            end = _unescaped(text, "$$", i + 2)
            if end > i + 2:
                spans.append(MathSpan(i, end + 2, text[i + 2 : end], True, text[i : end + 2]))
                i = end + 2
            else:
                i += 2
        elif char == "$":
            end = _unescaped(text, "$", i + 1)
            opens = i + 1 < len(text) and not text[i + 1].isspace()
            closes = (
                end > i + 1
                and not text[end - 1].isspace()
                and not (end + 1 < len(text) and text[end + 1].isdigit())
            )
            if opens and closes:
                spans.append(MathSpan(i, end + 1, text[i + 1 : end], False, text[i : end + 1]))
                i = end + 1
            else:
                i += 1
        else:
            i += 1
    return spans


def _after_destination(text: str, i: int) -> int:
    """Past a link's destination (and title) starting at i: no math in an address."""
    depth = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            if depth == 0:
                return i + 1
            depth -= 1
        elif text[i] == "\n" and text[i + 1 : i + 2] == "\n":
            break
        i += 1
    return i


def _unescaped(text: str, delimiter: str, start: int) -> int:
    """Where the next `delimiter` not preceded by an odd number of backslashes begins, or -1."""
    at = start
    while (at := text.find(delimiter, at)) != -1:
        backslashes = len(text[:at]) - len(text[:at].rstrip("\\"))
        if backslashes % 2 == 0:
            return at
        at += 1
    return -1


def _ends_line(text: str, at: int) -> bool:
    return text[at:].split("\n", 1)[0].strip() == ""


def _content_lines(node: Node, lines: list[str]) -> list[tuple[int, int]]:
    """(source line index, column of the content) for each line of a node's inline
    content: every content line is the end of its source line, after container markers."""
    placed = []
    content_lines = node.content.rstrip("\n").split("\n")
    for k, content_line in enumerate(content_lines):
        index = node.start_line - 1 + k
        source_line = lines[index].rstrip() if index < len(lines) else ""
        wanted = content_line.rstrip()
        if node.kind == "paragraph" or (node.kind == "heading" and len(content_lines) > 1):
            column = len(source_line) - len(wanted)
            ok = column >= 0 and source_line.endswith(wanted)
        elif node.kind == "table_cell":
            column = node.start_column  # set by _with_cell_content: a character offset
            ok = source_line[column : column + len(wanted)] == wanted
        else:  # an ATX heading: the content sits inside the line
            column = source_line.find(wanted)
            ok = column >= 0
        if not ok:
            raise SourceError(f"cannot find {content_line!r} in line {index + 1}")
        placed.append((index, column))
    return placed


def _with_cell_content(cell: Node, lines: list[str]) -> Node:
    """A table cell's text from the source (cmark-gfm keeps no content for empty cells);
    its start_column becomes the character offset of that text in the line."""
    if cell.start_column < 1 or cell.start_line > len(lines):
        return cell
    line = lines[cell.start_line - 1].encode()
    raw = line[cell.start_column - 1 : cell.end_column].decode(errors="replace")
    text = raw.strip(" \t|")
    offset = len(line[: cell.start_column - 1].decode(errors="replace")) + raw.find(text)
    return Node(cell.kind, cell.start_line, offset, cell.end_line, cell.end_column, "", text)


@dataclass(frozen=True)
class Prepared:
    markdown: str  # the source handed to cmark-gfm
    math: dict[str, MathSpan]  # placeholder -> the span it stands for


def prepare(markdown: str) -> Prepared:
    """Raw HTML as text, then each math span replaced by a placeholder cmark-gfm leaves
    alone (starting and ending with `$`, so emphasis around it parses the same)."""
    markdown = raw_html_as_text(markdown)
    lines = markdown.split("\n")
    replacements: list[tuple[int, int, int, int, MathSpan]] = []
    for node in _cmark().nodes(markdown):
        if node.kind == "table_cell":
            node = _with_cell_content(node, lines)
        if not node.content or not re.search(r"\$|\\\(|\\\[", node.content):
            continue
        content = node.content.rstrip("\n")
        spans = math_spans(content)
        if not spans:
            continue
        placed = _content_lines(node, lines)
        starts = [0]
        for content_line in content.split("\n"):
            starts.append(starts[-1] + len(content_line) + 1)

        def locate(offset: int, placed=placed, starts=starts) -> tuple[int, int]:
            k = max(j for j, start in enumerate(starts[:-1]) if start <= offset)
            line, column = placed[k]
            return line, column + offset - starts[k]

        for span in spans:
            replacements.append((*locate(span.start), *locate(span.end), span))
    math: dict[str, MathSpan] = {}
    # From the end, so earlier positions stay valid.
    for number, (line, column, end_line, end_column, span) in enumerate(
        sorted(replacements, key=lambda r: (r[0], r[1]), reverse=True)
    ):
        token = f"$MATHTOKEN{number}X$"
        math[token] = span
        head, tail = lines[line][:column], lines[end_line][end_column:]
        lines[line : end_line + 1] = [head + token + tail]
    return Prepared("\n".join(lines), math)


def math_element(span: MathSpan) -> str:
    """A placeholder for the math: its TeX in a <math> element."""
    display = "block" if span.display else "inline"
    return f'<math display="{display}">{html.escape(span.tex.strip(), quote=False)}</math>'


def reference_html(markdown: str, math_html: Callable[[MathSpan], str] = math_element) -> str:
    """cmark-gfm's HTML for the source, with raw HTML as text and math as math."""
    return _render(prepare(markdown), math_html)


def _render(prepared: Prepared, math_html: Callable[[MathSpan], str]) -> str:
    rendered = cmark_html(prepared.markdown)
    for token, span in prepared.math.items():
        rendered = rendered.replace(token, math_html(span))
    return rendered


def iter_all() -> Iterator[Example]:
    yield from commonmark_examples()
    yield from gfm_extension_examples()
    yield from corpus_documents()


# --- comparing the page's rendering with the reference ---

# One round trip for a whole list of sources; an exception is reported, not raised.
RENDER_ALL = """sources => sources.map(source => {
  try { return harness.renderMarkdown(source); }
  catch (error) { return "renderMarkdown threw: " + error; }
})"""


@dataclass(frozen=True)
class Outcome:
    example: Example
    expected: str  # normalised reference
    actual: str  # normalised page rendering

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


# GitHub's math drawn by the same library as the page's (Temml, vendored), so that math
# compares as MathML: what is compared is where the math is, its TeX and its display.
RENDER_MATH = """async spans => {
  const { default: temml } = await import("/static/vendor/temml/temml.mjs");
  return spans.map(([tex, display]) => {
    try { return temml.renderToString(tex, { displayMode: display, throwOnError: true }); }
    catch (error) { return null; }
  });
}"""


def compare(page, examples: list[Example]) -> list[Outcome]:
    """The page's rendering of each example (in one round trip) against GitHub's."""
    rendered = page.evaluate(RENDER_ALL, [example.markdown for example in examples])
    prepared: list[Prepared | SourceError] = []
    for example in examples:
        try:
            prepared.append(prepare(example.markdown))
        except SourceError as error:
            prepared.append(error)
    spans = sorted(
        {(s.tex, s.display) for p in prepared if isinstance(p, Prepared) for s in p.math.values()}
    )
    mathml = dict(zip(spans, page.evaluate(RENDER_MATH, [list(s) for s in spans]), strict=True))

    def math_html(span: MathSpan) -> str:
        # TeX that Temml refuses is shown as written (the page's policy, docs/rendering.md).
        drawn = mathml[(span.tex, span.display)]
        return drawn if drawn is not None else f"<code>{html.escape(span.source)}</code>"

    outcomes = []
    for example, page_html, source in zip(examples, rendered, prepared, strict=True):
        if isinstance(source, SourceError):
            expected = f"(no reference: {source})"
        else:
            expected = normalize(apply_policy(_render(source, math_html)))
        outcomes.append(Outcome(example, expected, normalize(page_html)))
    return outcomes


def describe(outcome: Outcome) -> str:
    """A failure, readably: the source, then both normalised renderings."""
    return (
        f"--- {outcome.example.name}\n{outcome.example.markdown}"
        f"--- GitHub (cmark-gfm, normalised):\n{outcome.expected}\n"
        f"--- page (normalised):\n{outcome.actual}\n"
    )
