"""What rendered markdown becomes in the page (renderInto): code blocks with their language and
a Copy button, tables that scroll instead of squeezing, diagrams drawn under the CSP, and
nothing an accessibility checker objects to, in light or dark."""

from __future__ import annotations

from pathlib import Path

import django
import pytest

from tests.harness.renderer import Watch
from tests.harness.static_site import ROOT

AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"

EVERY_CONSTRUCT = """# Heading one

## Heading two

### Heading three

A paragraph with **bold**, *em*, ~~strike~~, `code`, a [link](https://example.com), a bare
https://example.org, an image ![diagram of a cat](https://img.example/cat.png), math $e^{i\\pi}+1=0$
and a footnote[^note].

> A quote with a [link](https://example.com/q).

1. First
2. Second
   - nested
   - [x] done task
   - [ ] open task

---

```python
def greet(name: str) -> str:
    # say hello
    return f"Hello, {name}!"  # a long line, longer than the column: this block scrolls sideways
```

```
plain code
```

| Language | Typing | Description |
|:--|:-:|--:|
| Python | dynamic | A language that reads like pseudocode and has a batteries-included library |
| Rust | static | Memory safety without a garbage collector |

$$
\\int_0^1 x^2 \\, dx = \\frac{1}{3}
$$

```mermaid
graph LR
  A[Question] --> B[Answer]
```

```mermaid
graph LR
  this is ((( not a diagram
```

Bad math: $\\frac{1$

[^note]: The note.
"""


@pytest.fixture(scope="module")
def page(render_page):
    render_page.watch = Watch(render_page)
    return render_page


def render_into(page, markdown, width=None):
    return page.evaluate_handle(
        """([md, width]) => {
            const box = document.createElement("div");
            if (width) box.style.width = width;
            document.getElementById("out").append(box);
            window.harness.renderInto(box, md);
            return box;
        }""",
        [markdown, width],
    )


def test_a_code_block_has_its_language_and_a_copy_button(page):
    box = render_into(page, "```python\nprint('hi')\n```\n\n```\nplain\n```")
    heads = page.evaluate(
        """(box) => [...box.querySelectorAll(".code-block")].map((b) => [
            b.querySelector(".code-lang")?.textContent ?? null,
            b.querySelector("button").textContent,
        ])""",
        box,
    )
    assert heads == [["python", "Copy"], [None, "Copy"]]


def test_copy_puts_the_code_on_the_clipboard(page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page.watch.origin)
    box = render_into(page, "```js\nconst a = 1;\nconsole.log(a);\n```")
    button = box.as_element().query_selector(".code-copy")
    button.click()
    page.wait_for_function("(b) => b.textContent === 'Copied'", arg=button)
    assert (
        page.evaluate("() => navigator.clipboard.readText()") == "const a = 1;\nconsole.log(a);\n"
    )
    assert (
        box.as_element().query_selector(".code-status").text_content() == "Copied to the clipboard."
    )


def test_copy_works_without_the_clipboard_api(page):
    # Plain http on a LAN address has no navigator.clipboard: a hidden textarea and execCommand.
    copied = page.evaluate(
        """async () => {
            const box = window.harness.checks.whole("```\\nfallback text\\n```");
            let copied = null;
            const copy = () => { copied = document.activeElement.value; };
            document.addEventListener("copy", copy, { once: true });
            const api = Navigator.prototype;
            const clipboard = Object.getOwnPropertyDescriptor(api, "clipboard");
            Object.defineProperty(api, "clipboard", { get: () => undefined, configurable: true });
            try {
                box.querySelector(".code-copy").click();
                await new Promise((resolve) => setTimeout(resolve, 20));
            } finally {
                Object.defineProperty(api, "clipboard", clipboard);
            }
            const label = box.querySelector(".code-copy").textContent;
            return [copied, label, document.querySelectorAll(".copy-buffer").length];
        }"""
    )
    assert copied == ["fallback text\n", "Copied", 0]


def test_code_blocks_and_tables_are_reachable_by_keyboard_and_named(page):
    box = render_into(page, "```sql\nselect 1;\n```\n\n| a |\n|---|\n| 1 |")
    found = page.evaluate(
        """(box) => [box.querySelector("pre"), box.querySelector(".table-wrap")].map(
            (el) => [el.tabIndex, el.getAttribute("role"), el.getAttribute("aria-label")])""",
        box,
    )
    assert found == [[0, "region", "Code: sql"], [0, "region", "Table"]]


def test_a_wide_table_scrolls_instead_of_squeezing_its_columns(page):
    header = "| " + " | ".join(f"Column {i}" for i in range(10)) + " |"
    rule = "|" + "---|" * 10
    row = "| " + " | ".join("several words of text in each cell here" for _ in range(10)) + " |"
    box = render_into(page, f"{header}\n{rule}\n{row}\n{row}", width="480px")
    sizes = page.evaluate(
        """(box) => {
            const wrap = box.querySelector(".table-wrap");
            const fontSize = parseFloat(getComputedStyle(wrap.querySelector("td")).fontSize);
            return {
                scrolls: wrap.scrollWidth > wrap.clientWidth,
                pageWidth: box.getBoundingClientRect().width,
                wrapWidth: wrap.getBoundingClientRect().width,
                narrowest: Math.min(...[...wrap.querySelectorAll("td")].map((c) => c.offsetWidth)),
                fontSize,
            };
        }""",
        box,
    )
    assert sizes["scrolls"] is True
    assert sizes["wrapWidth"] <= sizes["pageWidth"]  # the region scrolls, not the page
    assert sizes["narrowest"] / sizes["fontSize"] > 10  # ems: several words to a line, not one


