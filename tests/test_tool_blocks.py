"""Tool calls shown as blocks: escaped, pretty, and unchanged by the sanitiser."""

from chat.render import sanitize_html
from chat.tool_blocks import ToolCallView, render_tool_blocks


def test_a_finished_call_shows_name_pretty_arguments_time_and_result():
    html = render_tool_blocks(
        [ToolCallView("c1", "calculator", '{"expression":"2+2"}', "done", 12, '{"result": 4}')]
    )
    assert '<details class="tool-call is-done">' in html
    assert '<span class="tool-name">calculator</span>' in html
    assert "done in 12 ms" in html
    assert "{\n  &quot;expression&quot;: &quot;2+2&quot;\n}" in html
    assert "&quot;result&quot;: 4" in html


def test_arguments_still_streaming_are_shown_as_they_are():
    html = render_tool_blocks([ToolCallView("c1", "calculator", '{"expre')])
    assert "{&quot;expre" in html and "preparing…" in html and "Result" not in html


def test_hostile_names_arguments_and_results_stay_text():
    html = render_tool_blocks(
        [
            ToolCallView(
                "c1",
                "<img src=x onerror=alert(1)>",
                '"<script>alert(1)</script>"',
                "failed",
                3,
                "<svg onload=alert(1)>",
            )
        ]
    )
    assert "<img" not in html and "<script" not in html and "<svg" not in html
    assert "&lt;script&gt;" in html


def test_the_sanitiser_keeps_tool_blocks_as_they_are():
    html = render_tool_blocks(
        [
            ToolCallView("c1", "f", "{}", "running"),
            ToolCallView("c2", "g", "{}", "stopped", None, "stopped"),
        ]
    )
    assert sanitize_html(html) == html


def test_no_calls_no_html():
    assert render_tool_blocks([]) == ""
