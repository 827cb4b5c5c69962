"""renderMarkdown: a whole document as the page shows it (CommonMark + GFM, footnotes, task
lists, math, highlighted code), as one pure, deterministic function of its text."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def render(render_page):
    def render(markdown: str, **options) -> str:
        return render_page.evaluate(
            "([md, o]) => window.harness.renderMarkdown(md, o)", [markdown, options]
        )

    return render


def test_it_renders_commonmark_and_gfm(render):
    assert render("# Title\n\nSome **bold**, *em*, ~~gone~~ and `code`.") == (
        "<h1>Title</h1>\n<p>Some <strong>bold</strong>, <em>em</em>, <del>gone</del> and "
        "<code>code</code>.</p>\n"
    )


def test_bare_urls_become_links(render):
    assert render("see https://example.com/a_b and www.example.org.") == (
        '<p>see <a href="https://example.com/a_b" target="_blank" '
        'rel="noopener noreferrer nofollow">'
        'https://example.com/a_b</a> and <a href="http://www.example.org" target="_blank" '
        'rel="noopener noreferrer nofollow">www.example.org</a>.</p>\n'
    )


def test_tables_align_with_attributes_not_styles(render):
    html = render("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |")
    assert '<th align="left">a</th>' in html
    assert '<td align="center">2</td>' in html
    assert '<td align="right">3</td>' in html
    assert "style" not in html


def test_task_list_checkboxes_are_disabled_and_labelled_by_their_text(render):
    assert render("- [ ] todo\n- [x] done") == (
        '<ul class="task-list-container">\n'
        '<li class="task-list-item"><label class="task-list-item-label"><input type="checkbox" '
        'class="task-list-item-checkbox" disabled=""> todo</label></li>\n'
        '<li class="task-list-item"><label class="task-list-item-label"><input type="checkbox" '
        'class="task-list-item-checkbox" checked="checked" disabled=""> done</label></li>\n'
        "</ul>\n"
    )


def test_footnotes_come_last_with_ids_prefixed_by_the_document(render):
    html = render("Claim[^a].\n\n[^a]: Source.\n\nMore text.", docId="m7")
    assert html == (
        '<p>Claim<sup class="footnote-ref"><a href="#fn-m7-1" id="fnref-m7-1">[1]</a></sup>.</p>\n'
        "<p>More text.</p>\n"
        '<section class="footnotes" aria-label="Footnotes">\n<ol class="footnotes-list">\n'
        '<li id="fn-m7-1" class="footnote-item"><p>Source. '
        '<a href="#fnref-m7-1" class="footnote-backref" '
        'aria-label="Back to reference 1">\u21a9\ufe0e</a></p>\n</li>\n</ol>\n</section>\n'
    )


def test_code_is_highlighted_with_classes_when_the_language_is_known(render):
    html = render("```python\ndef f():\n    return 1\n```")
    assert html.startswith(
        '<pre><code class="language-python"><span class="hljs-keyword">def</span>'
    )
    assert "style" not in html


def test_code_in_an_unknown_or_missing_language_is_not_guessed(render):
    assert render("```\ndef f(): pass\n```") == "<pre><code>def f(): pass\n</code></pre>\n"
    assert render("```klingon\nqapla'\n```") == (
        '<pre><code class="language-klingon">qapla\'\n</code></pre>\n'
    )


def test_long_code_comes_in_chunks_of_lines_with_the_same_text(render_page, render):
    code = "".join(f"x_{i} = {i}\n" for i in range(40))
    html = render(f"```python\n{code}```")
    assert html.count('<span class="code-chunk">') == 4  # 40 lines: 8 + 4 chunks of 8
    text = render_page.evaluate(
        "(html) => { const t = document.createElement('template'); t.innerHTML = html; "
        "return t.content.querySelector('code').textContent; }",
        html,
    )
    assert text == code


@pytest.mark.parametrize(
    "markdown",
    ["$x^2$", "\\(x^2\\)", "$$\nx^2\n$$", "\\[\nx^2\n\\]", "$$x^2$$"],
)
def test_math_in_each_delimiter_becomes_mathml(render, markdown):
    html = render(markdown)
    assert "<math" in html and "<msup><mi>x</mi>" in html


def test_dollar_amounts_stay_text(render):
    assert render("It costs $5 and $10, or $ 3.") == "<p>It costs $5 and $10, or $ 3.</p>\n"


def test_bad_tex_shows_its_source_and_why(render):
    assert render("Oops $\\frac{1$ here") == (
        '<p>Oops <code class="math-error" title="Not rendered: Unexpected end of input in a macro '
        "argument, expected '}'\">$\\frac{1$</code> here</p>\n"
    )
    block = render("$$\n\\begin{nope}\n$$")
    assert block.startswith('<pre class="math-error" title="Not rendered: ')
    assert "<code>$$\n\\begin{nope}\n$$</code></pre>" in block


def test_colour_in_tex_becomes_mathml_colour(render):
    html = render("$\\color{red}{x}$")
    assert 'mathcolor="#ff0000"' in html
    assert "style" not in html


def test_rendering_is_deterministic(render_page):
    same = render_page.evaluate(
        """() => { const c = window.harness.checks; const h = window.harness;
           const texts = Array.from({ length: 20 }, (_, i) => c.randomDocument(100 + i, 14));
           const first = texts.map((t) => h.renderMarkdown(t, { docId: "d" }));
           return texts.every((t, i) => h.renderMarkdown(t, { docId: "d" }) === first[i]); }"""
    )
    assert same is True
