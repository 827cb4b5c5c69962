"""How closely the page renders markdown as GitHub does: the share of the CommonMark spec
examples without raw HTML, of the GFM extension examples, and of the model-style corpus
(tests/markdown_corpus/) whose rendering in Chromium matches cmark-gfm's after the
normalisation of tests/markdown_normalize.py. See docs/rendering.md.

    .venv/bin/python bench/conformance.py            # the three figures, failing examples
    .venv/bin/python bench/conformance.py --show     # and each failure's two renderings
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.harness.static_site import StaticSite  # noqa: E402
from tests.markdown_reference import (  # noqa: E402
    commonmark_examples,
    compare,
    corpus_documents,
    describe,
    gfm_extension_examples,
)

SETS = [
    ("CommonMark 0.31.2 spec examples without raw HTML", commonmark_examples),
    ("GFM extension examples", gfm_extension_examples),
    ("model-style answers (tests/markdown_corpus)", corpus_documents),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", action="store_true", help="print each failure in full")
    show = parser.parse_args().show
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    site = StaticSite().start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(site.url + "/tests/harness/render.html")
            page.wait_for_function("window.harnessReady === true")
            for title, examples in SETS:
                outcomes = compare(page, examples())
                failing = [o for o in outcomes if not o.ok]
                passed = len(outcomes) - len(failing)
                print(f"{title}: {passed}/{len(outcomes)} = {100 * passed / len(outcomes):.1f}%")
                if failing:
                    print("  failing:", ", ".join(str(o.example.number) for o in failing))
                if show:
                    for outcome in failing:
                        print(describe(outcome))
            browser.close()
    finally:
        site.close()


if __name__ == "__main__":
    main()
