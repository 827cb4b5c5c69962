// Streaming rendering of one reply: finished blocks once, the live tail on every frame.
//
//   const reply = new ReplyRenderer(container, { docId });  // docId: prefixes footnote ids
//   reply.append(text);   // each frame's new text; rendering waits for the next animation frame
//   reply.finish();       // the reply ended: render what is left now, final
//   reply.text;           // everything appended so far, as given (for the protocol's offsets)
//   reply.flush();        // render all pending text now, not over the next frames (tests)
//
// A saved message is `append(content)` then `finish()`: the same DOM as renderInto(), so
// history and live replies share this one code path.
//
// How it stays cheap: the reply is split into top-level blocks (markdown-it's own block
// parser, on complete lines only: a line still being written can change its block). Every
// block but the last is finished: rendered once, sanitised, enhanced, appended, and never
// touched again. Only the last block (the tail) is parsed and rendered per frame, with what
// it has not closed yet closed for display (tail.js). Three kinds of tail can grow without
// bound, so they are split further: a top-level list by item, a table by row, a fenced code
// block by line (codeblock.js highlights it in chunks). The exceptions to "finished is
// final" are definitions that arrive later: a reference definition re-renders the finished
// blocks that mention its label, and a footnote definition renumbers the blocks that use
// footnotes; the footnotes themselves are a section of their own at the end.
import { parse, parseBlocks, renderTokens, footnoteSection, newEnv, referenceLabels, unescapeAll } from "./parser.js";
import { sanitizeFragment } from "./sanitize.js";
import { enhance } from "./enhance.js";
import { drawDiagrams } from "./diagrams.js";
import { holdBackLines } from "./tail.js";
import { CodeChunker, escapeHtml } from "./codeblock.js";
import { GROUP_SIZE, newGroup } from "./groups.js";

