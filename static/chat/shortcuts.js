// Keyboard shortcuts: one keydown listener for the page, a registry every feature adds its
// own to, and the dialog that lists them all (`?` outside a text field, or Ctrl+/).
//
//   registerShortcut("search", { keys: ["Ctrl", "K"], label: "Search conversations",
//                                matches: combo("Ctrl+K"), run: openSearch, inFields: true });
//
// `run(event)` returning false means "not now": the key then does what it does anyway.
// Registering an id again replaces it: an entry with no `run` is only listed, for a
// feature that registers the real one later. Ctrl also means ⌘ on a Mac.

import { byId, cloneTemplate } from "./dom.js";

const registry = new Map();

/** `keys`: how the dialog shows it; `matches(event)`; `run(event)`; `inFields`: also while
 * typing in a text field. */
export function registerShortcut(id, { keys, label, matches = null, run = null, inFields = false }) {
  registry.set(id, { id, keys, label, matches, run, inFields });
}

export function shortcuts() {
  return [...registry.values()];
}

/** A predicate for "Ctrl+Shift+O", "Shift+Escape", "Escape", "?": the modifiers named must
 * be held and the others not (Shift is not checked for a key that needs it, like "?"). */
export function combo(text) {
  const parts = text.split("+");
  const key = parts.pop().toLowerCase();
  const wants = new Set(parts.map((part) => part.toLowerCase()));
  const shiftMatters = key.length > 1 || /[a-z0-9]/.test(key);
  return (event) =>
    event.key.toLowerCase() === key
    && (event.ctrlKey || event.metaKey) === wants.has("ctrl")
    && event.altKey === wants.has("alt")
    && (!shiftMatters || event.shiftKey === wants.has("shift"));
}

/** Typing in it: the letters typed there are not shortcuts. */
export function isTyping(element) {
  if (!element || !(element instanceof Element)) return false;
  if (element.isContentEditable || element.tagName === "TEXTAREA" || element.tagName === "SELECT") return true;
  if (element.tagName !== "INPUT") return false;
  return !["button", "checkbox", "radio", "submit", "reset", "range", "color", "file"].includes(element.type);
}

function onKey(event) {
  if (event.defaultPrevented || event.isComposing || event.repeat) return;
  // A dialog handles its own keys (Esc closes it); the list of shortcuts is one of them.
  if (event.target instanceof Element && event.target.closest("dialog[open]")) return;
  const typing = isTyping(event.target);
  for (const shortcut of registry.values()) {
    if (!shortcut.run || !shortcut.matches?.(event)) continue;
    if (typing && !shortcut.inFields) continue;
    if (shortcut.run(event) === false) continue;
    event.preventDefault();
    return;
  }
}

// ---------------------------------------------------------------- the list of shortcuts

function showList(dialog) {
  const list = byId("shortcuts-list");
  list.replaceChildren();
  for (const shortcut of registry.values()) {
    const row = cloneTemplate("shortcut");
    const keys = row.querySelector(".shortcut-keys");
    for (const key of shortcut.keys) {
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      keys.append(kbd);
    }
    row.querySelector(".shortcut-label").textContent = shortcut.label;
    list.append(row);
  }
  if (!dialog.open) dialog.showModal();
  byId("shortcuts-close").focus();
}

/** The page's shortcuts. `stop()`: stop the reply, false if none is being written;
 * `focusComposer()`; `newChatUrl`. */
export function installShortcuts({ stop, focusComposer, newChatUrl }) {
  const dialog = byId("shortcuts-dialog");
  let returnTo = null;
  const open = () => {
    returnTo = document.activeElement;
    showList(dialog);
  };
  dialog.addEventListener("close", () => {
    if (returnTo?.isConnected) returnTo.focus();
    else focusComposer();
  });
  byId("shortcuts-close").addEventListener("click", () => dialog.close());
  byId("shortcuts-btn")?.addEventListener("click", open);

  registerShortcut("stop", {
    keys: ["Esc"], label: "Stop the reply being written",
    matches: combo("Escape"), run: () => stop(), inFields: true,
  });
  registerShortcut("new-chat", {
    keys: ["Ctrl", "Shift", "O"], label: "Open a new chat",
    matches: combo("Ctrl+Shift+O"), run: () => window.location.assign(newChatUrl), inFields: true,
  });
  registerShortcut("focus-composer", {
    keys: ["Shift", "Esc"], label: "Go to the message box",
    matches: combo("Shift+Escape"), run: () => focusComposer(), inFields: true,
  });
  // Listed here, done by their own features (which register the same ids with a `run`,
  // before or after this).
  for (const [id, keys, label] of [
    ["search", ["Ctrl", "K"], "Search conversations"],
    ["edit-last", ["↑"], "Edit your last message (in an empty message box)"],
  ]) {
    if (!registry.has(id)) registerShortcut(id, { keys, label });
  }
  registerShortcut("help", {
    keys: ["?"], label: "Show these shortcuts", matches: combo("?"), run: open,
  });
  registerShortcut("help-anywhere", {
    keys: ["Ctrl", "/"], label: "Show these shortcuts, even while typing",
    matches: combo("Ctrl+/"), run: open, inFields: true,
  });
  document.addEventListener("keydown", onKey);
}
