// The markdown-it instance: CommonMark + GFM (gfm.js), footnotes, task lists, TeX math, and
// the rules that make model output safe to show: raw HTML as text, images as links (never
// fetched), unsafe links as their text, code highlighted by class only, tables aligned
// without style attributes. Everything here is pure: strings in, HTML strings out.
import markdownit from "../../vendor/markdown-it/markdown-it.mjs";
import footnote from "../../vendor/markdown-it-footnote/markdown-it-footnote.mjs";
import { tasklist } from "../../vendor/mdit-plugin-tasklist/plugin-tasklist.mjs";
import { tex } from "../../vendor/mdit-plugin-tex/plugin-tex.mjs";
import gfm from "./gfm.js";
import { highlightCode } from "./codeblock.js";
import { renderMath } from "./math.js";
import { closeOpenInline } from "./tail.js";

export const md = markdownit({ html: false, linkify: true, typographer: false });
const { escapeHtml, unescapeAll, normalizeReference } = md.utils;

// Every link parses as a link (as in cmark-gfm); whether it is safe is decided when it is
// rendered, so an unsafe one shows its text instead of its markdown source.
md.validateLink = () => true;

md.use(footnote);
md.use(tasklist, { disabled: true, label: false });
md.use(tex, { delimiters: "all", render: renderMath });
md.use(gfm);

// ------------------------------------------------------------------ links and images

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
const SAFE_SCHEMES = new Set(["http", "https", "mailto"]);

/** http, https, mailto, or no scheme at all (relative, #anchor). */
export function isSafeUrl(url) {
  if (typeof url !== "string") return false;
  // Browsers ignore control characters and whitespace around (and tabs, newlines inside) a URL.
  const probe = url.replace(/[\u0000-\u0020\u007f-\u009f]/g, "");
  const scheme = SCHEME.exec(probe);
  return !scheme || SAFE_SCHEMES.has(scheme[1].toLowerCase());
}

function isExternal(url) {
  return /^https?:/i.test(url.replace(/[\u0000-\u0020]/g, ""));
}

const EXTERNAL = ' target="_blank" rel="noopener noreferrer nofollow"';

// Marks unsafe links (both their tokens) and images inside links, after every inline rule.
function checkLinks(state) {
  for (const block of state.tokens) {
    if (block.type !== "inline" || !block.children) continue;
    const open = [];
    for (const token of block.children) {
      if (token.type === "link_open") {
        const href = token.attrGet("href");
        const safe = isSafeUrl(href);
        token.meta = { ...token.meta, dropped: !safe, external: safe && isExternal(href) };
        open.push(token);
      } else if (token.type === "link_close") {
        const opener = open.pop();
        token.meta = { ...token.meta, dropped: Boolean(opener && opener.meta.dropped) };
      } else if (token.type === "image") {
        token.meta = { ...token.meta, inLink: open.length > 0, safe: isSafeUrl(token.attrGet("src")) };
      }
    }
  }
}

md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  if (token.meta && token.meta.dropped) return "";
  return self.renderToken(tokens, idx, options).replace(/>$/, token.meta && token.meta.external ? EXTERNAL + ">" : ">");
};

md.renderer.rules.link_close = (tokens, idx, options, env, self) =>
  tokens[idx].meta && tokens[idx].meta.dropped ? "" : self.renderToken(tokens, idx, options);

// ![alt](src) is a link to the image, never an <img>: a prompt-injected image URL must not
// be fetched (it could carry data out). Inside a link, or with an unsafe URL, just the alt.
md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  const alt = self.renderInlineAsText(token.children || [], options, env);
  const meta = token.meta || {};
  if (meta.inLink || !meta.safe) return escapeHtml(alt);
  const src = token.attrGet("src");
  const title = token.attrGet("title");
  const titleAttr = title ? ` title="${escapeHtml(title)}"` : "";
  const external = isExternal(src) ? EXTERNAL : "";
  return `<a class="image-link" href="${escapeHtml(src)}"${titleAttr}${external}>${escapeHtml(alt || src)}</a>`;
};

// ------------------------------------------------------------------ code and math

md.renderer.rules.fence = (tokens, idx) => {
  const token = tokens[idx];
  const info = token.info ? unescapeAll(token.info).trim() : "";
  const lang = info.split(/\s+/)[0];
  const langClass = lang ? ` class="language-${escapeHtml(lang)}"` : "";
  return `<pre><code${langClass}>${highlightCode(token.content, lang)}</code></pre>\n`;
};

// The tex plugin's own rules pass only the TeX; these also know the delimiters, so bad TeX
// can be shown as it was written.
md.renderer.rules.math_inline = (tokens, idx) => renderMath(tokens[idx].content, false, tokens[idx].markup);
md.renderer.rules.math_block = (tokens, idx) => renderMath(tokens[idx].content, true, tokens[idx].markup) + "\n";