const FOOTNOTE_MARK = /\[\^|\^\[/;

// A frame finishes blocks (items, rows, lines) until it has spent FRAME_BUDGET_MS, and
// leaves the rest to the next frames: a reply that arrives all at once (the snapshot after
// a reconnect) renders over a few frames instead of in one long one.

// ------------------------------------------------------------------ helpers

function lineOffsets(text) {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** Top-level blocks of `text`: {token, index, start, end} (lines), in order. */
function topBlocks(text) {
  const tokens = parseBlocks(text);
  const blocks = [];
  tokens.forEach((token, index) => {
    if (token.level === 0 && token.map && token.nesting !== -1) {
      blocks.push({ token, index, start: token.map[0], end: token.map[1], tokens });
    }
  });
  return blocks;
}

function isFenceCloser(line, marker) {
  const match = /^ {0,3}(`+|~+)[ \t]*$/.exec(line);
  return Boolean(match && match[1][0] === marker[0] && match[1].length >= marker.length);
}

// Blocks whose extent no later line can change: they are finished as soon as they are complete.
function isClosed(block, lines) {
  const { token, start, end } = block;
  if (token.type === "heading_open" || token.type === "hr") return true;
  if (token.type === "fence") return end - start >= 2 && isFenceCloser(lines[end - 1], token.markup);
  if (token.type === "math_block") {
    const last = lines[end - 1].trimEnd();
    const closer = token.markup === "$$" ? "$$" : "\\]";
    return last.endsWith(closer) && (end - start >= 2 || last.length >= 4);
  }
  return false;
}

// A top-level line starting with \[ is display math once a later line ends with \], however
// far below (blank lines and other blocks included): until then nothing from it on is
// finished. The line index, or -1.
function openBracketMath(lines) {
  let lastCloser = -1;
  lines.forEach((line, i) => {
    if (line.trimEnd().endsWith("\\]")) lastCloser = i;
  });
  let fence = null;
  for (let i = 0; i < lines.length; i++) {
    const mark = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(lines[i]);
    if (mark) {
      if (!fence) fence = mark[1];
      else if (mark[1][0] === fence[0] && mark[1].length >= fence.length && !mark[2].trim()) fence = null;
      continue;
    }
    if (fence || !/^ {0,3}\\\[/.test(lines[i])) continue;
    const text = lines[i].trimEnd();
    if (i > lastCloser || (i === lastCloser && text.replace(/^ */, "").length < 4)) return i;
  }
  return -1;
}

function unhideParagraphs(tokens, level) {
  for (const token of tokens) {
    if ((token.type === "paragraph_open" || token.type === "paragraph_close") && token.level === level) {
      token.hidden = false;
    }
  }
}

function isLoose(tokens, from, to) {
  for (let i = from; i < to; i++) {
    const token = tokens[i];
    if (token.type === "paragraph_open" && token.level === tokens[from].level + 2 && !token.hidden) return true;
  }
  return false;
}

function closingIndex(tokens, from) {
  let depth = 0;
  for (let i = from; i < tokens.length; i++) {
    depth += tokens[i].nesting;
    if (depth === 0) return i;
  }
  return tokens.length - 1;
}

// Top-level token groups (one per block), so each block of a tail renders on its own.
function groupsOf(tokens) {
  const groups = [];
  for (let i = 0; i < tokens.length; ) {
    const end = tokens[i].nesting === 1 ? closingIndex(tokens, i) : i;
    groups.push(tokens.slice(i, end + 1));
    i = end + 1;
  }
  return groups;
}

function removeAll(nodes) {
  for (const node of nodes) node.remove();
}

function copyEnv(env) {
  return {
    ...env,
    references: { ...env.references },
    footnotes: { refs: { ...env.footnotes.refs }, list: env.footnotes.list.map((note) => ({ ...note })) },
    footnoteBodies: { ...env.footnoteBodies },
    footnoteLabels: new Set(env.footnoteLabels),
    provisional: new Set(env.provisional),
  };
}

// ------------------------------------------------------------------ the renderer

export class ReplyRenderer {
  constructor(container, { docId } = {}) {
    this.container = container;
    container.classList.add("md");
    container.replaceChildren();
    this._raw = "";
    this._src = ""; // normalised (\r\n, \r → \n; NUL → U+FFFD), as markdown-it would
    this._cr = false;
    this._done = 0; // offset in _src where the unfinished part begins
    this._env = newEnv(docId || container.id || undefined);
    this._env.provisional = new Set(); // footnote labels shown as references before defined
    this._final = false;
    this._version = 0; // bumped when definitions change what the tail may render
    this._blocks = []; // finished: {src, html, nodes, cands, fn}
    this._live = null; // a growing list, table or code block (ListLive, TableLive, FenceLive)
    this._tail = []; // the live tail, block by block: {html, nodes}
    this._tailKey = null;
    this._displayEnv = null; // env after the last display parse (for the footnotes section)
    this._notes = [];
    this._notesHtml = "";
    this._group = null; // the last <div class="md-group">: finished blocks, then the live part
    this._grouped = 0; // elements finished (or to be) in it
    this._lastFinished = null; // the last finished node in it: the live part comes after
    this._frame = 0;
    this._finished = false;
    this._newLabels = new Set();
    this._footnotesChanged = false;
    this._rerenderLive = false;
    this._queue = []; // finished segments not rendered yet: [from, to) in _src
    this._tailCost = 0; // how long the last display of the live part took, and when
    this._tailAt = 0;
    this._deferred = false;
    this._flushing = false;
    this._frameStart = 0;
    this._more = false; // the budget ran out: render again next frame
  }

  get text() {
    return this._raw;
  }

  append(text) {
    if (this._finished || !text) return;
    this._raw += text;
    let add = text;
    if (this._cr && add[0] === "\n") add = add.slice(1);
    this._cr = text.endsWith("\r");
    this._src += add.replace(/\r\n?/g, "\n").replace(/\u0000/g, "\uFFFD");
    this._schedule();
  }

  _schedule() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this._render(false);
    });
  }

  _overBudget() {
    return performance.now() - this._frameStart > ReplyRenderer.FRAME_BUDGET_MS;
  }

  flush() {
    if (this._finished) return;
    if (this._frame) cancelAnimationFrame(this._frame);
    this._frame = 0;
    this._flushing = true;
    do this._render(false);
    while (this._more);
    this._flushing = false;
    if (this._frame) cancelAnimationFrame(this._frame);
    this._frame = 0;
  }

  finish() {
    if (this._finished) return;
    if (this._frame) cancelAnimationFrame(this._frame);
    this._frame = 0;
    this._render(true);
    this._finished = true;
  }

  // ---------------------------------------------------------------- one frame

  _render(final) {
    this._final = final;
    this._frameStart = performance.now();
    this._more = false;
    this._deferred = false; // the live part's display was put off (see _throttled)
    for (let guard = 0; guard < 100000; guard++) {
      if (this._live) {
        const end = this._live.update(final);
        if (end === null) break;
        this._blocks.push(this._live.record());
        this._done = end;
        this._live = null;
        continue;
      }
      if (!this._step(final)) break;
    }
    const version = this._version;
    if (final && [...this._env.provisional].some((label) => !this._env.footnoteLabels.has(label))) {
      // A footnote was referenced and never defined: its references are text after all.
      this._footnotesChanged = true;
    }
    this._applyDefinitions();
    if (!final && version !== this._version) {
      // Definitions changed what the live part may show: show it again.
      if (this._live) this._live.update(false);
      else this._renderTail(this._src.slice(this._done));
    }
    this._renderNotes(final);
    if (final && this._group && !this._group.firstChild) {
      this._group.remove(); // the tail showed something that turned out to be definitions
      this._group = null;
    }
    if ((this._more || this._deferred) && !final) this._schedule();
  }

  // Finishes what is finished of the unfinished part; returns true if a live list, table or
  // code block took over the rest.
  _step(final) {
    // Segments an earlier frame found finished come first; then what is left is read again.
    if (this._queue.length) return this._drain(final);
    const rest = this._src.slice(this._done);
    const complete = final ? rest : rest.slice(0, rest.lastIndexOf("\n") + 1);
    const blocks = complete ? topBlocks(complete) : [];
    const offsets = lineOffsets(complete);
    const lines = blocks.length ? complete.split("\n") : [];
    let finished = final ? blocks.length : Math.max(0, blocks.length - 1);
    if (!final && blocks.length && isClosed(blocks[blocks.length - 1], lines)) finished = blocks.length;
    const open = final ? -1 : openBracketMath(lines);
    if (open !== -1) {
      const at = blocks.findIndex((block) => block.end > open);
      if (at !== -1) finished = Math.min(finished, at);
    }
    for (let k = 0; k < finished; k++) {
      const from = k === 0 ? 0 : offsets[blocks[k].start];
      const to = k + 1 < blocks.length ? offsets[blocks[k + 1].start] : complete.length;
      this._queue.push([this._done + from, this._done + to]);
    }
    // The unfinished part starts where its block does (not at blank lines before it).
    let unfinished = this._done;
    if (finished < blocks.length) unfinished += offsets[blocks[finished].start];
    else if (finished) unfinished += complete.length;
    if (!this._drain(final)) return false;
    this._done = unfinished;
    if (final) {
      this._showTail([]);
      this._displayEnv = null;
      return false;
    }
    if (finished < blocks.length) {
      const live = this._liveFor(blocks[finished], lines);
      if (live) {
        this._showTail([]);
        this._displayEnv = null;
        this._live = live;
        return true;
      }
    }
    this._renderTail(this._src.slice(this._done));
    return false;
  }

  /** Finishes queued segments, within the frame's budget; false if some are left. */
  _drain(final) {
    let first = true;
    while (this._queue.length) {
      if (!final && !first && this._overBudget()) {
        this._more = true;
        return false;
      }
      const [from, to] = this._queue.shift();
      this._finishSegment(this._src.slice(from, to));
      this._done = to;
      first = false;
    }
    return true;
  }

  _liveFor(block, lines) {
    const { token, start, end } = block;
    const at = this._done; // the unfinished block starts here (its segment was not finished)
    if (token.type === "bullet_list_open" || token.type === "ordered_list_open") {
      return new ListLive(this, at, token);
    }
    if (token.type === "table_open" && end - start >= 2) {
      return new TableLive(this, at, lines[start] + "\n" + lines[start + 1] + "\n");
    }
    if (token.type === "fence" && /^[`~]/.test(lines[start])) {
      return new FenceLive(this, at, token, lines[start] + "\n");
    }
    return null;
  }

  // ---------------------------------------------------------------- finished blocks

  _tailFirst() {
    for (const group of this._tail) if (group.nodes.length) return group.nodes[0];
    return null;
  }

  // ---------------------------------------------------------------- groups

  _ensureGroup() {
    if (this._group) return;
    this._group = newGroup();
    this.container.insertBefore(this._group, this._notes[0] || null);
  }

  // A new group: what is live (after the last finished node) moves along to it.
  _nextGroup() {
    const old = this._group;
    this._group = newGroup();
    this._grouped = 0;
    this.container.insertBefore(this._group, this._notes[0] || null);
    if (old) {
      let node = this._lastFinished ? this._lastFinished.nextSibling : old.firstChild;
      while (node) {
        const next = node.nextSibling;
        this._group.append(node);
        node = next;
      }
    }
    this._lastFinished = null;
  }

  /** Places finished nodes (new, or already showing as the tail) after the finished ones. */
  _placeFinished(nodes) {
    for (const node of nodes) {
      if (!this._group || (node.nodeType === 1 && this._grouped >= GROUP_SIZE)) this._nextGroup();
      if (node.nodeType === 1) this._grouped += 1;
      const at = this._lastFinished ? this._lastFinished.nextSibling : this._group.firstChild;
      if (at !== node) this._group.insertBefore(node, at);
      this._lastFinished = node;
    }
  }

  /** Inserts live nodes (not finished yet) into the last group, before `before` or at its end. */
  _insertLive(nodes, before) {
    this._ensureGroup();
    this._group.insertBefore(nodes, before || null);
  }

  _fragment(html, live) {
    return enhance(sanitizeFragment(html), { live });
  }

  // While a reply streams, [^label] shows as a footnote reference before its definition
  // arrives (models define footnotes at the end); finish() makes it text if none came.
  _provisional(text, env) {
    if (this._final || !text.includes("[^")) return;
    for (const match of text.matchAll(/\[\^([^\]\s]+)\]/g)) {
      const key = ":" + match[1];
      if (!(key in env.footnotes.refs)) {
        env.footnotes.refs[key] = -1;
        env.provisional.add(match[1]);
      }
    }
  }

  /** Parses and renders finished markdown with the reply's env; notes new definitions. */
  _renderFinished(text, prepare) {
    const env = this._env;
    const references = Object.keys(env.references).length;
    const footnotes = env.footnoteLabels.size;
    this._provisional(text, env);
    const tokens = parse(text, env);
    if (prepare) prepare(tokens);
    const html = renderTokens(tokens, env);
    if (Object.keys(env.references).length !== references) {
      for (const label of Object.keys(env.references)) this._newLabels.add(label);
    }
    if (env.footnoteLabels.size !== footnotes) this._footnotesChanged = true;
    const cands = new Set([...referenceLabels(text)].filter((label) => !(label in env.references)));
    return { html, cands, fn: FOOTNOTE_MARK.test(text) };
  }

  _finishSegment(text) {
    const { html, cands, fn } = this._renderFinished(text);
    const record = { src: text, html, nodes: [], cands, fn };
    const shown = html ? this._tail.shift() : null;
    if (shown) this._tailKey = null;
    if (shown && shown.html === html) {
      // The tail already shows exactly this block: keep its nodes (and any selection).
      record.nodes = shown.nodes;
      for (const node of record.nodes) if (node.nodeType === 1) drawDiagrams(node);
    } else {
      if (shown) removeAll(shown.nodes);
      record.nodes = [...this._fragment(html, false).childNodes];
    }
    this._placeFinished(record.nodes);
    this._blocks.push(record);
  }

  _replaceBlock(record, html) {
    record.html = html;
    const nodes = [...this._fragment(html, false).childNodes];
    const first = record.nodes[0];
    if (first) {
      for (const node of nodes) first.parentNode.insertBefore(node, first);
      if (record.nodes.includes(this._lastFinished)) this._lastFinished = nodes[nodes.length - 1] || first.previousSibling;
    }
    removeAll(record.nodes);
    record.nodes = nodes;
  }

  _rerender(record) {
    const { html, cands } = this._renderFinished(record.src);
    record.cands = cands;
    if (html !== record.html) this._replaceBlock(record, html);
  }

  // A later definition changes earlier blocks: references by label, footnotes by number.
  _applyDefinitions() {
    const labels = this._newLabels;
    if (!labels.size && !this._footnotesChanged && !this._rerenderLive) return;
    const mentions = (record) => record.cands && [...record.cands].some((label) => labels.has(label));
    const hit = new Set(this._blocks.filter(mentions));
    const live = this._live && (this._rerenderLive || mentions(this._live));
    this._newLabels = new Set();
    this._rerenderLive = false;
    const renumber = this._footnotesChanged || [...hit].some((r) => r.fn) || (live && this._live.fn);
    this._footnotesChanged = false;
    if (renumber) {
      // Footnotes are numbered in order of first use: start again from the top.
      const env = this._env;
      env.footnotes = { refs: {}, list: [] };
      for (const label of env.footnoteLabels) env.footnotes.refs[":" + label] = -1;
      for (const record of this._blocks) if (record.fn || hit.has(record)) this._rerender(record);
      if (this._live && (this._live.fn || live)) this._live.rerenderFinished();
    } else {
      for (const record of hit) this._rerender(record);
      if (live) this._live.rerenderFinished();
    }
    this._version += 1;
    // Re-rendering can define more labels (a definition inside a re-rendered block): repeat.
    if (this._newLabels.size || this._footnotesChanged) this._applyDefinitions();
  }

  // ---------------------------------------------------------------- the live tail

  _displayParse(src) {
    const env = copyEnv(this._env);
    env.closeTail = true;
    this._provisional(src, env);
    const tokens = parse(src, env);
    this._displayEnv = env;
    return { tokens, env };
  }

  // A tail that costs more than a frame's budget to render (a very long paragraph, or text
  // that makes markdown-it work hard) is shown again only after 4 times that long: the page
  // stays responsive, and the tail updates a few times a second instead of every frame.
  _throttled() {
    if (this._final || this._flushing || this._tailCost <= ReplyRenderer.FRAME_BUDGET_MS) return false;
    if (performance.now() - this._tailAt >= 4 * this._tailCost) return false;
    this._deferred = true;
    return true;
  }

  _timed(render) {
    const began = performance.now();
    render();
    this._tailAt = began;
    this._tailCost = performance.now() - began;
  }

  _renderTail(text) {
    const display = holdBackLines(text);
    const key = this._version + "\u0000" + display;
    if (key === this._tailKey || this._throttled()) return;
    if (!display) this._displayEnv = null;
    this._timed(() => {
      const { tokens, env } = this._displayParse(display);
      this._showTail(groupsOf(tokens).map((group) => renderTokens(group, env)));
    });
    this._tailKey = key;
  }

  // Shows the tail's blocks, keeping the nodes of those whose HTML did not change.
  _showTail(htmls) {
    this._tailKey = null;
    const old = this._tail;
    let same = 0;
    while (same < old.length && same < htmls.length && old[same].html === htmls[same]) same++;
    if (same === old.length && same === htmls.length) return;
    let at = null;
    for (let i = same; i < old.length; i++) {
      if (old[i].nodes.length) {
        at = old[i].nodes[0];
        break;
      }
    }
    const next = old.slice(0, same);
    for (const html of htmls.slice(same)) {
      const fragment = html ? this._fragment(html, true) : document.createDocumentFragment();
      next.push({ html, nodes: [...fragment.childNodes] });
      this._insertLive(fragment, at);
    }
    for (const group of old.slice(same)) removeAll(group.nodes);
    this._tail = next;
  }

  _renderNotes(final) {
    const html = footnoteSection(this._displayEnv || this._env, { definedOnly: !final });
    if (html === this._notesHtml) return;
    this._notesHtml = html;
    const fragment = html ? this._fragment(html, !final) : document.createDocumentFragment();
    const nodes = [...fragment.childNodes];
    this.container.append(fragment);
    removeAll(this._notes);
    this._notes = nodes;
  }
}

