// The row under every message: ‹ 2 / 3 › between its versions, Copy (the markdown source,
// or the user's text), Edit (a user's message, in place) or Regenerate (a reply), the model
// that wrote a reply and when. All buttons: reachable with Tab and by touch. What a button
// asks of the server is the caller's (app.js): this module only shows and edits.

import { cloneTemplate } from "./dom.js";
import { copyText } from "./render/enhance.js";

const COPIED_FOR_MS = 1600;

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

function whenText(date) {
  const today = new Date();
  return date.toDateString() === today.toDateString() ? timeFormat.format(date) : dateTimeFormat.format(date);
}

/** Put `item`'s action row (made once) in step with `m`, the server's copy of the message. */
export function showActions(item, m) {
  let row = item.node.querySelector(":scope > .msg-actions");
  if (!row) {
    row = cloneTemplate("msg-actions");
    row.querySelector(item.role === "user" ? ".msg-regenerate" : ".msg-edit").remove();
    if (item.role === "user") row.querySelector(".msg-model").remove();
    item.node.append(row);
  }
  item.versions = Array.isArray(m.versions) ? m.versions : [item.id];
  item.version = item.versions.indexOf(item.id) + 1 || 1;
  const count = item.versions.length;
  const nav = row.querySelector(".msg-versions");
  nav.hidden = count < 2;
  row.querySelector(".msg-version").textContent = `${item.version} / ${count}`;
  row.querySelector(".msg-version").setAttribute("aria-label", `Version ${item.version} of ${count}`);
  row.querySelector(".msg-prev").disabled = item.version <= 1;
  row.querySelector(".msg-next").disabled = item.version >= count;
  const model = row.querySelector(".msg-model");
  if (model) {
    model.textContent = m.model || "";
    model.hidden = !m.model;
  }
  const time = row.querySelector(".msg-time");
  const created = m.created ? new Date(m.created) : null;
  if (created && !Number.isNaN(created.getTime())) {
    time.dateTime = m.created;
    time.textContent = whenText(created);
    time.title = fullFormat.format(created);
  }
}

/** The reply's last frame named the exact model that wrote it. */
export function showModel(item, name) {
  const model = item.node.querySelector(":scope > .msg-actions .msg-model");
  if (!model || !name) return;
  model.textContent = name;
  model.hidden = false;
}

/** The version next to `item`'s, by `step` (-1, +1), or null. */
export function neighbour(item, step) {
  return item.versions?.[item.version - 1 + step] ?? null;
}

/** Copy `text`, and say so on the button. */
export function copyFrom(button, text) {
  const label = (words, copied) => {
    button.textContent = words;
    if (copied) button.dataset.copied = copied;
    else delete button.dataset.copied;
  };
  copyText(text).then(() => label("Copied", "yes"), () => label("Copy failed", "no"));
  window.clearTimeout(button.resetTimer);
  button.resetTimer = window.setTimeout(() => label("Copy"), COPIED_FOR_MS);
}

/** Open the editor in place of a user message's text. `save(text)` is called on Send
 * (Enter), and the editor stays until the new branch replaces the message; Cancel (Esc)
 * puts the message back as it was. */
export function startEditing(item, text, save) {
  if (item.node.querySelector(".msg-editor")) {
    item.node.querySelector(".msg-editor-input").focus();
    return;
  }
  const editor = cloneTemplate("msg-editor");
  const input = editor.querySelector(".msg-editor-input");
  input.value = text;
  const close = () => {
    editor.remove();
    item.node.classList.remove("is-editing");
    item.node.querySelector(".msg-edit")?.focus();
  };
  const submit = () => {
    if (!input.value.trim()) {
      input.focus();
      return;
    }
    editor.querySelector(".msg-editor-save").disabled = true;
    if (!save(input.value)) editor.querySelector(".msg-editor-save").disabled = false;
  };
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  editor.querySelector(".msg-editor-cancel").addEventListener("click", close);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // Esc here cancels the edit, not the reply
      close();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  item.node.classList.add("is-editing");
  item.node.querySelector(".msg-body").after(editor);
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
  editor.scrollIntoView({ block: "nearest" });
}

/** The server refused an edit: Send works again, and the text is still there. */
export function editRefused(root) {
  for (const save of root.querySelectorAll(".msg-editor-save:disabled")) save.disabled = false;
}