// \(\) with nothing inside is two escaped parentheses, not an empty formula. And a \( after
// the last \) of the text cannot close: the plugin would search the rest of the text for
// each such \( (quadratic in a paragraph of them).
const bracketInline = md.inline.ruler.__rules__.find((rule) => rule.name === "math_inline_bracket").fn;
md.inline.ruler.at("math_inline_bracket", (state, silent) => {
  if (state.src.charCodeAt(state.pos) !== 0x5c || state.src.charCodeAt(state.pos + 1) !== 0x28) return false;
  state.lastMathClose ??= state.src.lastIndexOf("\\)");
  if (state.pos > state.lastMathClose) return false;
  if (/^\\\(\s*\\\)/.test(state.src.slice(state.pos, state.pos + 64))) return false;
  return bracketInline(state, silent);
});

// A line starting with \[ interrupts a paragraph only if a \] closes it: the plugin says
// yes before it looks (when markdown-it asks in silent mode), and the paragraph is split.
const bracketBlock = md.block.ruler.__rules__.find((rule) => rule.name === "math_block_bracket");
const bracketBlockRule = bracketBlock.fn;
md.block.ruler.at(
  "math_block_bracket",
  (state, startLine, endLine, silent) => {
    if (silent && !closesBracketMath(state, startLine, endLine)) return false;
    return bracketBlockRule(state, startLine, endLine, silent);
  },
  { alt: [...bracketBlock.alt] },
);

function closesBracketMath(state, startLine, endLine) {
  for (let line = startLine; line < endLine; line++) {
    const start = state.bMarks[line] + state.tShift[line];
    const end = state.eMarks[line];
    if (line > startLine && start < end && state.sCount[line] < state.blkIndent) return false;
    const text = state.src.slice(start, end).trimEnd();
    if (text.endsWith("\\]") && (line > startLine || text.length >= 4)) return true;
  }
  return false;
}

// ------------------------------------------------------------------ tables and task lists

// markdown-it aligns cells with style="text-align:…", which the CSP refuses: use align=.
function alignCells(state) {
  for (const token of state.tokens) {
    if (token.type !== "th_open" && token.type !== "td_open") continue;
    const style = token.attrGet("style");
    if (!style) continue;
    token.attrs = token.attrs.filter(([name]) => name !== "style");
    const align = /text-align:\s*(left|right|center)/.exec(style);
    if (align) token.attrSet("align", align[1]);
  }
}

// The checkbox goes inside a <label> with the item's text (its accessible name), and loses
// the plugin's numbered id, which would repeat across messages and across streamed blocks.
function labelTasks(state) {
  for (const token of state.tokens) {
    if (token.type !== "inline" || !token.children || !token.children.length) continue;
    const box = token.children[0];
    if (box.type !== "checkbox_input") continue;
    box.attrs = box.attrs.filter(([name]) => name !== "id");
    const open = new state.Token("label_open", "label", 1);
    open.attrs = [["class", "task-list-item-label"]];
    token.children.unshift(open);
    token.children.push(new state.Token("label_close", "label", -1));
  }
}

// ------------------------------------------------------------------ footnotes

// The plugin's footnote_tail appends the footnotes to the document's tokens. Here the
// definitions are collected into env (the last definition of a label wins, as in the
// plugin) and the section is rendered apart (footnoteSection), so a streamed reply can
// keep it as its own region at the end while blocks above are finished one by one.
function collectFootnotes(state) {
  const env = state.env;
  if (!env.footnotes) return;
  env.footnoteBodies ||= {};
  let inside = false;
  let current;
  let label;
  state.tokens = state.tokens.filter((token) => {
    if (token.type === "footnote_reference_open") {
      inside = true;
      current = [];
      label = token.meta.label;
      return false;
    }
    if (token.type === "footnote_reference_close") {
      inside = false;
      env.footnoteBodies[":" + label] = current;
      return false;
    }
    if (inside) current.push(token);
    return !inside;
  });
}

// A definition parsed after its label was already numbered (a later block, while
// streaming) must not reset the number: keep numbers across the block phase.
function keepFootnoteNumbers(state) {
  const refs = state.env.footnotes && state.env.footnotes.refs;
  if (!refs) return;
  const numbered = {};
  for (const key of Object.keys(refs)) if (refs[key] >= 0) numbered[key] = refs[key];
  state.env.numberedFootnotes = numbered;
}

function restoreFootnoteNumbers(state) {
  const numbered = state.env.numberedFootnotes;
  if (!numbered) return;
  Object.assign(state.env.footnotes.refs, numbered);
  delete state.env.numberedFootnotes;
}

// Give footnote definitions a source map (the plugin sets none), and record every defined
// label, so the streaming renderer can split a reply into blocks and renumber on demand.
const footnoteDef = md.block.ruler.__rules__.find((rule) => rule.name === "footnote_def").fn;
md.block.ruler.at(
  "footnote_def",
  (state, startLine, endLine, silent) => {
    const at = state.tokens.length;
    if (!footnoteDef(state, startLine, endLine, silent)) return false;
    if (!silent) {
      state.tokens[at].map = [startLine, state.line];
      (state.env.footnoteLabels ||= new Set()).add(state.tokens[at].meta.label);
    }
    return true;
  },
  { alt: ["paragraph", "reference"] },
);