ReplyRenderer.FRAME_BUDGET_MS = 3;

// ------------------------------------------------------------------ a growing list

class ListLive {
  constructor(renderer, start, token) {
    this.r = renderer;
    this.start = start;
    this.itemStart = start; // the first item not finished
    this.type = token.type;
    this.marker = token.markup;
    this.loose = false;
    this.list = null; // the <ul>/<ol>, once an item has been rendered
    this.nodes = []; // [list, "\n"]
    this.items = []; // finished <li> nodes (each with its "\n")
    this.finishedSrc = "";
    this.live = []; // <li> nodes of the item being written
    this.extra = []; // display-only blocks after the list (a partial next line)
    this.liveHtml = null;
    this.extraHtml = null;
    this.key = null;
    this.cands = new Set();
    this.fn = false;
  }

  first() {
    return this.nodes[0] || this.extra[0] || null;
  }

  record() {
    removeAll(this.live);
    removeAll(this.extra);
    return { src: this.r._src.slice(this.start, this.end), html: null, nodes: this.nodes, cands: this.cands, fn: this.fn };
  }

  _sameList(token) {
    return token.type === this.type && token.markup === this.marker;
  }

  update(final) {
    const r = this.r;
    const rest = r._src.slice(this.itemStart);
    const complete = final ? rest : rest.slice(0, rest.lastIndexOf("\n") + 1);
    if (complete) {
      const blocks = topBlocks(complete);
      const head = blocks[0];
      if (!head || head.start !== 0 || !this._sameList(head.token)) {
        this.end = this.itemStart; // cannot happen with an item start; end the list here
        return this.end;
      }
      const tokens = head.tokens;
      const close = closingIndex(tokens, head.index);
      const items = [];
      for (let i = head.index + 1; i < close; i++) {
        if (tokens[i].type === "list_item_open" && tokens[i].level === 1) items.push(tokens[i].map[0]);
      }
      if (!this.loose && isLoose(tokens, head.index, close)) {
        this.loose = true;
        this.rerenderFinished();
        // Rendering items again counted their footnote references again: renumber.
        if (this.fn) r._footnotesChanged = true;
      }
      const ended = final || blocks.length > 1;
      const offsets = lineOffsets(complete);
      const done = ended ? items.length : items.length - 1;
      for (let k = 0; k < done; k++) {
        if (!final && k > 0 && r._overBudget()) {
          this.itemStart += offsets[items[k]]; // the rest next frame
          r._more = true;
          return null;
        }
        const to = k + 1 < items.length ? offsets[items[k + 1]] : blocks.length > 1 ? offsets[blocks[1].start] : complete.length;
        this._finishItem(complete.slice(offsets[items[k]], to));
      }
      if (ended) {
        this.end = this.itemStart + (blocks.length > 1 ? offsets[blocks[1].start] : complete.length);
        return this.end;
      }
      this.itemStart += offsets[items[done]];
    }
    this._display(r._src.slice(this.itemStart));
    return null;
  }

