// The browser's markdown renderer: one code path for live replies, history and the admin.
//
//   renderMarkdown(src, { docId })      -> sanitised HTML string of a whole document (pure:
//                                          what the cmark-gfm conformance tests compare)
//   renderInto(container, src, { docId }) -> renders a finished message into container
//                                          (sanitised, enhanced: code headers, tables, diagrams)
//   new ReplyRenderer(container, { docId }) -> a streaming reply: append(text), finish(), text
//   enhance(root)                        -> code headers, Copy, table regions, diagrams
//   diagramsSettled()                    -> resolves once queued mermaid diagrams are drawn
//
// docId (default: the container's id) prefixes footnote ids, so two messages on one page
// do not share them. Rendered content goes in a container with class "md" (added here),
// styled by static/chat/markdown.css. See docs/rendering.md.
import { renderDocumentHtml } from "./parser.js";
import { sanitizeFragment, sanitizeHtml } from "./sanitize.js";
import { enhance } from "./enhance.js";
import { grouped } from "./groups.js";

export { ReplyRenderer } from "./stream.js";
export { enhance } from "./enhance.js";
export { diagramsSettled } from "./diagrams.js";

// A first render costs more (the JavaScript engine has not compiled the renderer yet,
// highlight.js compiles a language's grammar on first use, Temml builds its tables): do it
// once while the page is idle, so the first reply a page streams starts at full speed.
const WARM_UP = [
  "# Warm up\n\nA **paragraph** with *emphasis*, `code`, a [link](https://example.com), $x^2$ and a note[^1].",
  "- a list\n- [ ] a task\n\n1. numbered\n\n> a quote\n\n| a | b |\n|---|--:|\n| 1 | 2 |",
  ...["python", "javascript", "typescript", "bash", "json", "html", "css", "sql", "java", "go", "rust", "c", "cpp", "yaml"]
    .map((lang) => "```" + lang + "\nx = 1 # c\n```"),
  "$$\n\\frac{1}{2}\n$$\n\n[^1]: The note.",
].join("\n\n");

function warmUp() {
  try {
    renderMarkdown(WARM_UP);
  } catch {
    // Only a head start: a failure here shows (and is reported) when it renders for real.
  }
}

if (typeof window !== "undefined") {
  (window.requestIdleCallback || ((run) => setTimeout(run, 200)))(warmUp);
}

/** Sanitised HTML for a whole markdown document. */
export function renderMarkdown(src, { docId } = {}) {
  return sanitizeHtml(renderDocumentHtml(String(src ?? ""), docId));
}

/** Renders a whole, finished message into `container` (replacing what it held). */
export function renderInto(container, src, { docId } = {}) {
  container.classList.add("md");
  const html = renderDocumentHtml(String(src ?? ""), docId || container.id || undefined);
  const nodes = [...enhance(sanitizeFragment(html)).childNodes];
  // Blocks in groups, as a streamed reply has them (groups.js); the footnotes after them.
  const notes = nodes.findIndex((node) => node.nodeType === 1 && node.matches("section.footnotes"));
  const blocks = notes === -1 ? nodes : nodes.slice(0, notes);
  container.replaceChildren(grouped(blocks), ...(notes === -1 ? [] : nodes.slice(notes)));
}
