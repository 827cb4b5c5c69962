// The conversation list: pinned ones on top, the rest grouped by day (groups.js), the
// current conversation marked and moved to the top as it gets messages, a conversation
// created on this page added from the list's <template>, rename, pin, export and delete in
// each one's "⋯" menu (convmenu.js), Undo for a few seconds after a delete, and on narrow
// screens a drawer. The page holds the list's first page; the rest is fetched a page at a
// time as the list is scrolled near its end, or with its "Load more" button.

import { ConvMenu } from "./convmenu.js";
import { cloneTemplate } from "./dom.js";
import { regroup } from "./groups.js";
import { announce, showError } from "./notices.js";

const ID_PLACEHOLDER = "999999999"; // in the list's data-*-url
const LOAD_AHEAD = "0px 0px 300px 0px"; // fetch the next page this far before the end shows
const REGROUP_MS = 60000; // "Today" becomes "Yesterday" at midnight, with the tab open
const UNDO_KEY = "chat.undo"; // a delete of the page's own conversation, offered on the next

export class Sidebar {
  /** `ui`: {app, sidebar, toggle, close, backdrop, list, title}. */
  constructor(ui) {
    this.ui = ui;
    this.narrow = window.matchMedia("(max-width: 767.98px)");

    const list = ui.list;
    this.undo = null; // the Undo on offer: {toast, timer}
    this.deleting = new Set(); // ids deleted from this page (their `deleted` frame is ours)
    this.menu = new ConvMenu(list, { onAction: (action, li, item) => this.act(action, li, item) });
    // Keeps focus in the title box when Save is pressed (Safari does not focus buttons on
    // click, so focusout would cancel the rename before the click lands).
    list.addEventListener("mousedown", (event) => {
      const btn = event.target.closest(".conv-rename-btn");
      if (btn && btn.closest(".is-renaming")) event.preventDefault();
    });
    list.addEventListener("submit", (event) => this.onSubmit(event));
    list.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !event.target.classList.contains("conv-rename-input")) return;
      event.preventDefault();
      const form = event.target.form;
      this.cancelRename(form);
      form.closest(".conv-item").querySelector(".conv-menu-btn").focus();
    });
    list.addEventListener("focusout", (event) => {
      const form = event.target.closest(".conv-rename");
      if (form && !form.contains(event.relatedTarget)) this.cancelRename(form);
    });

    ui.toggle.addEventListener("click", () => this.setOpen(!ui.app.classList.contains("sidebar-open")));
    ui.close.addEventListener("click", () => this.closeDrawer());
    ui.backdrop.addEventListener("click", () => this.closeDrawer());
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.defaultPrevented || !this.narrow.matches) return;
      if (this.closeDrawer()) event.preventDefault(); // Esc did this, nothing else
    });
    this.narrow.addEventListener("change", () => this.setOpen(false));

    // A rename the server refused comes back as a notice in the page (chat.html).
    for (const close of document.querySelectorAll("#notices .notice-close")) {
      close.addEventListener("click", () => {
        close.closest(".notice").remove();
        document.getElementById("composer-input")?.focus();
      });
    }
    this.startPaging(ui.sidebar.querySelector(".conv-more"));
    this.regroup();
    window.setInterval(() => this.regroup(), REGROUP_MS);
    this.offerPendingUndo();
  }

  /** The list's data-<name>-url for conversation `id`, or "" if the site has none. */
  url(name, id) {
    const key = name.replace(/-(.)/g, (_, c) => c.toUpperCase()) + "Url";
    const url = this.ui.list.dataset[key];
    return url ? url.replace(ID_PLACEHOLDER, String(id)) : "";
  }

  regroup() {
    regroup(this.ui.list);
  }

  // ---------------------------------------------------------------- paging

  startPaging(more) {
    this.more = more;
    this.next = more?.dataset.next || null; // the cursor of the page to fetch next
    this.loading = false;
    this.failed = false; // stop fetching by scroll until the button is pressed
    if (!this.next) return;
    more.addEventListener("click", () => this.loadMore(true));
    if (!("IntersectionObserver" in window)) return; // the button alone, then
    this.observer = new IntersectionObserver(
      (entries) => {
        if (!this.failed && entries.some((entry) => entry.isIntersecting)) this.loadMore(false);
      },
      { root: more.closest(".conv-nav"), rootMargin: LOAD_AHEAD },
    );
    this.observer.observe(more);
  }

  /** The next page, added at the end. `byButton`: focus goes to its first conversation. */
  async loadMore(byButton) {
    if (this.loading || !this.next) return;
    this.loading = true;
    this.failed = false;
    const more = this.more;
    more.textContent = "Loading…";
    more.setAttribute("aria-busy", "true");
    let page = null;
    try {
      const url = new URL(this.ui.list.dataset.moreUrl, window.location.href);
      url.searchParams.set("after", this.next);
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      page = await response.json().catch(() => null);
      if (!response.ok || !page) throw new Error(page?.error || `HTTP ${response.status}`);
    } catch (error) {
      this.loading = false;
      this.failed = true;
      more.removeAttribute("aria-busy");
      more.textContent = "Load more (failed, try again)";
      const why = page?.error || "Check the connection and try again.";
      showError(`Could not load more conversations. ${why}`);
      return;
    }
    const added = this.append(page.conversations);
    this.next = page.next;
    this.loading = false;
    more.removeAttribute("aria-busy");
    more.textContent = "Load more";
    if (byButton) (added[0] || this.ui.list.lastElementChild)?.querySelector(".conv-link")?.focus();
    if (!this.next) {
      this.observer?.disconnect();
      more.hidden = true;
    } else if (this.observer) {
      // Observing afresh reports at once: if the end is still in view, the next page comes too.
      this.observer.unobserve(more);
      this.observer.observe(more);
    }
  }

  /** Items for `conversations` (newest first, all older than those shown), returned. One
   * already listed (moved to the top, or created on this page) is not listed twice; the
   * current one shown below the first page stays in its place, which the list has reached. */
  append(conversations) {
    const list = this.ui.list;
    const added = [];
    for (const conv of conversations) {
      const below = list.querySelector(".conv-item.is-below");
      const li = this.item(conv.id);
      if (li) {
        if (li === below) li.classList.remove("is-below");
        continue;
      }
      const built = this.build(conv);
      list.insertBefore(built, below);
      added.push(built);
    }
    this.regroup();
    return added;
  }

  // ---------------------------------------------------------------- the list

  item(id) {
    return this.ui.list.querySelector(`.conv-item[data-id="${Number(id)}"]`);
  }

  /** A `conversation` frame: `conv` was created or renamed; `current`: it is this page's. */
  conversation(conv, current) {
    let li = this.item(conv.id);
    if (li) this.setTitle(li, conv.title);
    else if (current) li = this.build(conv);
    if (!current) return;
    this.moveToTop(li);
    this.markCurrent(conv.id);
    this.ui.title.textContent = conv.title;
    document.title = `${conv.title} · Chat`;
  }

  build(conv) {
    const li = cloneTemplate("conv-item");
    li.dataset.id = String(conv.id);
    li.dataset.updated = conv.updated || new Date().toISOString();
    if (conv.pinned) li.dataset.pinned = li.dataset.updated; // its place among pins: unknown
    li.querySelector(".conv-link").href = conv.url;
    li.querySelector(".conv-rename").action = this.url("rename", conv.id);
    const input = li.querySelector(".conv-rename-input");
    input.id = `rename-${conv.id}`;
    li.querySelector(".conv-rename label").htmlFor = input.id;
    this.setTitle(li, conv.title);
    return li;
  }

  setTitle(li, title) {
    li.querySelector(".conv-link").textContent = title;
    li.querySelector(".conv-rename-input").value = title;
    li.querySelector(".conv-menu-btn").setAttribute("aria-label", `Options for “${title}”`);
  }

  /** `li` (or the item of the conversation with this id) got a message: it goes to the top
   * of the list, under the pinned ones (a pinned one stays where it is). */
  moveToTop(li) {
    if (typeof li === "number") li = this.item(li);
    if (!li) return;
    this.ui.list.querySelector(".conv-empty")?.remove();
    li.classList.remove("is-below"); // now the newest, in its place
    li.dataset.updated = new Date().toISOString();
    if (!li.dataset.pinned) {
      const first = this.unpinned().find((other) => other !== li);
      if (first) first.before(li);
      else this.ui.list.append(li);
    } else if (!li.isConnected) {
      this.ui.list.prepend(li);
    }
    this.regroup();
  }

  unpinned() {
    return [...this.ui.list.querySelectorAll(":scope > .conv-item:not([data-pinned]):not(.is-below)")];
  }

  /** Put `li` where it belongs: among the pinned ones by when they were pinned, or among
   * the others by when they were updated. Returns false when it belongs after everything
   * loaded so far, with more to load: it is left out, and comes with its page. */
  place(li) {
    const list = this.ui.list;
    list.querySelector(".conv-empty")?.remove();
    const after = (a, b) => a.updated > b.updated || (a.updated === b.updated && a.id > b.id);
    const key = (item) => ({ updated: Date.parse(item.dataset.updated), id: Number(item.dataset.id) });
    li.remove();
    if (li.dataset.pinned) {
      const pins = [...list.querySelectorAll(":scope > .conv-item[data-pinned]")];
      const pinned = (item) => Date.parse(item.dataset.pinned);
      const before = pins.find((other) => pinned(other) < pinned(li));
      if (before) before.before(li);
      else if (pins.length) pins.at(-1).after(li);
      else list.prepend(li);
      return true;
    }
    const before = this.unpinned().find((other) => after(key(li), key(other)));
    if (before) {
      before.before(li);
      return true;
    }
    if (this.next) return false;
    list.insertBefore(li, list.querySelector(":scope > .conv-item.is-below"));
    return true;
  }

  /** The conversation with this id leaves the list (deleted in another tab). */
  remove(id) {
    const li = this.item(id);
    if (!li) return;
    if (this.menu.isOpen && li.contains(this.menu.menu)) this.menu.close(false);
    li.remove();
    this.regroup();
  }

  markCurrent(id) {
    for (const li of this.ui.list.querySelectorAll(".conv-item")) {
      const current = li.dataset.id === String(id);
      li.classList.toggle("is-current", current);
      const link = li.querySelector(".conv-link");
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // ---------------------------------------------------------------- the ⋯ menu's actions

  act(action, li, item) {
    if (action === "rename") this.startRename(li.querySelector(".conv-rename"));
    else if (action === "pin") this.setPinned(li, !li.dataset.pinned);
    else if (action === "export") window.location.assign(this.url(`export-${item.dataset.format}`, li.dataset.id));
    else if (action === "delete") this.delete(li);
  }

  /** POST to one of the list's URLs; the answer's JSON, or null once the error is shown. */
  async post(url, fields, failed) {
    let data = null;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRFToken": this.ui.list.dataset.csrf },
        body: new URLSearchParams(fields),
      });
      data = await response.json().catch(() => null);
      if (!response.ok || !data) throw new Error();
      return data;
    } catch {
      showError(`${failed} ${data?.error || "Check the connection and try again."}`);
      return null;
    }
  }

  async setPinned(li, pinned) {
    const title = li.querySelector(".conv-link").textContent;
    const data = await this.post(this.url("pin", li.dataset.id), { pinned: pinned ? "1" : "0" },
      `Could not ${pinned ? "pin" : "unpin"} “${title}”.`);
    if (!data) return;
    if (pinned) li.dataset.pinned = new Date().toISOString();
    else delete li.dataset.pinned;
    li.dataset.updated = data.conversation.updated;
    const shown = this.place(li);
    this.regroup();
    announce(pinned ? `Pinned “${title}”.` : `Unpinned “${title}”.`);
    if (shown) li.querySelector(".conv-menu-btn").focus();
    else this.ui.list.querySelector(".conv-item .conv-link")?.focus();
  }

  // ---------------------------------------------------------------- delete and Undo

  /** Delete at once, with Undo on offer; the page's own conversation: the page leaves it,
   * and the next page offers the Undo. */
  async delete(li) {
    const id = li.dataset.id;
    const title = li.querySelector(".conv-link").textContent;
    this.deleting.add(Number(id));
    const data = await this.post(this.url("delete", id), {}, `Could not delete “${title}”.`);
    if (!data) {
      this.deleting.delete(Number(id));
      return;
    }
    const offer = { id, title, url: data.conversation.url, undoUrl: data.undo_url,
      until: Date.now() + data.undo_seconds * 1000 };
    if (li.classList.contains("is-current")) {
      try {
        window.sessionStorage.setItem(UNDO_KEY, JSON.stringify(offer));
      } catch {
        // no storage: the delete stands without its Undo
      }
      window.location.assign(this.ui.sidebar.querySelector(".new-chat").href);
      return;
    }
    const items = [...this.ui.list.querySelectorAll(":scope > .conv-item")];
    const at = items.indexOf(li);
    const next = items[at + 1] || items[at - 1];
    li.remove();
    this.regroup();
    this.offerUndo(offer, li);
    if (!this.undo) (next?.querySelector(".conv-link") || document.getElementById("composer-input"))?.focus();
  }

  offerPendingUndo() {
    let offer = null;
    try {
      offer = JSON.parse(window.sessionStorage.getItem(UNDO_KEY) || "null");
      window.sessionStorage.removeItem(UNDO_KEY);
    } catch {
      return;
    }
    if (offer && offer.until > Date.now()) this.offerUndo(offer, null);
  }

  /** "Deleted “…”. Undo" until `offer.until`; `li`: the item to put back (none: reload). */
  offerUndo(offer, li) {
    this.dismissUndo(false);
    const toast = cloneTemplate("undo-toast");
    toast.querySelector(".toast-text").textContent = `Deleted “${offer.title}”.`;
    const button = toast.querySelector(".toast-undo");
    button.setAttribute("aria-label", `Undo deleting “${offer.title}”`);
    button.addEventListener("click", () => this.restore(offer, li));
    toast.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      this.dismissUndo(true);
    });
    document.getElementById("toasts").append(toast);
    this.undo = { toast, timer: window.setTimeout(() => this.dismissUndo(true), offer.until - Date.now()) };
    button.focus();
  }

  /** The Undo goes; `refocus`: a keyboard on it goes to the message box. */
  dismissUndo(refocus) {
    if (!this.undo) return;
    const { toast, timer } = this.undo;
    this.undo = null;
    window.clearTimeout(timer);
    const hadFocus = toast.contains(document.activeElement);
    toast.remove();
    if (refocus && hadFocus) document.getElementById("composer-input")?.focus();
  }

  async restore(offer, li) {
    const button = this.undo?.toast.querySelector(".toast-undo");
    if (button) button.disabled = true;
    const data = await this.post(offer.undoUrl, {}, `Could not bring back “${offer.title}”.`);
    this.dismissUndo(false);
    if (!data) {
      document.getElementById("composer-input")?.focus();
      return;
    }
    if (!li) {
      window.location.assign(data.conversation.url); // the page's own, left on delete
      return;
    }
    li.dataset.updated = data.conversation.updated;
    const shown = this.place(li);
    this.regroup();
    announce(`Restored “${offer.title}”.`);
    (shown ? li.querySelector(".conv-link") : document.getElementById("composer-input"))?.focus();
  }

  // ---------------------------------------------------------------- rename

  startRename(form) {
    const li = form.closest(".conv-item");
    const input = form.querySelector(".conv-rename-input");
    li.classList.add("is-renaming");
    input.value = li.querySelector(".conv-link").textContent;
    input.focus();
    input.select();
  }

  cancelRename(form) {
    const li = form.closest(".conv-item");
    if (!li.classList.contains("is-renaming")) return;
    li.classList.remove("is-renaming");
    form.querySelector(".conv-rename-input").value = li.querySelector(".conv-link").textContent;
  }

  onSubmit(event) {
    const form = event.target;
    const li = form.closest(".conv-item");
    const title = li.querySelector(".conv-link").textContent;
    const input = form.querySelector(".conv-rename-input");
    const wanted = input.value.trim();
    if (!li.classList.contains("is-renaming") || !wanted || wanted === title) {
      event.preventDefault();
      this.cancelRename(form);
    }
  }

  // ---------------------------------------------------------------- the drawer

  setOpen(open) {
    const { app, toggle, backdrop, sidebar } = this.ui;
    app.classList.toggle("sidebar-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    backdrop.hidden = !open;
    if (open) (sidebar.querySelector(".is-current .conv-link") || sidebar.querySelector("a")).focus();
  }

  /** Close the drawer if it is open; true if it was. */
  closeDrawer() {
    if (!this.ui.app.classList.contains("sidebar-open")) return false;
    this.setOpen(false);
    if (this.narrow.matches) this.ui.toggle.focus();
    return true;
  }
}