  _render(text, display) {
    const r = this.r;
    const prepare = (tokens) => {
      if (this.loose) unhideParagraphs(tokens.slice(0, closingIndex(tokens, 0) + 1), 2);
    };
    if (!display) return r._renderFinished(text, prepare);
    const { tokens, env } = r._displayParse(text);
    const isList = tokens.length && this._sameList(tokens[0]);
    const close = isList ? closingIndex(tokens, 0) : -1;
    if (isList && this.loose) unhideParagraphs(tokens.slice(0, close + 1), 2);
    return {
      html: isList ? renderTokens(tokens.slice(0, close + 1), env) : "",
      extra: renderTokens(tokens.slice(close + 1), env),
    };
  }

  // The rendered list element of `html` (one list), made the live list if there is none yet.
  _listOf(html, live) {
    const fragment = this.r._fragment(html, live);
    const list = fragment.firstElementChild;
    if (!list || (list.tagName !== "UL" && list.tagName !== "OL")) return null;
    if (!this.list) {
      this.list = list.cloneNode(false);
      this.list.append(document.createTextNode("\n"));
      this.nodes = [this.list, document.createTextNode("\n")];
      this.r._placeFinished(this.nodes); // the list is finished to be, in place
    } else if (list.classList.length) {
      for (const name of list.classList) this.list.classList.add(name);
    }
    return list;
  }

