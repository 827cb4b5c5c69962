"""How much markdown work a streamed reply costs, incremental versus naive.

Run: .venv/bin/python bench/render_bench.py

For each reply length, the reply (the realistic mix of the incremental tests) arrives in
deltas of 3-6 characters:

- incremental: IncrementalRenderer, feed() then frame() after EVERY delta (the worst
  case: no time-based coalescing), then finish();
- naive: render the whole text so far every 50 deltas, and once at the end.

Figures: characters handed to markdown per character of reply, total time, and the
slowest single step (one delta's feed()+frame(), or one naive render).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chat import render
from chat.render import IncrementalRenderer, render_markdown
from tests.test_render_incremental import realistic_reply, stream

LENGTHS = (10_000, 40_000, 160_000)
NAIVE_EVERY = 50  # deltas between naive re-renders
NAIVE_BUDGET = 60.0  # seconds of naive rendering per length before extrapolating


def incremental(text: str) -> tuple[float, float, int]:
    renderer = IncrementalRenderer()
    peak = 0.0
    began = time.perf_counter()
    for delta in stream(text):
        step = time.perf_counter()
        renderer.feed(delta)
        renderer.frame()
        peak = max(peak, time.perf_counter() - step)
    step = time.perf_counter()
    renderer.finish()
    peak = max(peak, time.perf_counter() - step)
    return time.perf_counter() - began, peak, renderer.chars_rendered


def naive(text: str) -> tuple[float, float, int, bool]:
    """Total seconds, peak, chars rendered, and whether the total was extrapolated."""
    ends = []
    end = 0
    for i, delta in enumerate(stream(text), 1):
        end += len(delta)
        if i % NAIVE_EVERY == 0:
            ends.append(end)
    ends.append(len(text))
    began = time.perf_counter()
    render_markdown(text)
    largest = time.perf_counter() - began
    # Render time grows about linearly with length, so the run takes about
    # largest * len(ends) / 2; over budget, time every 10th render and scale up.
    stride = 10 if largest * len(ends) / 2 > NAIVE_BUDGET else 1
    sample = ends[::stride]
    total = 0.0
    peak = largest
    for end in sample:
        began = time.perf_counter()
        render_markdown(text[:end])
        took = time.perf_counter() - began
        total += took
        peak = max(peak, took)
    return total * len(ends) / len(sample), peak, sum(ends), stride > 1


def main() -> None:
    render_markdown("Warm up: build Markdown, load lexers.\n\n```python\nx\n```\n\n```js\nx\n```")
    print(
        f"{'reply':>8} | {'incr chars/len':>14} | {'incr total ms':>13} | {'incr peak ms':>12}"
        f" | {'naive chars/len':>15} | {'naive total ms':>14} | {'naive peak ms':>13}"
    )
    for length in LENGTHS:
        text = realistic_reply(length)
        inc_total, inc_peak, inc_chars = incremental(text)
        nv_total, nv_peak, nv_chars, estimated = naive(text)
        mark = "~" if estimated else ""
        print(
            f"{len(text):>8} | {inc_chars / len(text):>14.2f} | {inc_total * 1000:>13.0f}"
            f" | {inc_peak * 1000:>12.1f} | {nv_chars / len(text):>15.1f}"
            f" | {mark + format(nv_total * 1000, '.0f'):>14} | {nv_peak * 1000:>13.1f}"
        )
    print("~ = extrapolated from every 10th naive render (too slow to run them all)")
    print()
    hostile()


HOSTILE = {
    "4,000 unmatched [": "[" * 4000,
    "2,000 unclosed ![": "![" * 2000,
    "2,000 unclosed [a](": "[a](" * 2000,
    "3,000 unclosed [](": "[](" * 3000,
    "300 real links": " ".join(f"[l{i}](https://e.com/{i})" for i in range(300)),
}


def hostile() -> None:
    """Inputs that make Python-Markdown slow, guarded (render_markdown) and not (raw)."""
    raw = render.markdown.Markdown(
        extensions=render._EXTENSIONS, extension_configs=render._EXTENSION_CONFIGS
    )
    print(f"{'hostile input':>22} | {'guarded ms':>10} | {'unguarded ms':>12}")
    for name, text in HOSTILE.items():
        began = time.perf_counter()
        render_markdown(text)
        guarded = time.perf_counter() - began
        began = time.perf_counter()
        raw.reset().convert(text)
        unguarded = time.perf_counter() - began
        print(f"{name:>22} | {guarded * 1000:>10.1f} | {unguarded * 1000:>12.1f}")


if __name__ == "__main__":
    main()
