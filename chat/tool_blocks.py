"""Tool calls as HTML blocks inside a reply: name, arguments, state, time taken, result.

Built from escaped strings only, so the model's arguments and the tools' output stay text.
The same HTML is sent live in frames and stored with the reply, so a call looks the same
live, after a reload and in the admin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join

STATE_LABELS = {
    "streaming": "preparing…",
    "running": "running…",
    "done": "done",
    "failed": "failed",
    "stopped": "stopped",
}


@dataclass
class ToolCallView:
    id: str
    name: str
    arguments: str  # as streamed: possibly not (yet) valid JSON
    state: str = "streaming"
    duration_ms: int | None = None
    result: str = ""

    def summary(self) -> str:
        label = STATE_LABELS[self.state]
        if self.duration_ms is not None and self.state in {"done", "failed"}:
            label = f"{label} in {self.duration_ms:,} ms"
        return label


def pretty_json(text: str) -> str:
    """Arguments pretty-printed once they parse; as they are while they stream in."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def render_tool_blocks(calls: list[ToolCallView]) -> str:
    if not calls:
        return ""
    blocks = format_html_join("\n", "{}", ((render_tool_block(call),) for call in calls))
    return format_html('<div class="tool-calls">\n{}\n</div>', blocks)


def render_tool_block(call: ToolCallView) -> str:
    result = ""
    if call.state in {"done", "failed", "stopped"} and call.result:
        result = format_html(
            '<div class="tool-section"><div class="tool-label">Result</div>'
            '<pre class="tool-result"><code>{}</code></pre></div>',
            pretty_json(call.result),
        )
    return format_html(
        '<details class="tool-call is-{}"><summary><span class="tool-name">{}</span> '
        '<span class="tool-state">{}</span></summary>'
        '<div class="tool-section"><div class="tool-label">Arguments</div>'
        '<pre class="tool-args"><code>{}</code></pre></div>{}</details>',
        call.state,
        call.name or "tool",
        call.summary(),
        pretty_json(call.arguments),
        result,
    )
