// Exposes the page's own renderer to tests as window.harness (see tests/harness/static_site.py),
// with the test helpers of checks.js as window.harness.checks.
import * as markdown from "/static/chat/render/markdown.js";
import * as tail from "/static/chat/render/tail.js";
import * as checks from "/tests/harness/checks.js";

window.harness = { ...markdown, tail, checks };
window.harnessReady = true;
