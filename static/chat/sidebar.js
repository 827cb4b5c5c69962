// The conversation list: the current conversation marked and moved to the top as it gets
// messages, a conversation created on this page added from the list's <template>, rename
// and delete through the list's own forms, and on narrow screens a drawer. The page holds
// the list's first page; the rest is fetched a page at a time as the list is scrolled near
// its end, or with its "Load more" button.

import { cloneTemplate } from "./dom.js";
import { showError } from "./notices.js";

const ID_PLACEHOLDER = "999999999"; // in the list's data-rename-url / data-delete-url
const LOAD_AHEAD = "0px 0px 300px 0px"; // fetch the next page this far before the end shows

export class Sidebar {
  /** `ui`: {app, sidebar, toggle, close, backdrop, list, title}. */
  constructor(ui) {
    this.ui = ui;
    this.narrow = window.matchMedia("(max-width: 767.98px)");

    const list = ui.list;
    list.addEventListener("click", (event) => {
      const btn = event.target.closest(".conv-rename-btn");
      if (!btn) return;
      if (btn.closest(".conv-item").classList.contains("is-renaming")) btn.form.requestSubmit();
      else this.startRename(btn.form);
    });
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
      form.querySelector(".conv-rename-btn").focus();
    });
    list.addEventListener("focusout", (event) => {
      const form = event.target.closest(".conv-rename");
      if (form && !form.contains(event.relatedTarget)) this.cancelRename(form);
    });

    ui.toggle.addEventListener("click", () => this.setOpen(!ui.app.classList.contains("sidebar-open")));
    ui.close.addEventListener("click", () => this.closeDrawer());
    ui.backdrop.addEventListener("click", () => this.closeDrawer());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.narrow.matches) this.closeDrawer();
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
    li.querySelector(".conv-link").href = conv.url;
    const url = (attr) => this.ui.list.dataset[attr].replace(ID_PLACEHOLDER, String(conv.id));
    li.querySelector(".conv-rename").action = url("renameUrl");
    li.querySelector(".conv-delete").action = url("deleteUrl");
    const input = li.querySelector(".conv-rename-input");
    input.id = `rename-${conv.id}`;
    li.querySelector(".conv-rename label").htmlFor = input.id;
    this.setTitle(li, conv.title);
    return li;
  }

  setTitle(li, title) {
    li.querySelector(".conv-link").textContent = title;
    li.querySelector(".conv-rename-input").value = title;
    li.querySelector(".conv-rename-btn").setAttribute("aria-label", `Rename “${title}”`);
    li.querySelector(".conv-delete-btn").setAttribute("aria-label", `Delete “${title}”`);
  }

  /** `li` (or the item of the conversation with this id) goes to the top of the list. */
  moveToTop(li) {
    if (typeof li === "number") li = this.item(li);
    if (!li) return;
    this.ui.list.querySelector(".conv-empty")?.remove();
    li.classList.remove("is-below"); // now the newest, in its place
    if (this.ui.list.firstElementChild !== li) this.ui.list.prepend(li);
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

  // ---------------------------------------------------------------- rename and delete

  startRename(form) {
    const li = form.closest(".conv-item");
    const input = form.querySelector(".conv-rename-input");
    li.classList.add("is-renaming");
    input.hidden = false;
    input.value = li.querySelector(".conv-link").textContent;
    form.querySelector(".conv-rename-btn").textContent = "Save";
    input.focus();
    input.select();
  }

  cancelRename(form) {
    const li = form.closest(".conv-item");
    if (!li.classList.contains("is-renaming")) return;
    li.classList.remove("is-renaming");
    const input = form.querySelector(".conv-rename-input");
    input.hidden = true;
    input.value = li.querySelector(".conv-link").textContent;
    form.querySelector(".conv-rename-btn").textContent = "Rename";
  }

  onSubmit(event) {
    const form = event.target;
    const li = form.closest(".conv-item");
    const title = li.querySelector(".conv-link").textContent;
    if (form.classList.contains("conv-delete")) {
      if (!window.confirm(`Delete “${title}”? This cannot be undone.`)) event.preventDefault();
      return;
    }
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

  closeDrawer() {
    if (!this.ui.app.classList.contains("sidebar-open")) return;
    this.setOpen(false);
    if (this.narrow.matches) this.ui.toggle.focus();
  }
}
