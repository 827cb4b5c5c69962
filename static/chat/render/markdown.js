// Placeholder: the renderer lands here (see docs/protocol.md). renderMarkdown(src) returns
// sanitised HTML for a whole document.
import markdownit from "../../vendor/markdown-it/markdown-it.mjs";
import gfm from "./gfm.js";

const md = markdownit({ html: false, linkify: true }).use(gfm);

export function renderMarkdown(src) {
  return md.render(src);
}