  _itemsOf(list) {
    const nodes = [];
    for (const node of [...list.childNodes]) {
      if (node.nodeType === 1 || nodes.length) nodes.push(node);
    }
    return nodes; // from the first <li> on, with the "\n" after each
  }

  _finishItem(text) {
    const { html, cands, fn } = this._render(text, false);
    for (const label of cands) this.cands.add(label);
    this.fn ||= fn;
    this.finishedSrc += text;
    const list = this._listOf(html, false);
    if (!list) return;
    const nodes = this._itemsOf(list);
    for (const node of nodes) this.list.insertBefore(node, this.live[0] || null);
    this.items.push(...nodes);
    this.liveHtml = null;
    this.key = null;
  }

  rerenderFinished() {
    if (!this.finishedSrc) return;
    const { html, cands } = this._render(this.finishedSrc, false);
    this.cands = cands;
    const list = this._listOf(html, false);
    if (!list) return;
    const nodes = this._itemsOf(list);
    for (const node of nodes) this.list.insertBefore(node, this.items[0] || this.live[0] || null);
    removeAll(this.items);
    this.items = nodes;
  }

  _display(text) {
    const r = this.r;
    const display = holdBackLines(text);
    const key = `${r._version}\u0000${this.loose}\u0000${display}`;
    if (key === this.key || r._throttled()) return;
    this.key = key;
    let html;
    let extra;
    r._timed(() => ({ html, extra } = this._render(display, true)));
    if (html !== this.liveHtml) {
      this.liveHtml = html;
      const list = html ? this._listOf(html, true) : null;
      const nodes = list ? this._itemsOf(list) : [];
      for (const node of nodes) this.list.append(node);
      removeAll(this.live);
      this.live = nodes;
    }
    if (extra !== this.extraHtml) {
      this.extraHtml = extra;
      const fragment = extra ? r._fragment(extra, true) : document.createDocumentFragment();
      const nodes = [...fragment.childNodes];
      r._insertLive(fragment, this.extra[0] || r._tailFirst());
      removeAll(this.extra);
      this.extra = nodes;
    }
  }
}

