"""ReplyRenderer: a reply rendered as it streams. It ends as exactly the DOM of rendering the
whole text at once, finished blocks are never touched again, only the tail is parsed per
frame, and what a frame shows is not markdown syntax the final render will not show."""

from __future__ import annotations

import pytest

from tests.harness.renderer import corpus

DOCS = corpus()


def test_the_corpus_streamed_in_small_deltas_ends_as_the_whole_render(render_page):
    differing = render_page.evaluate(
        """(docs) => Object.entries(docs).filter(([name, text]) => {
            const { box } = window.harness.checks.stream(text, { seed: 3, min: 3, max: 7 });
            const whole = window.harness.checks.whole(text);
            const same = box.innerHTML === whole.innerHTML;
            box.remove(); whole.remove();
            return !same;
        }).map(([name]) => name)""",
        DOCS,
    )
    assert len(DOCS) >= 60
    assert differing == []


def test_the_whole_corpus_as_one_long_reply_streams_to_the_whole_render(render_page):
    # Over a hundred blocks: several groups (groups.js), footnotes and references across them.
    same = render_page.evaluate(
        """(text) => {
            const { box } = window.harness.checks.stream(text, { seed: 8, min: 20, max: 60 });
            const whole = window.harness.checks.whole(text);
            return [box.innerHTML === whole.innerHTML, whole.querySelectorAll(".md-group").length];
        }""",
        "\n\n".join(DOCS.values()),
    )
    assert same[0] is True
    assert same[1] > 10


def test_long_random_documents_stream_to_the_whole_render(render_page):
    failures = render_page.evaluate("() => window.harness.checks.compareRandom(1, 40, 14, 12)")
    assert failures == []


def test_frames_that_run_out_of_budget_still_end_as_the_whole_render(render_page):
    # A budget of 0 ms: every frame finishes one block (or item, row, chunk) and leaves the
    # rest to the next, the most a frame can be cut short.
    failures = render_page.evaluate("() => window.harness.checks.compareRandom(500, 60, 14, 4, 0)")
    assert failures == []


def test_a_tail_that_is_slow_to_render_is_shown_less_often_and_ends_complete(render_page):
    shown = render_page.evaluate(
        """async () => {
            const { ReplyRenderer } = window.harness;
            const box = document.createElement("div");
            const reply = new ReplyRenderer(box);
            let displays = 0;
            const show = reply._showTail.bind(reply);
            reply._showTail = (htmls) => { displays++; show(htmls); };
            reply._tailCost = 50;  // as if the last display of the tail took 50 ms
            reply._tailAt = performance.now();
            for (const piece of ["A paragraph", " that grows", " and grows."]) {
                reply.append(piece);
                reply._render(false);  // frames soon after: the display waits
            }
            const text = () => box.textContent.trim();
            const waited = [displays, text()];
            await new Promise((resolve) => setTimeout(resolve, 210));
            reply._render(false);  // 4 x 50 ms later: shown again
            const later = [displays, text()];
            reply.finish();
            return [...waited, ...later, text()];
        }"""
    )
    assert shown == [
        0,
        "",
        1,
        "A paragraph that grows and grows.",
        "A paragraph that grows and grows.",
    ]


def test_a_reply_that_arrives_at_once_renders_over_several_frames(render_page):
    frames = render_page.evaluate(
        """async (text) => {
            const box = document.createElement("div");
            document.getElementById("out").append(box);
            const reply = new window.harness.ReplyRenderer(box, { docId: "t" });
            let renders = 0;
            const render = reply._render.bind(reply);
            reply._render = (final) => { renders++; render(final); };
            reply.append(text);  // the snapshot after a reconnect: everything so far at once
            const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
            for (let i = 0; i < 500 && (renders === 0 || reply._more); i++) await frame();
            await frame();
            const rendered = box.textContent.length;
            reply.finish();
            const whole = window.harness.checks.whole(text);
            const { ungrouped } = window.harness.checks;
            return [renders, rendered > 0.9 * whole.textContent.length,
                    ungrouped(box) === ungrouped(whole)];
        }""",
        "\n\n".join(DOCS.values()),
    )
    assert frames[0] > 3
    assert frames[1:] == [True, True]


