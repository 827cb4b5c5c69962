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

export { ReplyRenderer } from "./stream.js";
export { enhance } from "./enhance.js";
export { diagramsSettled } from "./diagrams.js";

/** Sanitised HTML for a whole markdown document. */
export function renderMarkdown(src, { docId } = {}) {
  return sanitizeHtml(renderDocumentHtml(String(src ?? ""), docId));
}

/** Renders a whole, finished message into `container` (replacing what it held). */
export function renderInto(container, src, { docId } = {}) {
  container.classList.add("md");
  const html = renderDocumentHtml(String(src ?? ""), docId || container.id || undefined);
  container.replaceChildren(enhance(sanitizeFragment(html)));
}
