// Exposes the page's own renderer to tests as window.harness (see tests/harness/static_site.py),
// with the sanitiser, the tail-closing functions and the test helpers of checks.js.
import * as markdown from "/static/chat/render/markdown.js";
import * as sanitize from "/static/chat/render/sanitize.js";
import * as tail from "/static/chat/render/tail.js";
import * as checks from "/tests/harness/checks.js";

window.harness = { ...markdown, sanitize, tail, checks };
window.harnessReady = true;