def test_a_mermaid_block_is_drawn_as_an_image_of_its_diagram(page):
    page.watch.reset()
    box = render_into(page, "```mermaid\ngraph LR\n  A[Question] --> B[Answer]\n```")
    page.evaluate("() => window.harness.diagramsSettled()")
    drawn = page.evaluate(
        """async (box) => {
            const img = box.querySelector("figure.diagram img");
            await img.decode();
            return [img.src.slice(0, 26), img.naturalWidth > 50, img.alt,
                    box.querySelector("pre").hidden, box.querySelector(".code-lang").textContent];
        }""",
        box,
    )
    assert drawn == ["data:image/svg+xml;charset", True, "flowchart diagram", True, "mermaid"]
    assert page.watch.violations() == []
    assert page.watch.offsite() == []


def test_a_broken_diagram_shows_its_source_and_why(page):
    box = render_into(page, "```mermaid\ngraph LR\n  this is ((( not a diagram\n```")
    page.evaluate("() => window.harness.diagramsSettled()")
    shown = page.evaluate(
        """(box) => [box.querySelector("img"), box.querySelector("pre").hidden,
                     box.querySelector("code").textContent,
                     box.querySelector(".diagram-error").textContent]""",
        box,
    )
    assert shown[:3] == [None, False, "graph LR\n  this is ((( not a diagram\n"]
    assert shown[3].startswith("Diagram not drawn: Parse error on line 2")


def test_mermaid_is_loaded_only_by_a_page_with_a_diagram(browser, page):
    fresh = browser.new_page()
    try:
        fresh.goto(page.url)
        fresh.wait_for_function("window.harnessReady === true")
        loaded = """() => performance.getEntriesByType("resource")
            .some((entry) => entry.name.includes("/mermaid/"))"""
        fresh.evaluate("() => window.harness.checks.whole('# No diagram\\n\\n```js\\nx\\n```')")
        fresh.wait_for_timeout(50)
        assert fresh.evaluate(loaded) is False
        fresh.evaluate(
            "() => window.harness.checks.whole('```mermaid\\ngraph LR\\n  A --> B\\n```')"
        )
        fresh.evaluate("() => window.harness.diagramsSettled()")
        assert fresh.evaluate(loaded) is True
    finally:
        fresh.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_construct_passes_axe_in_light_and_dark(page, scheme):
    page.emulate_media(color_scheme=scheme)
    page.evaluate("() => { document.getElementById('out').replaceChildren(); }")
    render_into(page, EVERY_CONSTRUCT)
    page.evaluate("() => window.harness.diagramsSettled()")
    if not page.evaluate("() => Boolean(window.axe)"):
        # Under the page's CSP a script must come from the site, not inline.
        page.add_script_tag(url=page.watch.origin + "/tests/vendor/axe-core/axe.min.js")
    results = page.evaluate(
        """async () => {
            const results = await axe.run(document, { resultTypes: ["violations"] });
            return results.violations.filter((v) => ["critical", "serious"].includes(v.impact))
                .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.html.slice(0, 120))}`);
        }"""
    )
    page.emulate_media(color_scheme="light")
    assert AXE.exists()
    assert results == []


ADMIN_CSS = "/static/admin/css/base.css"


def test_content_looks_the_same_inside_the_django_admin(browser, page):
    # The admin styles h2 as coloured bars inside .module, squares bullets, shrinks code and
    # uppercases table headers; markdown.css, loaded after it as the admin loads it, wins.
    base_css = Path(django.__file__).parent / "contrib/admin/static/admin/css/base.css"
    fresh = browser.new_page()
    try:
        fresh.route(
            "**" + ADMIN_CSS,
            lambda route: route.fulfill(body=base_css.read_text(), content_type="text/css"),
        )
        fresh.goto(page.url)
        fresh.wait_for_function("window.harnessReady === true")
        styles = fresh.evaluate(
            """async (href) => {
                const link = document.createElement("link");
                link.rel = "stylesheet";
                link.href = href;
                const loaded = new Promise((resolve) => { link.onload = resolve; });
                document.head.prepend(link);
                await loaded;
                const module = document.createElement("div");
                module.className = "module";
                const box = document.createElement("div");
                const bar = document.createElement("h2");  // the admin's own, for comparison
                module.append(bar, box);
                document.getElementById("out").append(module);
                window.harness.renderInto(box, "## Title\\n\\n- one\\n\\n1. two\\n\\n> quote\\n\\n"
                    + "`code`\\n\\n| Head |\\n|---|\\n| cell |");
                const style = (selector) => getComputedStyle(box.querySelector(selector));
                const size = parseFloat(style("p").fontSize);
                return {
                    h2: style("h2").backgroundColor,
                    bullet: style("ul > li").listStyleType,
                    number: style("ol > li").listStyleType,
                    quote: parseFloat(style("blockquote").fontSize) / size,
                    code: parseFloat(style("code").fontSize) / size,
                    head: style("th").textTransform,
                    cell: parseFloat(style("td").fontSize) / size,
                    adminBar: getComputedStyle(bar).backgroundColor,
                };
            }""",
            ADMIN_CSS,
        )
    finally:
        fresh.close()
    assert styles == {
        "h2": "rgba(0, 0, 0, 0)",
        "bullet": "disc",
        "number": "decimal",
        "quote": 1,
        "code": 0.875,
        "head": "none",
        "cell": 0.9375,
        "adminBar": "rgb(65, 118, 144)",  # the admin's CSS did load: its bar colour
    }
