"""Each markdown feature a reply may use renders, and nothing else does."""

from __future__ import annotations

from pathlib import Path

from chat.render import pygments_css, render_markdown, render_plain_text, sanitize_html

REL = 'target="_blank" rel="noopener noreferrer nofollow"'


def test_headings():
    assert render_markdown("# One\n\n## Two\n\n###### Six") == (
        "<h1>One</h1>\n<h2>Two</h2>\n<h6>Six</h6>"
    )


def test_emphasis_and_strikethrough():
    assert render_markdown("*a* _b_ **c** __d__ ~~e~~") == (
        "<p><em>a</em> <em>b</em> <strong>c</strong> <strong>d</strong> <del>e</del></p>"
    )


def test_snake_case_and_single_tildes_stay_text():
    assert render_markdown("call snake_case_name in ~5 s") == (
        "<p>call snake_case_name in ~5 s</p>"
    )


def test_bullet_and_numbered_lists():
    assert render_markdown("- a\n- b\n\n1. x\n2. y") == (
        "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<ol>\n<li>x</li>\n<li>y</li>\n</ol>"
    )


def test_numbered_list_keeps_its_start():
    assert render_markdown("3. c\n4. d").startswith('<ol start="3">')


def test_nested_list():
    html = render_markdown("- a\n    - b\n- c")
    assert html == "<ul>\n<li>a<ul>\n<li>b</li>\n</ul>\n</li>\n<li>c</li>\n</ul>"


def test_links_open_in_a_new_tab_without_referrer():
    assert render_markdown("[site](https://example.com/a?b=1&c=2)") == (
        f'<p><a href="https://example.com/a?b=1&amp;c=2" {REL}>site</a></p>'
    )
    assert render_markdown("<https://example.com>") == (
        f'<p><a href="https://example.com" {REL}>https://example.com</a></p>'
    )
    assert render_markdown("[mail](mailto:a@example.com)") == (
        f'<p><a href="mailto:a@example.com" {REL}>mail</a></p>'
    )


def test_relative_links_lose_their_href():
    assert render_markdown("[out](/accounts/logout/)") == f"<p><a {REL}>out</a></p>"


def test_table_alignment_without_style():
    html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |")
    assert html.startswith("<table>\n<thead>\n<tr>\n")
    assert '<th align="left">a</th>' in html
    assert '<td align="center">2</td>' in html
    assert '<td align="right">3</td>' in html
    assert "style" not in html


def test_task_list_checkboxes_are_disabled():
    assert render_markdown("- [ ] todo\n- [x] done") == (
        '<ul class="task-list">\n'
        '<li class="task-list-item"><input type="checkbox" disabled=""> todo</li>\n'
        '<li class="task-list-item"><input type="checkbox" checked="" disabled=""> done</li>\n'
        "</ul>"
    )


def test_fenced_code_is_highlighted_by_pygments():
    html = render_markdown("```python\nimport os\nprint(os.sep)\n```")
    assert html.startswith('<div class="highlight"><pre><span></span><code>')
    assert '<span class="kn">import</span>' in html
    assert '<span class="nb">print</span>' in html


def test_fence_with_a_title_is_still_code():
    html = render_markdown("```python title=x.py\ndef f(): pass\n```")
    assert '<span class="k">def</span>' in html


def test_unknown_or_missing_language_is_plain_code():
    for source in ("```\n# not a heading\n```", "```nosuchlang\n# not a heading\n```"):
        assert render_markdown(source) == (
            '<div class="highlight"><pre><span></span><code># not a heading\n</code></pre></div>'
        )


def test_inline_code_is_escaped():
    assert render_markdown("use `<b>&amp;</b>` here") == (
        "<p>use <code>&lt;b&gt;&amp;amp;&lt;/b&gt;</code> here</p>"
    )


def test_blockquote():
    assert render_markdown("> quoted\n> more") == (
        "<blockquote>\n<p>quoted\nmore</p>\n</blockquote>"
    )


def test_horizontal_rule():
    assert render_markdown("a\n\n---\n\nb") == "<p>a</p>\n<hr>\n<p>b</p>"


def test_hard_line_break():
    assert render_markdown("a  \nb") == "<p>a<br>\nb</p>"


def test_raw_html_shows_as_text():
    assert render_markdown("<b>bold</b> & <i>x</i>") == (
        "<p>&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;x&lt;/i&gt;</p>"
    )
    assert render_markdown("<div>\nblock\n</div>") == "<p>&lt;div&gt;\nblock\n&lt;/div&gt;</p>"


def test_entities_show_as_written():
    assert render_markdown("&copy; &amp; &lt;") == "<p>© &amp; &lt;</p>"


def test_images_become_links():
    assert render_markdown("![a cat](https://img.example/cat.png)") == (
        '<p><a class="image-link" href="https://img.example/cat.png" '
        f"{REL}>\N{FRAME WITH PICTURE} a cat</a></p>"
    )


def test_empty_input():
    assert render_markdown("") == ""
    assert render_markdown(" \n\n ") == ""


def test_sanitize_keeps_what_markdown_emits():
    html = render_markdown(
        "# H\n\n- [x] t\n\n| a |\n|--:|\n| 1 |\n\n```python\nx = 1\n```\n\n> q\n\n3. n"
    )
    assert sanitize_html(html) == html


def test_sanitize_drops_foreign_classes_and_ids():
    assert sanitize_html('<p id="x" class="admin">a</p><span class="k evil">b</span>') == (
        '<p>a</p><span class="k">b</span>'
    )


def test_plain_text_is_escaped_never_markdown():
    assert render_plain_text("**not bold** <script>x</script>\nline & two\n\n\nnext") == (
        "<p>**not bold** &lt;script&gt;x&lt;/script&gt;<br>\nline &amp; two</p>\n<p>next</p>"
    )


def test_plain_text_keeps_crlf_lines():
    assert render_plain_text("a\r\nb\r\n\r\nc\n") == "<p>a<br>\nb</p>\n<p>c</p>"


def test_plain_text_blank():
    assert render_plain_text("\n \n") == ""


def test_pygments_css_has_light_and_dark_themes():
    css = pygments_css()
    light, dark = css.split("@media (prefers-color-scheme: dark) {")
    assert ".highlight .k {" in light
    assert ".highlight .k {" in dark
    assert "\npre " not in css  # only rules scoped to .highlight


def test_static_pygments_css_is_up_to_date():
    path = Path(__file__).resolve().parent.parent / "static" / "chat" / "pygments.css"
    assert path.read_text() == pygments_css()
