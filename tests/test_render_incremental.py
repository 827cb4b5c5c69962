"""The streaming renderer: blocks sent once, linear work, same HTML as a whole render."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from chat.render import (
    MIN_GROWTH,
    Frame,
    IncrementalRenderer,
    render_markdown,
    split_blocks,
)

PROSE = (
    "the model returns a streaming response which the server renders into blocks while "
    "each delta arrives over the socket so that readers see words at once and nothing is "
    "lost when a block finishes because its html is sent exactly one time to every browser"
)
WORDS = PROSE.split()


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 16))
    i = rng.randrange(len(words))
    words[i] = rng.choice(
        [
            f"**{words[i]}**",
            f"*{words[i]}*",
            f"`{words[i]}()`",
            f"[{words[i]}](https://example.com/{words[i]})",
            f"~~{words[i]}~~",
            words[i],
        ]
    )
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    target = rng.randint(200, 600)
    text = ""
    while len(text) < target:
        text += (" " if text else "") + _sentence(rng)
    return text


def _code(rng: random.Random) -> str:
    lang = rng.choice(["python", "js"])
    lines = []
    for i in range(rng.randint(10, 60)):
        if i % 7 == 6:
            lines.append("")  # blank lines inside a fence must not end the block
        elif lang == "python":
            lines.append(f"    value_{i} = compute({i}, name='x<{i}>')  # step {i}")
        else:
            lines.append(f'  const value{i} = compute({i}, "<b>{i}</b>"); // step {i}')
    header = "def main():" if lang == "python" else "function main() {"
    footer = [] if lang == "python" else ["}"]
    return "\n".join([f"```{lang}", header, *lines, *footer, "```"])


def _bullets(rng: random.Random) -> str:
    items = [f"- {_sentence(rng)}" for _ in range(rng.randint(2, 6))]
    if rng.random() < 0.5:
        items[0] += f"\n    - {_sentence(rng)}\n    - {_sentence(rng)}"
    return ("\n\n" if rng.random() < 0.4 else "\n").join(items)


def _numbered(rng: random.Random) -> str:
    sep = "\n\n" if rng.random() < 0.4 else "\n"
    return sep.join(f"{n}. {_sentence(rng)}" for n in range(1, rng.randint(3, 7)))


def _table(rng: random.Random) -> str:
    rows = ["| Name | Value | Note |", "|:-----|------:|:----:|"]
    rows += [f"| row{i} | {rng.randint(1, 999)} | {rng.choice(WORDS)} |" for i in range(5)]
    return "\n".join(rows)


def _quote(rng: random.Random) -> str:
    return f"> {_sentence(rng)}\n> {_sentence(rng)}\n>\n> {_sentence(rng)}"


def _tasks(rng: random.Random) -> str:
    return "\n".join(f"- [{rng.choice(' x')}] {_sentence(rng)}" for _ in range(4))


def realistic_reply(length: int, seed: int = 1) -> str:
    """A deterministic markdown reply of about `length` characters, of every kind of block."""
    rng = random.Random(seed)
    makers = [_paragraph] * 5 + [_code] * 2 + [_bullets, _numbered, _table, _quote, _tasks]
    blocks = [f"# Answer {seed}", _paragraph(rng)]
    size = sum(map(len, blocks))
    while size < length:
        if rng.random() < 0.15:
            block = f"{'#' * rng.randint(2, 3)} {_sentence(rng)}"
        elif rng.random() < 0.03:
            block = "---"
        else:
            block = rng.choice(makers)(rng)
        blocks.append(block)
        size += len(block) + 2
    return "\n\n".join(blocks) + "\n"


def stream(text: str, seed: int = 7, smallest: int = 3, largest: int = 6):
    """Cut `text` into deltas of random sizes."""
    rng = random.Random(seed)
    i = 0
    while i < len(text):
        step = rng.randint(smallest, largest)
        yield text[i : i + step]
        i += step


def apply(frame: Frame, held: list[str]) -> list[str]:
    """What a browser does with a frame (docs/protocol.md)."""
    assert frame.start <= len(held), "a frame skipped blocks"
    return held[: frame.start] + frame.blocks


@pytest.fixture(scope="module")
def reply() -> str:
    return realistic_reply(40_000)


def test_realistic_reply_is_varied(reply):
    assert 40_000 <= len(reply) < 42_000
    for marker in ("```python", "```js", "| Name |", "> ", "- [x]", "1. ", "## ", "\n\n- "):
        assert marker in reply


def test_streamed_reply_renders_linearly_and_like_a_whole_render(reply):
    renderer = IncrementalRenderer()
    held: list[str] = []
    for delta in stream(reply):
        renderer.feed(delta)
        held = apply(renderer.frame(), held)
    held = apply(renderer.finish(), held)

    assert renderer.chars_rendered < 3 * len(reply)
    assert held == renderer.blocks
    assert "".join(renderer.blocks) == render_markdown(reply)
    assert renderer.text == reply


def test_block_sources_render_like_the_whole(reply):
    sources = split_blocks(reply)
    assert "".join(sources) == reply
    assert len(sources) > 60
    assert "\n".join(render_markdown(s) for s in sources) == render_markdown(reply)


@pytest.mark.parametrize("seed", range(5))
def test_split_is_independent_of_delta_sizes(seed):
    text = realistic_reply(6_000, seed=seed)
    renderer = IncrementalRenderer(render=lambda source: source)
    for delta in stream(text, seed=seed, smallest=1, largest=40):
        renderer.feed(delta)
    renderer.finish()
    assert renderer.blocks[0] + "".join(b.removeprefix("\n") for b in renderer.blocks[1:]) == text
    assert [b.removeprefix("\n") for b in renderer.blocks] == split_blocks(text)


def test_fence_with_blank_lines_is_one_block():
    text = "Intro.\n\n```python\na = 1\n\n\nb = 2\n```\n\nAfter.\n"
    assert split_blocks(text) == ["Intro.\n\n", "```python\na = 1\n\n\nb = 2\n```\n\n", "After.\n"]


def test_fence_closes_only_with_the_same_marker():
    # superfences closes "````" with exactly "````": the blank line after "`````" is inside.
    text = "````\na\n`````\n\n```\n````\n\nb\n"
    assert split_blocks(text) == ["````\na\n`````\n\n```\n````\n\n", "b\n"]


def test_indented_fence_in_a_list_item_keeps_the_list_whole():
    text = "- one\n\n    ```python\n    x = 1\n\n    y = 2\n    ```\n\n- two\n\nEnd.\n"
    assert split_blocks(text) == [text.removesuffix("End.\n"), "End.\n"]
    assert "\n".join(map(render_markdown, split_blocks(text))) == render_markdown(text)


def test_list_with_blank_lines_between_items_is_one_block():
    text = "- a\n\n- b\n\n    continued\n\n- c\n\n1. x\n\n2. y\n\nPara.\n"
    blocks = split_blocks(text)
    assert blocks == ["- a\n\n- b\n\n    continued\n\n- c\n\n1. x\n\n2. y\n\n", "Para.\n"]
    assert render_markdown(blocks[0]).count("<ul>") == 1


def test_blockquote_paragraphs_are_one_block():
    text = "> a\n\n> b\n\nc\n"
    assert split_blocks(text) == ["> a\n\n> b\n\n", "c\n"]
    assert "\n".join(map(render_markdown, split_blocks(text))) == render_markdown(text)


def test_unclosed_fence_holds_the_rest_of_the_reply():
    text = "a\n\n```\ncode\n\nmore\n"
    assert split_blocks(text) == ["a\n\n", "```\ncode\n\nmore\n"]


def test_block_finishes_on_the_first_character_of_the_next():
    renderer = IncrementalRenderer()
    renderer.feed("First paragraph.\n\n")
    assert renderer.blocks == []
    renderer.feed("S")
    assert renderer.blocks == ["<p>First paragraph.</p>"]


def test_after_a_list_a_digit_waits_for_the_marker():
    renderer = IncrementalRenderer()
    renderer.feed("- a\n\n12")
    assert renderer.blocks == []
    renderer.feed(". b\n\n2024 was")
    assert renderer.blocks == [render_markdown("- a\n\n12. b\n\n")]
    assert renderer.frame().pending == "2024 was"


def test_frames_carry_only_new_blocks():
    renderer = IncrementalRenderer()
    renderer.feed("One.\n\nTwo.\n\nThr")
    first = renderer.frame()
    assert (first.start, first.blocks) == (0, ["<p>One.</p>", "\n<p>Two.</p>"])
    renderer.feed("ee.\n\nFour.")
    second = renderer.frame()
    assert (second.start, second.blocks) == (2, ["\n<p>Three.</p>"])
    third = renderer.frame()
    assert (third.start, third.blocks) == (3, [])
    last = renderer.finish()
    assert (last.start, last.blocks, last.tail, last.pending) == (3, ["\n<p>Four.</p>"], "", "")


def test_snapshot_gives_everything_so_far():
    renderer = IncrementalRenderer()
    renderer.feed("One.\n\nTwo.\n\n" + "x" * 30)
    renderer.frame()
    renderer.feed(" and more")
    snap = renderer.snapshot()
    assert snap.start == 0
    assert snap.blocks == ["<p>One.</p>", "\n<p>Two.</p>"]
    assert snap.tail == "\n<p>" + "x" * 30 + "</p>"
    assert snap.pending == " and more"
    # A snapshot does not count as a frame: the live stream goes on where it was.
    assert renderer.frame().start == 2


def test_pending_is_the_exact_text_not_yet_rendered():
    renderer = IncrementalRenderer()
    renderer.feed("Short <b> & *")
    frame = renderer.frame()
    assert (frame.tail, frame.pending) == ("", "Short <b> & *")
    renderer.feed("x" * MIN_GROWTH)
    frame = renderer.frame()
    assert frame.tail == "<p>Short &lt;b&gt; &amp; *" + "x" * MIN_GROWTH + "</p>"
    assert frame.pending == ""
    renderer.feed(" tail")
    frame = renderer.frame()
    assert frame.pending == " tail"
    assert renderer.html == frame.tail + " tail"


def test_tail_rerenders_only_when_it_doubles():
    renders: list[int] = []
    renderer = IncrementalRenderer(render=lambda source: renders.append(len(source)) or source)
    for delta in stream("word " * 200, smallest=1, largest=3):
        renderer.feed(delta)
        renderer.frame()
    assert renders[0] >= MIN_GROWTH
    assert all(b >= 2 * a for a, b in itertools.pairwise(renders))


def test_tail_and_pending_always_make_up_the_open_text():
    text = realistic_reply(5_000, seed=3)
    renderer = IncrementalRenderer(render=lambda source: source)  # HTML = source
    fences_closed = 0
    for delta in stream(text):
        renderer.feed(delta)
        frame = renderer.frame()
        pieces = [*renderer.blocks, frame.tail] if frame.tail else renderer.blocks
        sources = pieces[:1] + [piece.removeprefix("\n") for piece in pieces[1:]]
        rendered = "".join(sources)
        covered = renderer.text[: len(renderer.text) - len(frame.pending)]
        assert rendered.startswith(covered)
        # Beyond it, only the closing line added to render an open fence as code.
        extra = rendered[len(covered) :]
        assert re.fullmatch(r"(\n?[> ]*(`{3,}|~{3,}))?", extra)
        fences_closed += bool(extra)
    assert fences_closed


@pytest.mark.parametrize(
    "source",
    [
        "```python\nimport os\nprint(os.getcwd())\n",  # closer added on a new line
        "```python\nimport os\nprint(os.getcwd())",  # ... after the partial line
        "```python\nimport os\nprint(os.getcwd())\n```",  # already closed: none added
        "> ```python\n> import os\n> print(os.getcwd())\n",  # in a quote: "> ```"
    ],
)
def test_open_fence_tail_renders_as_code(source):
    renderer = IncrementalRenderer()
    renderer.feed(source)
    tail = renderer.frame().tail
    assert '<div class="highlight">' in tail
    assert '<span class="kn">import</span>' in tail
    assert "```" not in tail


def test_finish_leaves_nothing_pending():
    renderer = IncrementalRenderer()
    renderer.feed("Hello *wor")
    renderer.frame()
    frame = renderer.finish()
    assert (frame.tail, frame.pending) == ("", "")
    assert frame.blocks == ["<p>Hello *wor</p>"]
    assert renderer.html == "<p>Hello *wor</p>"


def test_finished_block_reuses_an_identical_tail_render():
    renderer = IncrementalRenderer()
    renderer.feed("A paragraph long enough to be rendered.\n\n")
    renderer.frame()
    rendered = renderer.chars_rendered
    renderer.feed("Next")
    assert renderer.chars_rendered == rendered
    assert renderer.blocks == ["<p>A paragraph long enough to be rendered.</p>"]


def test_whitespace_only_reply_has_no_blocks():
    renderer = IncrementalRenderer()
    renderer.feed("\n\n  \n")
    assert renderer.finish() == Frame(start=0, blocks=[], tail="", pending="")


FRAGMENTS = [
    *("para text", "*em* and `code`", "# Head", "Setext", "===", "---", "***", "| a |", "|---|"),
    *("- item", "* item", "- [ ] task", "1. one", "10. ten", "2) two", "  - nested", "-", "12345"),
    *("> quote", ">", "> > deep", "> - item", "- > quote", ">     code", "    indented", "\tTab"),
    *("```", "```python", "```js title=x", "````", "~~~", "  ```", "    ```", "> ```", "- ```"),
    *("", "", "", "", "   ", "\r", "x\ry", "text ```", "<b>x</b>"),
]


@pytest.mark.parametrize("seed", range(400))
def test_streaming_never_changes_the_rendering(seed):
    """Random jumbles of tricky lines: fences, quotes, lists, indents, CRs, tabs."""
    rng = random.Random(seed)
    lines = [rng.choice(FRAGMENTS) for _ in range(rng.randint(3, 30))]
    text = "\n".join(lines) + rng.choice(["", "\n"])
    renderer = IncrementalRenderer()
    for delta in stream(text, seed=seed, smallest=1, largest=8):
        renderer.feed(delta)
        if rng.random() < 0.5:
            renderer.frame()
    renderer.finish()
    assert "".join(renderer.blocks) == render_markdown(text)


def test_known_difference_reference_definitions_in_another_block():
    # Blocks are rendered alone, so a reference-style link whose definition sits in
    # another block stays text while streaming; the whole-text render resolves it.
    text = "See [the docs][d].\n\n[d]: https://example.com\n"
    renderer = IncrementalRenderer()
    renderer.feed(text)
    renderer.finish()
    assert renderer.blocks == ["<p>See [the docs][d].</p>"]
    assert "href" in render_markdown(text)
    same_block = "See [the docs][d].\n[d]: https://example.com\n"
    assert split_blocks(same_block) == [same_block]
