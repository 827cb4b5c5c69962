// The thread: the conversation's messages, built from the page data at once and then kept
// matching what the server says (docs/protocol.md). A message already shown is updated in
// place, never rebuilt: a reconnect leaves finished replies exactly as they are, with the
// reader's selection and opened tool calls. A streaming reply grows by the frames' text,
// continued at its offset, and is rendered by the renderer as it grows.

import { copyFrom, editRefused, neighbour, showActions, showModel, startEditing } from "./actions.js";
import { cloneTemplate } from "./dom.js";
import { announce } from "./notices.js";
import { ReplyRenderer, renderInto } from "./render/markdown.js";
import { ToolCalls } from "./tools.js";
import { NOTICES, STATUS } from "./vocabulary.js";

const FOLLOW_SLACK_PX = 40; // this close to the bottom counts as "reading the latest"

function shown(m) {
  return m.role === "user" || m.role === "assistant";
}

function sameTools(a, b) {
  const key = (calls) => JSON.stringify(
    (calls || []).map((c) => [c.index, c.name, c.arguments, c.state, c.duration_ms ?? null, c.result || ""]),
  );
  return key(a) === key(b);
}

class UserMessage {
  constructor(m) {
    this.id = m.id;
    this.role = "user";
    this.node = cloneTemplate("user-message");
    this.node.dataset.id = String(m.id);
    this.update(m);
  }

  update(m) {
    this.content = m.content;
    const body = this.node.querySelector(".msg-text");
    if (body.textContent !== m.content) body.textContent = m.content; // plain text, never markdown
    showActions(this, m);
  }

  get copyable() {
    return this.content;
  }
}

class Reply {
  constructor(m) {
    this.id = m.id;
    this.role = "assistant";
    this.node = cloneTemplate("assistant-message");
    this.node.dataset.id = String(m.id);
    this.tools = new ToolCalls(this.node.querySelector(".msg-tools"));
    this.text = ""; // the markdown source held, as the server counts it (UTF-16 units)
    this.renderer = null; // while it streams
    this.lastSeq = 0;
    this.status = "";
    this.error = "";
    this.showText(m.content || "", m.status === STATUS.STREAMING);
    if (m.tool_calls) this.tools.replace(m.tool_calls);
    this.setStatus(m.status, m.error);
    showActions(this, m);
  }

  get copyable() {
    return this.text; // the markdown source, as the model wrote it
  }

  get streaming() {
    return this.status === STATUS.STREAMING;
  }

  /** Render `text` afresh, in a new container: a renderer still busy with the old one
   * cannot write over it. */
  showText(text, streaming) {
    const old = this.node.querySelector(".md");
    const md = document.createElement("div");
    md.className = "md";
    old.replaceWith(md);
    this.text = text;
    this.renderer = null;
    const docId = `msg-${this.id}`; // footnote ids, unique on the page
    if (streaming) {
      this.renderer = new ReplyRenderer(md, { docId });
      if (text) this.renderer.append(text);
    } else {
      renderInto(md, text, { docId });
    }
  }

  append(piece) {
    if (!this.renderer) {
      this.showText(this.text + piece, true);
      return;
    }
    this.text += piece;
    this.renderer.append(piece);
  }

  finishText() {
    if (this.renderer) this.renderer.finish();
    this.renderer = null;
  }

  setStatus(status, error) {
    error = error || "";
    if (this.status === status && this.error === error) return;
    this.status = status;
    this.error = error;
    this.node.dataset.status = status;
    this.node.querySelector(":scope > .msg-notice")?.remove();
    const words = NOTICES[status];
    if (!words) return;
    const notice = cloneTemplate("msg-notice");
    notice.dataset.kind = status;
    // A stopped reply says so in its own words; a failed one says why, if it knows.
    notice.querySelector(".msg-notice-text").textContent =
      status === STATUS.STOPPED ? words : error || words;
    if (status === STATUS.STOPPED) notice.querySelector(".msg-retry").remove();
    const actions = this.node.querySelector(":scope > .msg-actions");
    if (actions) actions.before(notice);
    else this.node.append(notice);
  }

