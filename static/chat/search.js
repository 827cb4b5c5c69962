// Search over the user's own conversations: a dialog opened by Ctrl+K (Cmd+K on macOS) or
// the sidebar's button, results as the user types (chat/search.py through the `search/`
// view), arrow keys to move, Enter to open the conversation at the message. And on the
// conversation's page, the message named in the address (#m<id>) scrolled to and marked
// once the thread has it.
//
// Snippets come as segments of text, some marked: built here with text nodes and <mark>
// elements, so nothing a message says is ever read as markup.

import { cloneTemplate } from "./dom.js";
import { combo, registerShortcut } from "./shortcuts.js";

const DEBOUNCE_MS = 150;
const FIND_MESSAGE_FOR_MS = 15000; // an older message may come with the socket's history
const HOLD_SCROLL_MS = 1500; // the thread may still be following its end: keep the message in view

/** `parent` filled with `segments` ([{text, mark}]): marked ones in <mark>, all as text. */
function fillSegments(parent, segments) {
  parent.replaceChildren(
    ...segments.map((segment) => {
      if (!segment.mark) return document.createTextNode(segment.text);
      const mark = document.createElement("mark");
      mark.textContent = segment.text;
      return mark;
    }),
  );
}

function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

let instance = null;

/** Open the search dialog (for other modules: a list of shortcuts, a menu). */
export function openSearch() {
  instance?.open();
}

export class Search {
  /** `button`: the sidebar's search button; `url`: the search view's address;
   * `messages`: the thread's list of messages (for #m<id>). */
  constructor({ button, url, messages }) {
    this.button = button;
    this.url = url;
    this.messages = messages;
    this.dialog = null; // built from its <template> on first use
    this.results = [];
    this.active = -1;
    this.timer = 0;
    this.latest = 0; // the number of the newest request: older answers are dropped
    this.controller = null;
    this.returnFocus = null;
    instance = this;

    button?.addEventListener("click", () => this.open());
    // Ctrl+K (⌘K) in the page's one shortcut registry; the browser's own Ctrl+K would go to
    // its address bar.
    registerShortcut("search", {
      keys: ["Ctrl", "K"],
      label: "Search conversations",
      matches: combo("Ctrl+K"),
      inFields: true,
      run: () => (this.dialog?.open ? this.input.select() : this.open()),
    });
    window.addEventListener("hashchange", () => this.showMessageFromAddress());
    this.showMessageFromAddress();
  }

  // ---------------------------------------------------------------- the dialog