TRICKY = [
    "| a |\n|---|\n| b |\n\\[\nx\n\\]\n",  # a row that turns out to start display math
    "Para\n\\[\nfoo\n\nNext\n\\]\n\nEnd",  # \\[ ... \\] around a blank line and a paragraph
    "Para\n\\[\nnever closed\n\nEnd",
    "Title\n---\nText\n===\n",  # setext headings underlined a line later
    '[a]: /url\n"title on the next line"\n\n[a]',
    "Note[^n] first.\n\n[^n]: Defined\n    over two lines.\n\nMore[^n].",
    "- a\n- b\n\n- c, now the list is loose\n",
    "1. step\n   ```sh\n   run it\n   ```\n2. next\n",
    "> quote\nlazy line\n> back\n\nafter",
    "```\nunclosed fence to the end\n\n# not a heading",
]


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("budget", [None, 0])
def test_tricky_documents_streamed_char_by_char_end_as_the_whole_render(render_page, text, budget):
    same = render_page.evaluate(
        """([text, budget]) => {
            const { stream, whole } = window.harness.checks;
            const options = { min: 1, max: 1, ...(budget === null ? {} : { budget }) };
            return stream(text, options).box.innerHTML === whole(text).innerHTML;
        }""",
        [text, budget],
    )
    assert same is True


@pytest.mark.parametrize("first_seed", [1, 1001, 2001])
def test_random_documents_streamed_end_as_the_whole_render(render_page, first_seed):
    failures = render_page.evaluate(
        "(seed) => window.harness.checks.compareRandom(seed, 300, 14)", first_seed
    )
    assert failures == []


def test_finished_blocks_stay_the_same_nodes_as_the_reply_grows(render_page):
    kept = render_page.evaluate(
        """() => {
            const box = document.createElement("div");
            document.getElementById("out").append(box);
            const reply = new window.harness.ReplyRenderer(box);
            reply.append("# Title\\n\\nFirst paragraph.\\n\\n- one\\n- two\\n\\nThird");
            reply.flush();
            const heading = box.querySelector("h1"), first = box.querySelector("p");
            // Something the reader did in a finished block: opened a <details> the page put there.
            const details = document.createElement("details");
            details.open = true;
            first.append(details);
            const pieces = [" paragraph, longer.", "\\n\\n```js\\nlet a = 1;\\n",
                            "```\\n\\nLast words."];
            for (const piece of pieces) {
                reply.append(piece);
                reply.flush();
            }
            reply.finish();
            return [box.querySelector("h1") === heading, box.querySelector("p") === first,
                    details.isConnected && details.open,
                    box.querySelector("ul").children.length,
                    box.querySelector("p:last-child").textContent];
        }"""
    )
    assert kept == [True, True, True, 2, "Last words."]


def test_finished_blocks_come_in_groups_with_the_live_tail_in_the_last(render_page):
    groups = render_page.evaluate(
        """() => {
            const box = document.createElement("div");
            const reply = new window.harness.ReplyRenderer(box);
            reply.append(Array.from({ length: 70 }, (_, i) => `Paragraph ${i}.`).join("\\n\\n"));
            reply.append("\\n\\nThe tail **so far");
            reply.flush();
            const groups = [...box.children].map((group) => group.children.length);
            const tail = box.lastElementChild.lastElementChild.innerHTML;
            reply.finish();
            return [groups, tail, [...box.children].map((group) => group.children.length)];
        }"""
    )
    # 70 finished paragraphs in groups of 32, the tail after them in the last group; at the
    # end it is the 71st paragraph, in the same place.
    assert groups == [[32, 32, 7], "The tail <strong>so far</strong>", [32, 32, 7]]


def test_frames_are_coalesced_into_one_render_per_animation_frame(render_page):
    counted = render_page.evaluate(
        """async () => {
            const box = document.createElement("div");
            document.getElementById("out").append(box);
            const reply = new window.harness.ReplyRenderer(box);
            let renders = 0;
            const render = reply._render.bind(reply);
            reply._render = (final) => { renders++; render(final); };
            for (const piece of ["Hello", ", ", "**world", "**", "!"]) reply.append(piece);
            const before = [renders, box.textContent];
            const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
            await frame();
            await frame();
            return [...before, renders, window.harness.checks.ungrouped(box), reply.text];
        }"""
    )
    assert counted == [0, "", 1, "<p>Hello, <strong>world</strong>!</p>\n", "Hello, **world**!"]