  /** Make this reply match the server's copy of it, touching only what differs. */
  update(m) {
    if (m.status === STATUS.STREAMING) {
      // Its text comes in frames; the copy's `content` is empty. Keep what we hold.
      if (!this.streaming) this.showText("", true);
      if (m.tool_calls) this.tools.replace(m.tool_calls);
    } else {
      const content = m.content || "";
      if (content !== this.text) {
        if (this.renderer && content.startsWith(this.text)) this.append(content.slice(this.text.length));
        else this.showText(content, false);
      }
      this.finishText();
      if (!sameTools(this.tools.list, m.tool_calls)) this.tools.replace(m.tool_calls || []);
    }
    this.setStatus(m.status, m.error);
    showActions(this, m);
  }

  /** Apply a frame (docs/protocol.md, "Frames"). Returns "resync" when frames were missed,
   * "ended" when this frame ended the reply, or "" otherwise. */
  applyFrame(f) {
    if (!(f.seq > this.lastSeq)) return ""; // a duplicate
    if (typeof f.text === "string") {
      const held = this.text.length;
      if (f.offset > held) return "resync";
      const fresh = f.text.slice(held - f.offset); // what we hold already is dropped
      if (fresh) this.append(fresh);
    }
    if (Array.isArray(f.tools) && !this.tools.apply(f.tools)) return "resync";
    this.lastSeq = f.seq;
    if (typeof f.status !== "string") return "";
    if (typeof f.length === "number" && f.length !== this.text.length) return "resync";
    const wasStreaming = this.streaming;
    this.finishText();
    this.setStatus(f.status, f.error);
    if (typeof f.model === "string") showModel(this, f.model);
    return wasStreaming && !this.streaming ? "ended" : "";
  }
}

function build(m) {
  return m.role === "user" ? new UserMessage(m) : new Reply(m);
}