  build() {
    const dialog = cloneTemplate("search-dialog");
    document.body.append(dialog);
    this.dialog = dialog;
    this.input = dialog.querySelector(".search-input");
    this.list = dialog.querySelector(".search-results");
    this.status = dialog.querySelector(".search-status");
    this.input.addEventListener("input", () => this.typed());
    this.input.addEventListener("keydown", (event) => this.key(event));
    // Escape closes the dialog and nothing else: not the page's other Escape shortcuts.
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "Escape") event.stopPropagation();
    });
    this.list.addEventListener("click", (event) => {
      const item = event.target.closest(".search-result");
      if (item) this.go(Number(item.dataset.index));
    });
    dialog.querySelector(".search-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close(); // a click on the backdrop
    });
    dialog.addEventListener("close", () => {
      window.clearTimeout(this.timer);
      this.controller?.abort();
      this.latest += 1;
      const back = this.returnFocus;
      this.returnFocus = null;
      if (back && back.isConnected) back.focus();
    });
  }

  open() {
    if (!this.dialog) this.build();
    if (this.dialog.open) return;
    this.returnFocus = document.activeElement;
    this.dialog.showModal();
    this.input.focus();
    this.input.select();
  }

  typed() {
    window.clearTimeout(this.timer);
    const query = this.input.value;
    if (!query.trim()) {
      this.latest += 1; // an answer on its way is for text no longer there
      this.controller?.abort();
      this.show([]);
      this.say("");
      return;
    }
    this.timer = window.setTimeout(() => this.fetch(query), DEBOUNCE_MS);
  }

  async fetch(query) {
    const number = ++this.latest;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.list.setAttribute("aria-busy", "true");
    let answer;
    try {
      const response = await fetch(`${this.url}?${new URLSearchParams({ q: query })}`, {
        headers: { Accept: "application/json" },
        signal: controller.signal,
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({}));
      answer = response.ok ? body : { error: body.error || `The search failed (${response.status}).` };
    } catch (error) {
      if (error.name === "AbortError") return;
      answer = { error: "The search could not reach the server. Check the connection." };
    }
    if (number !== this.latest) return; // a newer search was asked for meanwhile
    this.list.removeAttribute("aria-busy");
    if (answer.error) {
      this.show([]);
      this.say(answer.error, "error");
      return;
    }
    const results = Array.isArray(answer.results) ? answer.results : [];
    this.show(results);
    if (!results.length) this.say("No conversations match.");
    else this.say(results.length === 1 ? "1 conversation" : `${results.length} conversations`);
  }

  say(text, kind = "") {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  show(results) {
    this.results = results;
    this.list.replaceChildren(
      ...results.map((result, index) => {
        const item = cloneTemplate("search-result");
        item.id = `search-result-${index}`;
        item.dataset.index = String(index);
        fillSegments(item.querySelector(".search-result-title"), result.title || []);
        const snippet = item.querySelector(".search-result-snippet");
        if (result.snippet?.length) fillSegments(snippet, result.snippet);
        else snippet.remove();
        const who = result.role === "user" ? "You" : result.role === "assistant" ? "Assistant" : "Title";
        item.querySelector(".search-result-meta").textContent = `${who} · ${when(result.when)}`;
        return item;
      }),
    );
    this.list.hidden = !results.length;
    this.input.setAttribute("aria-expanded", results.length ? "true" : "false");
    this.activate(results.length ? 0 : -1);
  }

  activate(index) {
    const items = this.list.children;
    if (this.active >= 0 && items[this.active]) items[this.active].setAttribute("aria-selected", "false");
    this.active = index;
    if (index < 0) {
      this.input.removeAttribute("aria-activedescendant");
      return;
    }
    const item = items[index];
    item.setAttribute("aria-selected", "true");
    this.input.setAttribute("aria-activedescendant", item.id);
    item.scrollIntoView({ block: "nearest" });
  }

  key(event) {
    const count = this.results.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!count) return;
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.activate((this.active + step + count) % count);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (this.active >= 0) this.go(this.active);
    }
    // Escape: the <dialog> closes itself (its `close` handler puts focus back).
  }

  go(index) {
    const result = this.results[index];
    if (!result) return;
    const target = new URL(result.url, window.location.href);
    this.dialog.close();
    if (target.pathname === window.location.pathname && target.hash === window.location.hash) {
      this.showMessageFromAddress(); // the same place again: show it again
    } else {
      window.location.assign(target.href); // only the hash changes within the same page
    }
  }

  // ---------------------------------------------------------------- #m<id>

  /** Scroll to the message named by the address (#m<id>) and mark it, once it is in the
   * thread: the page holds only the newest messages, the socket's history brings older
   * ones a moment later. */
  showMessageFromAddress() {
    this.observer?.disconnect();
    const match = /^#m(\d+)$/.exec(window.location.hash);
    if (!match || !this.messages) return;
    const selector = `article[data-id="${match[1]}"]`;
    const found = () => {
      const node = this.messages.querySelector(selector);
      if (!node) return false;
      this.observer?.disconnect();
      this.mark(node);
      return true;
    };
    if (found()) return;
    this.observer = new MutationObserver(found);
    this.observer.observe(this.messages, { childList: true });
    window.setTimeout(() => this.observer?.disconnect(), FIND_MESSAGE_FOR_MS);
  }

  mark(node) {
    for (const old of this.messages.querySelectorAll(".msg.is-found")) old.classList.remove("is-found");
    node.classList.add("is-found");
    node.scrollIntoView({ block: "center" });
    // The thread follows its end while the reader is there, and the history or a reply
    // may still be growing it: keep the message in view until the reader scrolls.
    const until = performance.now() + HOLD_SCROLL_MS;
    let stopped = false;
    const stop = () => { stopped = true; };
    for (const type of ["wheel", "touchstart", "keydown", "mousedown"]) {
      window.addEventListener(type, stop, { once: true, passive: true });
    }
    const hold = () => {
      if (stopped || !node.isConnected || performance.now() > until) return;
      const box = node.getBoundingClientRect();
      const view = node.closest(".scroller")?.getBoundingClientRect() || { top: 0, bottom: window.innerHeight };
      if (box.bottom < view.top || box.top > view.bottom) node.scrollIntoView({ block: "center" });
      window.requestAnimationFrame(hold);
    };
    window.requestAnimationFrame(hold);
  }
}
