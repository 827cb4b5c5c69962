// The "⋯" menu of a conversation in the sidebar: Rename, Pin or Unpin, Export, Delete.
// One menu, moved into the item whose button opened it. The keyboard works as in a desktop
// menu (WAI-ARIA menu button): Enter, Space or ↓ open it on the first item, ↑ on the last;
// ↑ ↓ Home End move; Enter runs an item; Esc closes it and goes back to its button; Tab
// closes it and moves on.

import { cloneTemplate } from "./dom.js";

export class ConvMenu {
  /** `list`: the conversation list; `onAction(action, li, item)`: an item was chosen. */
  constructor(list, { onAction }) {
    this.list = list;
    this.onAction = onAction;
    this.menu = cloneTemplate("conv-menu");
    this.button = null; // the ⋯ button of the item whose menu is open

    list.addEventListener("click", (event) => {
      const button = event.target.closest(".conv-menu-btn");
      if (button) {
        if (this.button === button) this.close(true);
        else this.open(button, 0);
        return;
      }
      const item = event.target.closest(".conv-menu-item");
      if (item) this.choose(item);
    });
    list.addEventListener("keydown", (event) => this.onKey(event));
    document.addEventListener("pointerdown", (event) => {
      if (this.button && !this.menu.contains(event.target) && event.target !== this.button
          && !this.button.contains(event.target)) this.close(false);
    });
    this.menu.addEventListener("focusout", (event) => {
      // Focus left the menu for somewhere else (Tab, a click elsewhere): it closes.
      if (this.button && !this.menu.contains(event.relatedTarget)
          && event.relatedTarget !== this.button) this.close(false);
    });
  }

  get isOpen() {
    return this.button !== null;
  }

  items() {
    return [...this.menu.querySelectorAll(".conv-menu-item")];
  }

  /** Open the menu under `button`, focus on its item number `index` (-1: the last). */
  open(button, index) {
    this.close(false);
    const li = button.closest(".conv-item");
    const pin = this.menu.querySelector('[data-action="pin"]');
    pin.textContent = li.dataset.pinned ? "Unpin" : "Pin";
    this.menu.setAttribute("aria-label", button.getAttribute("aria-label") || "Options");
    this.menu.id = `conv-menu-${li.dataset.id}`;
    button.setAttribute("aria-controls", this.menu.id);
    button.setAttribute("aria-expanded", "true");
    li.classList.add("is-menu-open");
    li.append(this.menu);
    this.button = button;
    const items = this.items();
    items.at(index)?.focus();
  }

  /** Close it; `refocus`: focus goes back to its ⋯ button. */
  close(refocus) {
    const button = this.button;
    if (!button) return;
    this.button = null;
    button.setAttribute("aria-expanded", "false");
    button.closest(".conv-item")?.classList.remove("is-menu-open");
    this.menu.remove();
    if (refocus) button.focus();
  }

  choose(item) {
    const button = this.button;
    const li = button.closest(".conv-item");
    this.close(item.dataset.action !== "rename" && item.dataset.action !== "delete");
    this.onAction(item.dataset.action, li, item);
  }

  onKey(event) {
    const button = event.target.closest(".conv-menu-btn");
    if (button && ["ArrowDown", "ArrowUp"].includes(event.key)) {
      event.preventDefault();
      this.open(button, event.key === "ArrowUp" ? -1 : 0);
      return;
    }
    if (!this.menu.contains(event.target)) return;
    const items = this.items();
    const at = items.indexOf(document.activeElement);
    const move = {
      ArrowDown: (at + 1) % items.length,
      ArrowUp: (at - 1 + items.length) % items.length,
      Home: 0,
      End: items.length - 1,
    };
    if (event.key in move) {
      event.preventDefault();
      items[move[event.key]].focus();
    } else if (event.key === "Escape") {
      event.preventDefault(); // the page's own Esc (stop a reply) is not for this one
      event.stopPropagation();
      this.close(true);
    } else if (event.key === "Tab") {
      this.close(true); // then Tab moves on from the ⋯ button, not from the page's start
    }
  }
}
