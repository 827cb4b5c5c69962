"""A real HTTP server serving the repository's static/ and tests/harness/ folders with the
site's own Content-Security-Policy, so renderer tests run in Chromium under the same rules
as the chat page, without a database or daphne."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from chatsite.middleware import POLICY

ROOT = Path(__file__).resolve().parent.parent.parent
SERVED = ("/static/", "/tests/harness/", "/tests/vendor/", "/bench/")


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".woff2": "font/woff2",
    }

    def do_GET(self) -> None:
        if not self.path.startswith(SERVED):
            self.send_error(404)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", POLICY)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


class StaticSite:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=ROOT))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> StaticSite:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
