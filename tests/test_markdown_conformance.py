"""The page renders what models write as GitHub does: its renderer, in Chromium, against
cmark-gfm, after the normalisation of tests/markdown_normalize.py (docs/rendering.md,
"Compared with GitHub"). `bench/conformance.py` prints the same figures."""

from __future__ import annotations

import pytest

from tests.markdown_reference import (
    Outcome,
    commonmark_examples,
    compare,
    corpus_documents,
    describe,
    gfm_extension_examples,
)

SETS = {
    "commonmark": commonmark_examples,
    "gfm": gfm_extension_examples,
    "corpus": corpus_documents,
}


@pytest.fixture(scope="module")
def outcomes(render_page) -> dict[str, list[Outcome]]:
    rendered = {name: compare(render_page, examples()) for name, examples in SETS.items()}
    assert render_page.errors == []
    return rendered


def require(outcomes: list[Outcome], required: float) -> None:
    """At least `required` of the outcomes match; otherwise each difference, in full."""
    failing = [outcome for outcome in outcomes if not outcome.ok]
    share = 1 - len(failing) / len(outcomes)
    if share < required:
        pytest.fail(
            f"{share:.1%} match, {required:.0%} required; {len(failing)} of {len(outcomes)} "
            "differ:\n" + "\n".join(map(describe, failing)),
            pytrace=False,
        )


def test_commonmark_examples_without_raw_html_render_as_on_github(outcomes):
    require(outcomes["commonmark"], 0.97)


def test_gfm_extension_examples_render_as_on_github(outcomes):
    require(outcomes["gfm"], 0.95)


def test_every_model_style_answer_renders_as_on_github(outcomes):
    require(outcomes["corpus"], 1.0)


def test_the_measured_sets_are_the_documented_ones():
    # docs/rendering.md: 652 CommonMark examples less those with raw HTML; the GFM
    # spec's table, strikethrough, autolink and task list examples; 60 answers or more.
    assert len(commonmark_examples()) == 573
    assert len(gfm_extension_examples()) == 23
    assert len(corpus_documents()) >= 60