// ------------------------------------------------------------------ a growing table

// Rows show once complete (holdBackLines), so a table has no live part: it appears with its
// first row (which, with the header, sizes its columns: enhance.js) and gains a row per line.
class TableLive {
  constructor(renderer, start, head) {
    this.r = renderer;
    this.start = start;
    this.head = head; // header and delimiter rows, with their newlines
    this.rowStart = start + head.length;
    this.finishedSrc = head;
    this.nodes = [];
    this.table = null;
    this.tbody = null;
    this.rowHead = head;
    this.cands = new Set();
    this.fn = false;
  }

  first() {
    return this.nodes[0] || null;
  }

  record() {
    if (!this.table) this._build("");
    return { src: this.r._src.slice(this.start, this.end), html: null, nodes: this.nodes, cands: this.cands, fn: this.fn };
  }

  update(final) {
    const rest = this.r._src.slice(this.rowStart);
    const complete = final ? rest : rest.slice(0, rest.lastIndexOf("\n") + 1);
    if (!complete) {
      if (!final) return null;
      this.end = this.rowStart;
      return this.end;
    }
    const blocks = topBlocks(this.head + complete);
    const rows = Math.max(0, blocks[0].end - 2);
    const offsets = lineOffsets(complete);
    const lineCount = offsets.length - (complete.endsWith("\n") ? 1 : 0);
    // A row that starts with \[ may yet be the start of display math ending the table.
    const open = final ? -1 : openBracketMath(complete.split("\n"));
    const ready = open === -1 ? rows : Math.min(rows, open);
    for (let k = 0; k < ready; k++) {
      if (!final && k > 0 && this.r._overBudget()) {
        this.rowStart += offsets[k]; // the rest next frame
        this.r._more = true;
        return null;
      }
      const line = complete.slice(offsets[k], offsets[k + 1] ?? complete.length);
      if (this.table) this._addRow(line);
      else this._build(line);
    }
    const read = offsets[ready] ?? complete.length;
    if (ready === rows && (final || rows < lineCount || blocks.length > 1)) {
      this.end = this.rowStart + read;
      return this.end;
    }
    this.rowStart += read;
    return null;
  }

