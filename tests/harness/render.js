// Exposes the page's own renderer to tests as window.harness (see tests/harness/static_site.py).
import * as markdown from "/static/chat/render/markdown.js";

window.harness = { ...markdown };
window.harnessReady = true;