export class Thread {
  /** `ui`: {scroller, messages, empty, jump}. What the reader asks for, each returning
   * true once it is on its way: `onRetry(button, id)` (a Retry under reply `id`),
   * `onRegenerate(id)`, `onEdit(id, text)`, `onSwitch(id)` (show that version). */
  constructor(ui, { onRetry, onRegenerate, onEdit, onSwitch }) {
    this.ui = ui;
    this.items = new Map(); // message id -> UserMessage | Reply
    this.follow = true; // keep the newest text in view while the reader is at the bottom
    this.onEdit = onEdit;
    this.refocus = null; // after a switch: the version nav to give the focus back to
    ui.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    ui.jump.addEventListener("click", () => this.jumpToLatest());
    ui.messages.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      const node = button?.closest(".msg");
      const item = node ? this.items.get(Number(node.dataset.id)) : null;
      if (!item) return;
      if (button.matches(".msg-retry")) onRetry(button, item.id);
      else if (button.matches(".msg-copy")) copyFrom(button, item.copyable);
      else if (button.matches(".msg-edit")) this.edit(item);
      else if (button.matches(".msg-regenerate")) onRegenerate(item.id);
      else if (button.matches(".msg-prev, .msg-next")) {
        const which = button.matches(".msg-prev") ? ".msg-prev" : ".msg-next";
        const target = neighbour(item, which === ".msg-prev" ? -1 : 1);
        if (target !== null && onSwitch(target)) this.refocus = { id: target, which };
      }
    });
    // Replies grow on the renderer's animation frames, not when a frame arrives: follow
    // the growth itself (and the window's size).
    const observer = new ResizeObserver(() => this.contentChanged());
    observer.observe(ui.messages);
    observer.observe(ui.scroller);
  }

  /** The page data's messages, at once. */
  load(messages) {
    this.history(messages);
    this.scrollToBottom();
  }

  /** Make the list match `messages` (a `history`): same ids in the same order, each one
   * updated in place; those gone are removed. */
  history(messages) {
    const wanted = messages.filter(shown);
    const ids = new Set(wanted.map((m) => m.id));
    for (const [id, item] of this.items) {
      if (!ids.has(id)) {
        item.node.remove();
        this.items.delete(id);
      }
    }
    let cursor = this.ui.messages.firstElementChild;
    for (const m of wanted) {
      let item = this.items.get(m.id);
      if (item && item.role === m.role) {
        item.update(m);
      } else {
        item?.node.remove();
        item = build(m);
        this.items.set(m.id, item);
      }
      // The snapshot that follows a history starts the reply's frames again.
      if (item.role === "assistant") item.lastSeq = 0;
      if (item.node === cursor) cursor = cursor.nextElementSibling;
      else this.ui.messages.insertBefore(item.node, cursor); // moved only when out of place
    }
    this.changed();
    this.giveBackFocus();
  }

  /** A keyboard reader who moved to another version keeps the focus on its ‹ › buttons. */
  giveBackFocus() {
    const wanted = this.refocus;
    const item = wanted && this.items.get(wanted.id);
    if (!item) return;
    this.refocus = null;
    const nav = item.node.querySelector(".msg-versions");
    const button = nav.querySelector(`${wanted.which}:not(:disabled)`) || nav.querySelector("button:not(:disabled)");
    button?.focus({ preventScroll: true });
    announce(`Showing version ${item.version} of ${item.versions.length}.`);
  }

  /** Open a user message's text for editing, in place. */
  edit(item) {
    startEditing(item, item.content, (text) => this.onEdit(item.id, text));
  }

  /** ↑ in an empty message box: edit the last message the user sent on this branch. */
  editLast() {
    const nodes = this.ui.messages.querySelectorAll(':scope > .msg[data-role="user"]');
    const item = nodes.length ? this.items.get(Number(nodes[nodes.length - 1].dataset.id)) : null;
    if (!item) return false;
    this.edit(item);
    return true;
  }

  /** The server refused a frame: an edit's editor can send again, and a refused switch
   * leaves the focus where it is. */
  refused() {
    editRefused(this.ui.messages);
    this.refocus = null;
  }

  /** A `message`: insert it, or update the one with its id. */
  upsert(m) {
    if (!shown(m)) return;
    const item = this.items.get(m.id);
    if (item && item.role === m.role) {
      item.update(m);
    } else {
      item?.node.remove();
      const fresh = build(m);
      this.items.set(m.id, fresh);
      this.ui.messages.append(fresh.node);
    }
    this.changed();
  }

  /** A `frame`: "resync", "ended" or "" (see Reply.applyFrame). */
  frame(f) {
    const reply = this.items.get(f.message);
    if (!reply || reply.role !== "assistant") return "resync"; // its `message` never came
    return reply.applyFrame(f);
  }

  reply(id) {
    const item = this.items.get(id);
    return item?.role === "assistant" ? item : null;
  }

  /** The reply being written, if the page shows one. */
  streamingReply() {
    let found = null;
    for (const item of this.items.values()) if (item.role === "assistant" && item.streaming) found = item;
    return found;
  }

  /** What to name in `open`'s `resume`: the streaming reply and how much of it is held. */
  resume() {
    const reply = this.streamingReply();
    return reply ? { message: reply.id, offset: reply.text.length } : null;
  }

  enableRetry() {
    for (const btn of this.ui.messages.querySelectorAll(".msg-retry:disabled")) btn.disabled = false;
  }

  // ---------------------------------------------------------------- scrolling

  changed() {
    this.ui.empty.hidden = this.items.size > 0;
    this.contentChanged();
  }

  nearBottom() {
    const s = this.ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= FOLLOW_SLACK_PX;
  }

  scrollToBottom() {
    this.ui.scroller.scrollTop = this.ui.scroller.scrollHeight;
  }

  onScroll() {
    this.follow = this.nearBottom();
    this.ui.jump.hidden = this.follow;
  }

  // After anything in the thread grows: follow only a reader who is at the bottom.
  contentChanged() {
    if (this.follow) this.scrollToBottom();
    else this.ui.jump.hidden = this.nearBottom();
  }

  /** The reader sent something: show the latest and follow it again. */
  followLatest() {
    this.follow = true;
    this.scrollToBottom();
    this.ui.jump.hidden = true;
  }

  jumpToLatest() {
    this.followLatest();
    document.getElementById("composer-input").focus();
  }
}