  // The table with its header and first row (or none, if it ends without rows).
  _build(firstRow) {
    const r = this.r;
    const { html, cands, fn } = r._renderFinished(this.head + firstRow);
    for (const label of cands) this.cands.add(label);
    this.fn ||= fn;
    this.finishedSrc += firstRow;
    const fragment = r._fragment(html, false);
    this.nodes = [...fragment.childNodes];
    this.table = fragment.querySelector("table");
    this.tbody = this.table && this.table.querySelector("tbody");
    // Later rows are rendered under a header of plain cells (the same number): only the
    // delimiter row and the column count shape a row, and the real header's footnotes and
    // references must not be counted again for every row.
    const columns = this.table ? this.table.querySelectorAll("thead th").length : 0;
    this.rowHead = "|" + " h |".repeat(columns) + "\n" + this.head.split("\n")[1] + "\n";
    r._placeFinished(this.nodes);
  }

  _addRow(line) {
    const { html, cands, fn } = this.r._renderFinished(this.rowHead + line);
    for (const label of cands) this.cands.add(label);
    this.fn ||= fn;
    this.finishedSrc += line;
    const body = this.r._fragment(html, false).querySelector("tbody");
    if (!body) return;
    if (!this.tbody) {
      this.tbody = body;
      this.table.append(body, document.createTextNode("\n"));
    } else {
      this.tbody.append(...[...body.childNodes].slice(1)); // the row and its "\n"
    }
  }