md.renderer.rules.footnote_block_open = () =>
  '<section class="footnotes" aria-label="Footnotes">\n<ol class="footnotes-list">\n';

md.renderer.rules.footnote_anchor = (tokens, idx, options, env, self) => {
  const meta = tokens[idx].meta;
  let id = self.rules.footnote_anchor_name(tokens, idx, options, env, self);
  if (meta.subId > 0) id += `:${meta.subId}`;
  const n = meta.id + 1 + (meta.subId > 0 ? `, ${meta.subId + 1}` : "");
  return ` <a href="#fnref${id}" class="footnote-backref" aria-label="Back to reference ${n}">\u21a9\uFE0E</a>`;
};

/**
 * The footnotes section for what env has seen, in order of first reference ("" if none).
 * definedOnly: leave out notes referenced but not defined yet (while streaming).
 */
export function footnoteSection(env, { definedOnly = false } = {}) {
  const list = env.footnotes && env.footnotes.list;
  if (!list || !list.length) return "";
  const { Token } = new md.core.State("", md, env);
  const bodies = env.footnoteBodies || {};
  const shown = list.filter((note) => !definedOnly || note.tokens || bodies[":" + note.label]);
  if (!shown.length) return "";
  let tokens = [new Token("footnote_block_open", "", 1)];
  list.forEach((note, i) => {
    if (!shown.includes(note)) return;
    const open = new Token("footnote_open", "", 1);
    open.meta = { id: i, label: note.label };
    tokens.push(open);
    let body = null;
    if (note.tokens) {
      const p = new Token("paragraph_open", "p", 1);
      p.block = true;
      const inline = new Token("inline", "", 0);
      inline.children = note.tokens;
      inline.content = note.content;
      const close = new Token("paragraph_close", "p", -1);
      close.block = true;
      body = [p, inline, close];
    } else if (note.label) {
      body = bodies[":" + note.label] || null;
    }
    if (body) tokens = tokens.concat(body);
    const last = tokens[tokens.length - 1].type === "paragraph_close" ? tokens.pop() : null;
    for (let j = 0; j < (note.count > 0 ? note.count : 1); j++) {
      const anchor = new Token("footnote_anchor", "", 0);
      anchor.meta = { id: i, subId: j, label: note.label };
      tokens.push(anchor);
    }
    if (last) tokens.push(last);
    tokens.push(new Token("footnote_close", "", -1));
  });
  tokens.push(new Token("footnote_block_close", "", -1));
  return md.renderer.render(tokens, md.options, env);
}

// ------------------------------------------------------------------ rule order

md.core.ruler.at("footnote_tail", collectFootnotes);
md.core.ruler.before("block", "footnote_keep", keepFootnoteNumbers);
md.core.ruler.after("block", "footnote_restore", restoreFootnoteNumbers);
// Streaming only (env.closeTail): close what the reply has not closed yet, before inline.
md.core.ruler.after("footnote_restore", "close_tail", (state) => {
  if (state.env.closeTail) closeOpenInline(state);
});
md.core.ruler.after("task_list", "task_labels", labelTasks);
md.core.ruler.push("check_links", checkLinks);
md.core.ruler.push("align_cells", alignCells);

// ------------------------------------------------------------------ entry points

/** A fresh parsing environment; docId prefixes footnote ids (one per message on a page). */
export function newEnv(docId) {
  const env = { references: {}, footnotes: { refs: {}, list: [] }, footnoteBodies: {}, footnoteLabels: new Set() };
  if (typeof docId === "string" && docId) env.docId = docId;
  return env;
}

/** Tokens of `src` (block and inline), parsed with env (references, footnotes so far). */
export function parse(src, env) {
  return md.parse(src, env);
}

export function renderTokens(tokens, env) {
  return md.renderer.render(tokens, md.options, env);
}

/** Block-level tokens only: enough to see where top-level blocks start, and cheap. */
export function parseBlocks(src) {
  const tokens = [];
  md.block.parse(src, md, {}, tokens);
  return tokens;
}

/** HTML (not yet sanitised) for a whole document, footnotes last. */
export function renderDocumentHtml(src, docId) {
  const env = newEnv(docId);
  const tokens = md.parse(src, env);
  return renderTokens(tokens, env) + footnoteSection(env);
}

/** Reference labels a piece of markdown may use ([text], [text][label], [label][]). */
export function referenceLabels(src) {
  const labels = new Set();
  for (const match of src.matchAll(/\[((?:[^[\]\\]|\\.){1,999})\]/g)) {
    labels.add(normalizeReference(match[1]));
  }
  return labels;
}

export { escapeHtml, unescapeAll };
