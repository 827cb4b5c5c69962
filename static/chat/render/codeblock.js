// Code highlighting in chunks of lines, the same way for a whole document and for a code
// block that is still streaming, so both give the same HTML.
//
// A chunk closes after every CHUNK lines if highlight.js ended it at the language's root
// mode (not inside a multi-line string or comment); otherwise it grows, and is cut anyway
// at MAX_CHUNK lines so that no re-highlight costs more than that. A streaming block then
// highlights each chunk once, when it closes, and its open chunk again only when one of its
// lines completes (the line being typed is shown as plain text until then).
//
// Every chunk after the first is wrapped in <span class="code-chunk"> (display: block in
// markdown.css): a long code block is then many small blocks of text rather than one, and
// the browser lays out only the chunk that changed instead of all the lines above it.
import hljs from "../../vendor/highlight.js/highlight.mjs";

export const CHUNK = 8;
export const MAX_CHUNK = 32;

export function escapeHtml(text) {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

/** The name highlight.js knows `lang` by, or null: no guessing from the code itself. */
export function knownLanguage(lang) {
  return lang && hljs.getLanguage(lang) ? lang : null;
}

function highlight(text, lang) {
  const result = hljs.highlight(text, { language: lang, ignoreIllegals: true });
  return { html: result.value, atRoot: !result._top || !result._top.parent };
}

export class CodeChunker {
  constructor(lang) {
    this.lang = knownLanguage(lang);
    this.text = ""; // lines of the open chunk
    this.lines = 0;
    this.previewHtml = ""; // the open chunk highlighted, for display
    this.previewFor = -1;
    this.closed = 0; // chunks closed so far
  }

  /** Adds one line (ending with "\n"); returns the HTML of a chunk that just closed, or null. */
  push(line) {
    this.text += line;
    this.lines += 1;
    if (this.lines % CHUNK !== 0) return null;
    if (!this.lang) return this._close(escapeHtml(this.text));
    const { html, atRoot } = highlight(this.text, this.lang);
    if (atRoot || this.lines >= MAX_CHUNK) return this._close(html);
    this.previewHtml = html;
    this.previewFor = this.lines;
    return null;
  }

  /** The HTML of the last chunk (the lines pushed since the last close). */
  end() {
    if (!this.text) return "";
    const html = this.lang ? highlight(this.text, this.lang).html : escapeHtml(this.text);
    return this._close(html);
  }

  /** The open chunk's complete lines, highlighted (cached until the next line arrives). */
  preview() {
    if (this.previewFor !== this.lines) {
      this.previewHtml = !this.text
        ? ""
        : this.lang
          ? highlight(this.text, this.lang).html
          : escapeHtml(this.text);
      this.previewFor = this.lines;
    }
    return this.previewHtml;
  }

  _close(html) {
    this.text = "";
    this.lines = 0;
    this.previewHtml = "";
    this.previewFor = 0;
    this.closed += 1;
    return this.closed === 1 ? html : `<span class="code-chunk">${html}</span>`;
  }
}

/** Highlighted HTML for a whole code block's content (escaped text if the language is unknown). */
export function highlightCode(content, lang) {
  const chunker = new CodeChunker(lang);
  let html = "";
  let start = 0;
  for (;;) {
    const newline = content.indexOf("\n", start);
    if (newline === -1) break;
    const closed = chunker.push(content.slice(start, newline + 1));
    if (closed !== null) html += closed;
    start = newline + 1;
  }
  if (start < content.length) html += chunker.push(content.slice(start)) ?? "";
  return html + chunker.end();
}