def test_carriage_returns_split_across_deltas_are_one_line_break(render_page):
    html = render_page.evaluate(
        """() => {
            const box = document.createElement("div");
            const reply = new window.harness.ReplyRenderer(box);
            for (const piece of ["line one\\r", "\\nline two\\r\\n\\r", "\\nnext"]) {
                reply.append(piece);
                reply.flush();
            }
            reply.finish();
            return [window.harness.checks.ungrouped(box), reply.text];
        }"""
    )
    assert html == ["<p>line one\nline two</p>\n<p>next</p>\n", "line one\r\nline two\r\n\r\nnext"]


def test_a_reference_defined_at_the_end_links_the_blocks_that_used_it(render_page):
    shown = render_page.evaluate(
        """() => {
            const box = document.createElement("div");
            const reply = new window.harness.ReplyRenderer(box);
            reply.append("See [the docs] for more.\\n\\nAnother paragraph.\\n\\n");
            reply.flush();
            const before = box.querySelector("p").innerHTML;
            reply.append("[the docs]: https://docs.example\\n");
            reply.finish();
            return [before, box.querySelector("p").innerHTML];
        }"""
    )
    assert shown == [
        "See [the docs] for more.",
        'See <a href="https://docs.example" target="_blank" rel="noopener noreferrer nofollow">'
        "the docs</a> for more.",
    ]


def test_footnotes_are_a_section_of_their_own_at_the_end(render_page):
    shown = render_page.evaluate(
        """() => {
            const box = document.createElement("div");
            const reply = new window.harness.ReplyRenderer(box, { docId: "r" });
            reply.append("A claim[^1] and another[^2].\\n\\nMore text.\\n\\n");
            reply.append("[^2]: Second source.\\n\\n");
            reply.flush();
            const last = () => box.lastElementChild;
            const notes = () => [...last().querySelectorAll("li")];
            const sup = box.querySelector("sup")?.textContent;
            const during = [sup, last().className, notes().length];
            reply.append("[^1]: First source.\\n");
            reply.finish();
            return [during, [...box.querySelectorAll("sup")].map((s) => s.textContent),
                    last().className, notes().map((li) => li.textContent.trim())];
        }"""
    )
    assert shown == [
        ["[1]", "footnotes", 1],  # [^1] shows as a reference before its definition arrives
        ["[1]", "[2]"],
        "footnotes",
        ["First source. \u21a9\ufe0e", "Second source. \u21a9\ufe0e"],
    ]


def test_a_footnote_never_defined_ends_as_text(render_page):
    html = render_page.evaluate(
        """() => {
            const box = document.createElement("div");
            const reply = new window.harness.ReplyRenderer(box);
            reply.append("A claim[^missing].\\n\\nMore.");
            reply.flush();
            const during = box.querySelector("sup") !== null;
            reply.finish();
            return [during, window.harness.checks.ungrouped(box)];
        }"""
    )
    assert html == [True, "<p>A claim[^missing].</p>\n<p>More.</p>\n"]


def test_a_long_list_grows_item_by_item_in_one_list(render_page):
    grown = render_page.evaluate(
        """() => {
            const box = document.createElement("div");
            const reply = new window.harness.ReplyRenderer(box);
            const items = Array.from({ length: 50 }, (_, i) => `- item ${i} with **bold**`);
            const text = items.join("\\n");
            reply.append(text.slice(0, 400));
            reply.flush();
            const list = box.querySelector("ul"), first = list.firstElementChild;
            reply.append(text.slice(400));
            reply.flush();
            const live = [box.querySelector("ul") === list, list.firstElementChild === first,
                          list.children.length];
            // A blank line inside the last item: the whole list turns loose.
            reply.append("\\n\\n  continued loose\\n");
            reply.finish();
            return [...live, box.querySelectorAll("ul > li > p").length];
        }"""
    )
    assert grown == [True, True, 50, 51]


