"""GitHub's side of the conformance tests: the spec files read as they are written, raw
HTML turned into text and math into math before cmark-gfm sees the source, and nothing
else changed."""

from __future__ import annotations

from tests.markdown_reference import (
    COMMONMARK_SPEC,
    GFM_SPEC,
    commonmark_examples,
    gfm_extension_examples,
    math_spans,
    raw_html_as_text,
    reference_html,
    spec_examples,
)


def test_spec_files_are_read_example_by_example_with_tabs():
    commonmark = spec_examples(COMMONMARK_SPEC, "commonmark")
    assert len(commonmark) == 652
    assert commonmark[0].markdown == "\tfoo\tbaz\t\tbim\n"
    assert commonmark[0].spec_html == "<pre><code>foo\tbaz\t\tbim\n</code></pre>\n"
    assert commonmark[0].section == "Tabs"
    gfm = spec_examples(GFM_SPEC, "gfm")
    assert [e.number for e in gfm if e.extension == "table"] == list(range(198, 206))


def test_examples_with_raw_html_are_left_out():
    numbers = {example.number for example in commonmark_examples()}
    assert 148 not in numbers  # "HTML blocks"
    assert 613 not in numbers  # "Raw HTML"
    assert 21 not in numbers  # a backslash escape example holding <a href=…>
    assert 1 in numbers
    assert {e.extension for e in gfm_extension_examples()} == {
        "table",
        "strikethrough",
        "autolink",
        "disabled",  # the GFM spec file's tag for its task list examples
    }


def test_raw_html_gets_a_backslash_and_nothing_else_does():
    assert raw_html_as_text("a <b>x</b>") == "a \\<b>x\\</b>"
    assert raw_html_as_text("- a\n\n  <div>\n  x\n  </div>") == "- a\n\n  \\<div>\n  x\n  \\</div>"
    untouched = "a < b, `<b>`, <https://x.org>, \\<i>, é <\n\n    <div>\n"
    assert raw_html_as_text(untouched) == untouched


def test_raw_html_is_shown_as_text():
    assert reference_html("Wrap it in a <div> first.") == (
        "<p>Wrap it in a &lt;div&gt; first.</p>\n"
    )
    assert reference_html("<details>\n*x*\n</details>") == (
        "<p>&lt;details&gt;\n<em>x</em>\n&lt;/details&gt;</p>\n"
    )


def tex(text: str) -> list[tuple[str, bool]]:
    return [(span.tex, span.display) for span in math_spans(text)]


def test_dollars_make_math_by_github_and_pandoc_rules():
    assert tex("$x$ and $$y$$") == [("x", False), ("y", True)]
    assert tex("costs $5 and $10, or $ 3$") == []
    assert tex("from $20/month to $200") == []
    assert tex("\\$x$ and `$y$` and [a]($b$) and $c\\$d$") == [("c\\$d", False)]


def test_latex_delimiters_make_math():
    assert tex("\\(a\\) and \\[b\\]") == [("a", False)]  # \[…\] only as its own lines
    assert tex("text\n\\[\nb\n\\]") == [("\nb\n", True)]


def test_math_reaches_cmark_gfm_as_written():
    assert reference_html("| $a_1 * b_1$ | `$c$` |\n|---|---|\n") == (
        "<table>\n<thead>\n<tr>\n"
        '<th><math display="inline">a_1 * b_1</math></th>\n'
        "<th><code>$c$</code></th>\n</tr>\n</thead>\n</table>\n"
    )
    assert reference_html("> - $$\\{x\\} \\\\ y$$") == (
        '<blockquote>\n<ul>\n<li><math display="block">\\{x\\} \\\\ y</math></li>\n'
        "</ul>\n</blockquote>\n"
    )
