"""What the renderer tests share: the corpus, and a watch on a harness page for script that
runs, requests that leave the site, and Content-Security-Policy violations."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

CORPUS = Path(__file__).resolve().parent.parent / "markdown_corpus"

# Set up in the page: every way markdown could run script reports here instead.
TRAPS = """() => {
  window.ran = [];
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = (...args) => window.ran.push([name, String(args[0])]);
  }
  window.violations = [];
  document.addEventListener("securitypolicyviolation", (event) => {
    window.violations.push(`${event.violatedDirective} ${event.blockedURI}`);
  });
}"""


def corpus() -> dict[str, str]:
    """tests/markdown_corpus/*.md by file name (model-style answers)."""
    return {path.name: path.read_text() for path in sorted(CORPUS.glob("*.md"))}


class Watch:
    """Requests a page makes and what its traps caught, from now on."""

    def __init__(self, page) -> None:
        self.page = page
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.evaluate(TRAPS)

    def reset(self) -> None:
        self.requests.clear()
        self.page.evaluate("() => { window.ran.length = 0; window.violations.length = 0; }")

    def offsite(self) -> list[str]:
        """Requests to anywhere but the site's own static files (data: URLs are not requests)."""
        return [
            url
            for url in self.requests
            if not url.startswith(self.origin + "/static/") and not url.startswith("data:")
        ]

    def ran(self) -> list:
        return self.page.evaluate("window.ran")

    def violations(self) -> list[str]:
        return self.page.evaluate("window.violations")
