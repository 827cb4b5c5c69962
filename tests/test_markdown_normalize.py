"""The normalisation of the conformance tests reduces markup details and the page's
documented policy, and nothing a reader would see as a different rendering."""

from __future__ import annotations

import pytest

from tests.markdown_normalize import apply_policy, normalize


def same(a: str, b: str) -> bool:
    return normalize(a) == normalize(b)


# --- markup details are reduced


def test_attribute_order_quoting_and_entities_are_markup():
    assert same('<a title="t" href="/u?a=1&amp;b=2">x</a>', "<a href='/u?a=1&b=2' title=t>x</a>")
    assert same("<p>&quot;a&quot; &#39;b&#39;</p>", "<p>\"a\" 'b'</p>")
    assert same("<p>a<br />b</p>", "<p>a<br>b</p>")


def test_whitespace_between_blocks_and_soft_breaks_are_markup():
    assert same("<ul>\n<li>\n<p>a</p>\n</li>\n</ul>\n", "<ul><li><p>a</p></li></ul>")
    assert same("<p>one\ntwo</p>", "<p>one two</p>")


def test_classes_ids_and_link_targets_are_markup():
    assert same(
        '<h2 id="x" class="heading"><a href="/u" target="_blank" rel="noopener">a</a></h2>',
        '<h2><a href="/u">a</a></h2>',
    )


def test_highlighter_spans_are_markup():
    assert same(
        '<pre><code class="hljs language-python"><span class="hljs-keyword">def</span> f'
        "</code></pre>",
        '<pre><code class="language-python">def f</code></pre>',
    )


def test_every_span_in_a_code_block_is_the_highlighters():
    assert same(
        '<pre><code class="language-jsx">x = <span class="language-xml"><span class="hljs-tag">'
        "&lt;A /&gt;</span></span>;</code></pre>",
        '<pre><code class="language-jsx">x = &lt;A /&gt;;</code></pre>',
    )


def test_table_alignment_as_style_or_attribute_is_markup():
    assert same('<th style="text-align:right">a</th>', '<th align="right">a</th>')


def test_task_list_labels_and_boolean_spellings_are_markup():
    assert same(
        '<li><label><input type="checkbox" disabled="disabled" checked> a</label></li>',
        '<li><input type="checkbox" checked="" disabled="" /> a</li>',
    )


def test_footnote_markup_of_markdown_it_and_cmark_gfm_is_the_same_rendering():
    markdown_it = (
        '<p>a<sup class="footnote-ref"><a href="#fn1" id="fnref1">[1]</a></sup></p>\n'
        '<hr class="footnotes-sep">\n<section class="footnotes">\n<ol class="footnotes-list">\n'
        '<li id="fn1" class="footnote-item"><p>note <a href="#fnref1" class="footnote-backref">'
        "\u21a9\ufe0e</a></p>\n</li>\n</ol>\n</section>\n"
    )
    cmark_gfm = (
        '<p>a<sup class="footnote-ref"><a href="#fn-x" id="fnref-x" data-footnote-ref>1</a>'
        '</sup></p>\n<section class="footnotes" data-footnotes>\n<ol>\n<li id="fn-x">\n'
        '<p>note <a href="#fnref-x" class="footnote-backref" data-footnote-backref '
        'aria-label="Back to reference 1">\u21a9</a></p>\n</li>\n</ol>\n</section>\n'
    )
    assert same(markdown_it, cmark_gfm)


def test_mathml_annotations_and_attributes_are_markup():
    annotated = (
        '<math display="block" class="tml-display"><semantics><mrow><msup><mi>x</mi>'
        '<mn>2</mn></msup></mrow><annotation encoding="application/x-tex">x^2</annotation>'
        "</semantics></math>"
    )
    plain = (
        '<math display="block"><mrow><msup><mi mathvariant="normal">x</mi><mn>2</mn></msup>'
        "</mrow></math>"
    )
    assert same(annotated, plain)
    assert same("<math><mi>x</mi></math>", '<math display="inline"><mi>x</mi></math>')


def test_display_math_ends_a_paragraph_either_way():
    math = '<math display="block">x</math>'
    assert same(f"<p>a {math} b</p>", f"<p>a</p>{math}<p>b</p>")


def test_an_international_host_is_one_host_however_encoded():
    assert same(
        '<a href="https://xn--r8jz45g.jp/a">x</a>',
        '<a href="https://%E4%BE%8B%E3%81%88.jp/a">x</a>',
    )


