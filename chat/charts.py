"""Bar charts drawn on the server as SVG geometry for a template: no script, no library,
nothing the CSP must allow (sizes are SVG attributes, colours come from chat.css)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 600, 160
LABEL_SPACE = 18  # below the bars, for the day numbers


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # under the bar (every few bars)
    title: str  # the bar's figure, for a tooltip and screen readers


def bars(values: list[tuple[str, int, str]]) -> list[Bar]:
    """(label, value, title) per bar, left to right, scaled to the tallest."""
    if not values:
        return []
    tallest = max(value for _, value, _ in values) or 1
    step = WIDTH / len(values)
    every = max(1, round(len(values) / 10))  # at most about ten labels
    drawn = []
    for i, (label, value, title) in enumerate(values):
        height = (HEIGHT - LABEL_SPACE) * value / tallest
        drawn.append(
            Bar(
                x=round(i * step + step * 0.15, 2),
                y=round(HEIGHT - LABEL_SPACE - height, 2),
                width=round(step * 0.7, 2),
                height=round(height, 2),
                label=label if i % every == 0 else "",
                title=title,
            )
        )
    return drawn