  rerenderFinished() {
    if (!this.table) return;
    const { html, cands } = this.r._renderFinished(this.finishedSrc);
    this.cands = cands;
    const table = this.r._fragment(html, false).querySelector("table");
    if (!table) return;
    this.table.replaceChildren(...table.childNodes);
    this.tbody = this.table.querySelector("tbody");
  }
}

// ------------------------------------------------------------------ a growing code block

class FenceLive {
  constructor(renderer, start, token, opener) {
    this.r = renderer;
    this.start = start;
    this.marker = token.markup;
    this.pos = start + opener.length; // the next line to read
    const info = token.info ? unescapeAll(token.info).trim() : "";
    this.lang = info.split(/\s+/)[0];
    this.chunker = new CodeChunker(this.lang);
    const langClass = this.lang ? ` class="language-${escapeHtml(this.lang)}"` : "";
    const fragment = renderer._fragment(`<pre><code${langClass}></code></pre>\n`, true);
    this.nodes = [...fragment.childNodes];
    this.code = fragment.querySelector("code");
    this.block = this.nodes[0];
    this.preview = [];
    this.previewHtml = "";
    this.partial = document.createTextNode("");
    this.code.append(this.partial);
    renderer._placeFinished(this.nodes);
    this.cands = null;
    this.fn = false;
  }

  first() {
    return this.nodes[0];
  }

  record() {
    return { src: this.r._src.slice(this.start, this.end), html: null, nodes: this.nodes, cands: null, fn: false };
  }

  rerenderFinished() {}

  _append(html) {
    this.code.insertBefore(sanitizeFragment(html), this.preview[0] || this.partial);
  }

  _close(end) {
    removeAll(this.preview);
    this.partial.remove();
    const last = this.chunker.end();
    if (last) this.code.append(sanitizeFragment(last));
    if (this.block.nodeType === 1) drawDiagrams(this.block);
    this.end = end;
    return end;
  }

  update(final) {
    const src = this.r._src;
    let pos = this.pos;
    for (let newline = src.indexOf("\n", pos); newline !== -1; newline = src.indexOf("\n", pos)) {
      const line = src.slice(pos, newline);
      if (isFenceCloser(line, this.marker)) return this._close(newline + 1);
      const chunk = this.chunker.push(line + "\n");
      pos = newline + 1;
      if (chunk !== null) {
        this._append(chunk);
        removeAll(this.preview);
        this.preview = [];
        this.previewHtml = "";
        if (!final && this.r._overBudget()) {
          this.pos = pos; // the rest next frame
          this.r._more = true;
          return null;
        }
      }
    }
    if (pos !== this.pos) {
      // The line being written moved down: show it as a new node, not as one that shifted.
      const fresh = document.createTextNode("");
      this.partial.replaceWith(fresh);
      this.partial = fresh;
    }
    this.pos = pos;
    const partial = src.slice(pos);
    if (final) {
      if (partial && !isFenceCloser(partial, this.marker)) {
        const chunk = this.chunker.push(partial);
        if (chunk !== null) this._append(chunk);
      }
      return this._close(src.length);
    }
    const html = this.chunker.preview();
    if (html !== this.previewHtml) {
      this.previewHtml = html;
      const fragment = sanitizeFragment(html);
      const nodes = [...fragment.childNodes];
      this.code.insertBefore(fragment, this.partial);
      removeAll(this.preview);
      this.preview = nodes;
    }
    // A line that may be the closing fence is not shown.
    const shown = /^ {0,3}(`+|~+)[ \t]*$/.test(partial) && partial.trim()[0] === this.marker[0] ? "" : partial;
    if (this.partial.data !== shown) this.partial.data = shown;
    return null;
  }
}
