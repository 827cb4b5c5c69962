"""What rendering a streamed reply costs the browser, per animation frame.

Run: .venv/bin/python bench/render_bench.py [--runs 3] [--only prose,code]

Serves the site's static files with its CSP (tests/harness/static_site.py), opens
bench/render_page.html in Debian's Chromium, and streams each reply into a ReplyRenderer in
deltas of 3-7 characters: two deltas every 4 ms (four for the 200k reply), about 2,500
characters a second, faster than any model writes. The page renders on animation frames,
as the chat page will, and measures the renderer's script time in each frame (p50, p99,
max, and how many frames took over 4 ms), the layout shift (PerformanceObserver
'layout-shift'), the final finish(), and whether the streamed DOM equals renderInto()'s.
Each reply runs --runs times; the table shows the median run by p99, and the worst max.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.harness.static_site import StaticSite  # noqa: E402

REPLIES = {
    "prose": ("long prose, 24k characters", 2),
    "list": ("a 500-item list", 2),
    "code": ("a 3,000-line code block", 2),
    "table": ("a 400-row table", 2),
    "mixed": ("a 200k-character mixed reply", 4),
}


def run(page, name: str, per_tick: int) -> dict:
    return page.evaluate(
        "([name, perTick]) => window.bench.run(name, { tickMs: 4, perTick })", [name, per_tick]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(REPLIES), help="replies, comma-separated")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("Debian's chromium is not installed (apt-get install chromium)")
    site = StaticSite().start()
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            for name in names:
                label, per_tick = REPLIES[name]
                results = []
                for _ in range(args.runs):
                    # A fresh page each run: no garbage or caches from the run before.
                    page = browser.new_page(viewport={"width": 1000, "height": 800})
                    page.goto(site.url + "/bench/render_page.html")
                    page.wait_for_function("window.benchReady === true")
                    results.append(run(page, name, per_tick))
                    page.close()
                    print(f"  {name}: " + format_run(results[-1]), file=sys.stderr)
                rows.append((label, results))
            browser.close()
    finally:
        site.close()
    print_table(rows)


def format_run(r: dict) -> str:
    return (
        f"{r['chars']} chars, {r['frames']} frames, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms,"
        f" max {r['max']:.1f} ms, {r['over4ms']} over 4 ms, shift {r['layoutShift']:.3f},"
        f" finish {r['finishMs']:.1f} ms, same as whole: {r['sameAsWhole']}"
    )


def print_table(rows) -> None:
    print(
        "| reply | chars | frames | p50 ms | p99 ms | max ms | frames > 4 ms | layout shift "
        "| finish() ms | equals renderInto |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for label, results in rows:
        by_p99 = sorted(results, key=lambda r: r["p99"])
        median = by_p99[len(by_p99) // 2]
        worst = max(r["max"] for r in results)
        shift = max(r["layoutShift"] for r in results)
        over = statistics.median(r["over4ms"] for r in results)
        same = all(r["sameAsWhole"] for r in results)
        print(
            f"| {label} | {median['chars']:,} | {median['frames']:,} | {median['p50']:.1f} "
            f"| {median['p99']:.1f} | {worst:.1f} | {over:g} | {shift:.3f} "
            f"| {median['finishMs']:.1f} | {'yes' if same else 'NO'} |"
        )


if __name__ == "__main__":
    main()