@pytest.mark.parametrize(
    "name, text, most_parsed, most_highlighted",
    [
        (
            "500-item list",
            "".join(f"- item {i}: some **words** and `code` here\n" for i in range(500)),
            600,
            0,
        ),
        (
            "3,000-line code block",
            "```python\n"
            + "".join(f"value_{i} = compute({i})  # step\n" for i in range(3000))
            + "```\n",
            600,
            1500,
        ),
        (
            "400-row table",
            "| a | b | c |\n|---|---|--:|\n"
            + "".join(
                f"| row {i} | some longer text in a table cell | {i} |\n" for i in range(400)
            ),
            600,
            0,
        ),
        (
            "long prose",
            "".join(
                f"Paragraph {i} has a few sentences of *text*. " * 4 + "\n\n" for i in range(150)
            ),
            2500,
            0,
        ),
    ],
)
def test_work_per_frame_does_not_grow_with_the_reply(
    render_page, name, text, most_parsed, most_highlighted
):
    # Only the tail is parsed each frame: a few times a block at most (an item, a row, a
    # paragraph of ~750 characters, a chunk of code), however long the reply has grown.
    render_page.evaluate("() => window.harness.checks.countWork()")
    most = render_page.evaluate("(text) => window.harness.checks.mostWorkPerFrame(text)", text)
    assert len(text) > 20_000
    assert most["parsed"] <= most_parsed
    assert most["highlighted"] <= most_highlighted


def test_raw_markdown_syntax_shows_in_at_most_one_frame_in_a_hundred(render_page):
    # "Raw syntax": checks.js RAW_PATTERNS (**, __, ```, ~~, ](, |---, $$, \\[, [^, `, *, _, $,
    # \\(, entities) counted in the visible text outside code and math, and paragraphs starting
    # with a list, quote or heading marker. A frame shows raw syntax when it has more of one
    # than the final render: the reply so far is a prefix of the final one, so any excess is
    # syntax the final render turned into formatting.
    totals = render_page.evaluate(
        """(docs) => {
            let frames = 0, raw = 0;
            for (const [seed, text] of Object.values(docs).entries()) {
                const result = window.harness.checks.rawSyntaxFrames(text, seed + 1);
                frames += result.frames;
                raw += result.raw;
            }
            return { frames, raw };
        }""",
        DOCS,
    )
    assert totals["frames"] > 5000
    assert totals["raw"] / totals["frames"] <= 0.01


@pytest.mark.parametrize(
    "partial, shown",
    [
        ("Some **bold", "<p>Some <strong>bold</strong></p>\n"),
        ("Some *em and `code", "<p>Some <em>em and <code>code</code></em></p>\n"),
        ("A [link text](https://exa", "<p>A link text</p>\n"),
        ("A lone [", "<p>A lone</p>\n"),
        ("Para\n-", "<p>Para</p>\n"),
        ("Para\n\n- ", "<p>Para</p>\n"),
        ("## ", ""),
        ("| a | b |\n|--", ""),
        ("Math:\n\n$$\n\\frac{1}{2}", "<p>Math:</p>\n"),
        ("Cost $5 and $x^", "<p>Cost $5 and</p>\n"),
        ("~~struck", "<p><del>struck</del></p>\n"),
        ("```py\nprint(1)\n``", None),
    ],
)
def test_unfinished_syntax_is_closed_or_held_back_in_the_tail(render_page, partial, shown):
    html = render_page.evaluate(
        """(text) => {
            const box = document.createElement("div");
            const reply = new window.harness.ReplyRenderer(box);
            reply.append(text);
            reply.flush();
            return window.harness.checks.ungrouped(box);
        }""",
        partial,
    )
    if shown is None:  # an open fence: the code so far, without the half-typed closing fence
        assert html.endswith("</code></pre></div>\n")
        assert (
            render_page.evaluate(
                "(html) => { const t = document.createElement('template'); t.innerHTML = html; "
                "return t.content.querySelector('code').textContent; }",
                html,
            )
            == "print(1)\n"
        )
    else:
        assert html == shown