# --- real differences are kept


@pytest.mark.parametrize(
    ("page", "github"),
    [
        ("<p>a</p>", "<p>b</p>"),
        ("<p><em>a</em></p>", "<p><strong>a</strong></p>"),
        ("<p><s>a</s></p>", "<p><del>a</del></p>"),
        ("<p><strong><strong>a</strong></strong></p>", "<p><strong>a</strong></p>"),
        ("<p>a</p><p>b</p>", "<p>a b</p>"),
        ("<p>a<br>b</p>", "<p>a\nb</p>"),
        ("<ul><li><p>a</p></li></ul>", "<ul><li>a</li></ul>"),  # loose and tight lists
        ('<ol start="3"><li>a</li></ol>', "<ol><li>a</li></ol>"),
        ("<ol><li>a</li></ol>", "<ul><li>a</li></ul>"),
        ("<h2>a</h2>", "<h3>a</h3>"),
        ('<a href="/u">a</a>', '<a href="/v">a</a>'),
        ('<a href="/u" title="t">a</a>', '<a href="/u">a</a>'),
        ("<a>a</a>", '<a href="/u">a</a>'),
        ('<th align="left">a</th>', '<th align="right">a</th>'),
        ('<pre><code class="language-js">a</code></pre>', '<pre><code class="language-py">a'),
        ("<pre><code>a  b\n</code></pre>", "<pre><code>a b\n</code></pre>"),
        ("<p><code>a  b</code></p>", "<p><code>a b</code></p>"),
        ('<input type="checkbox" disabled>', '<input type="checkbox" checked disabled>'),
        ("<p>a&lt;b&gt;</p>", "<p>a<b></b></p>"),
        ('<math display="inline">x</math>', '<math display="block">x</math>'),
        ('<math display="inline">x</math>', '<math display="inline">y</math>'),
        ("<math><msup><mi>x</mi><mn>2</mn></msup></math>", "<math><mi>x</mi><mn>2</mn></math>"),
        ('<p><math display="inline">x</math> b</p>', "<p>$x$ b</p>"),
        ("<blockquote><p>a</p></blockquote>", "<p>a</p>"),
        ('<span class="note">a</span>', "a"),
    ],
)
def test_a_real_difference_is_kept(page, github):
    assert not same(page, github)


def test_footnotes_in_another_order_differ():
    def notes(*texts: str) -> str:
        items = "".join(f'<li id="fn-{t}"><p>{t}</p></li>' for t in texts)
        return f'<section class="footnotes"><ol>{items}</ol></section>'

    assert not same(notes("a", "b"), notes("b", "a"))


# --- the policy is applied to GitHub's side only, so the page must really follow it


def test_images_become_links_on_githubs_side_only():
    github = '<p><img src="https://x/y.png" alt="a chart" title="t" /></p>'
    assert normalize(apply_policy(github)) == normalize(
        '<p><a href="https://x/y.png" title="t">a chart</a></p>'
    )
    shown_by_the_page = '<p><img src="https://x/y.png" alt="a chart" title="t"></p>'
    assert not same(shown_by_the_page, apply_policy(github))


def test_an_image_in_a_link_or_with_an_unsafe_address_is_its_alt_text():
    github = '<p><a href="/u"><img src="a.png" alt="A" /></a> <img src="data:x" alt="B" /></p>'
    assert normalize(apply_policy(github)) == '<p><a href="/u">A</a> B</p>'
    assert normalize(apply_policy('<img src="a.png" alt="" />')) == '<a href="a.png">a.png</a>'


def test_unsafe_links_are_dropped_on_githubs_side_and_safe_ones_kept():
    github = (
        '<p><a href="javascript:alert(1)">a</a> <a href="vbscript:x">b</a> <a href="ftp://h/">c</a>'
        ' <a href="/d">d</a> <a href="#e">e</a> <a href="mailto:f@g.h">f</a></p>'
    )
    assert normalize(apply_policy(github)) == (
        '<p>a b c <a href="/d">d</a> <a href="#e">e</a> <a href="mailto:f@g.h">f</a></p>'
    )
    kept_by_the_page = github.replace('<a href="vbscript:x">b</a>', "b")
    assert not same(kept_by_the_page, apply_policy(github))
