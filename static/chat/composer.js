// The message box: it grows with its text, Enter sends and Shift+Enter starts a new line,
// it counts characters against the limit, and Send gives way to Stop while a reply is
// written. A message sent as the connection dropped is put back in the box, and taken out
// again once the server's history shows it was saved after all.

import { charCount } from "./dom.js";

export class Composer {
  /** `ui`: {form, input, send, stop, hint, count}; `send(text)`: true once the frame is
   * sent, false when the socket is down; `stop()`: the same for Stop; `editLast()`: true
   * when there was a message to edit. */
  constructor(ui, { maxChars, isBusy, send, stop, editLast }) {
    this.ui = ui;
    this.maxChars = maxChars;
    this.isBusy = isBusy;
    this.sendText = send;
    this.stopReply = stop;
    this.editLast = editLast; // ↑ in an empty box: edit the last message sent
    this.pending = null; // sent, not yet echoed back: restored if the server refuses it
    this.unconfirmed = null; // sent just before the socket dropped: maybe saved, maybe not
    this.queued = false; // Send was pressed while the socket was not open

    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.trySend();
    });
    ui.input.addEventListener("keydown", (event) => this.onKey(event));
    ui.input.addEventListener("input", () => {
      this.changed();
      if (["warn", "busy"].includes(ui.hint.dataset.kind)) this.hint("");
    });
    ui.stop.addEventListener("click", () => {
      if (ui.stop.getAttribute("aria-disabled") === "true") return;
      if (!this.stopReply()) this.hint("Reconnecting… Try again once connected.", "offline");
    });
    this.changed();
  }

  onKey(event) {
    if (event.key === "ArrowUp" && !this.ui.input.value && !(event.shiftKey || event.altKey || event.ctrlKey || event.metaKey)) {
      if (this.editLast()) event.preventDefault();
      return;
    }
    // isComposing / 229: Enter that confirms an IME candidate is not "send".
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    this.trySend();
  }

  hint(text, kind) {
    this.ui.hint.textContent = text || "";
    this.ui.hint.dataset.kind = kind || "";
  }

  focus() {
    this.ui.input.focus({ preventScroll: true });
  }

  /** The text changed: grow the box and count. */
  changed() {
    const input = this.ui.input;
    input.style.height = "auto"; // CSSOM, which the CSP allows; the max is in chat.css
    const border = input.offsetHeight - input.clientHeight;
    input.style.height = `${input.scrollHeight + border}px`;
    const n = charCount(input.value);
    const show = n > this.maxChars * 0.8;
    this.ui.count.hidden = !show;
    this.ui.count.textContent = show ? `${n.toLocaleString()} / ${this.maxChars.toLocaleString()}` : "";
    this.ui.count.dataset.over = String(n > this.maxChars);
  }

  setText(text) {
    this.ui.input.value = text;
    this.changed();
  }

  trySend() {
    const text = this.ui.input.value;
    if (!text.trim()) {
      this.hint("Type a message first.", "warn");
      return;
    }
    if (charCount(text) > this.maxChars) {
      this.hint(`Too long: messages are limited to ${this.maxChars.toLocaleString()} characters.`, "warn");
      return;
    }
    if (this.isBusy()) {
      this.hint("Wait for the reply to finish, or stop it.", "busy");
      return;
    }
    if (!this.sendText(text)) {
      // Pressed Send before the socket was up (or while it is down): sent on (re)connect.
      this.queued = true;
      this.hint("Connecting… Your message will be sent as soon as the connection is up.", "offline");
      return;
    }
    this.queued = false;
    this.pending = text;
    this.unconfirmed = null;
    this.setText("");
    this.hint("");
  }

  /** Show Send or Stop for what the thread is doing. */
  update({ streaming, stopping, awaiting }) {
    const { send, stop, form, input } = this.ui;
    const focused = document.activeElement;
    stop.hidden = !streaming;
    // aria-disabled, not disabled: a disabled button drops keyboard focus onto <body>.
    stop.setAttribute("aria-disabled", String(stopping));
    stop.querySelector(".stop-label").textContent = stopping ? "Stopping…" : "Stop";
    send.hidden = streaming;
    send.disabled = awaiting;
    form.dataset.busy = String(streaming || awaiting);
    // "Wait for the reply to finish" no longer applies once it has.
    if (!streaming && !awaiting && this.ui.hint.dataset.kind === "busy") this.hint("");
    // Send and Stop take turns: a keyboard user on one must not be dropped onto <body>.
    if ((focused === stop || focused === send) && focused.hidden) input.focus();
  }

  // ---------------------------------------------------------------- what became of a send

  connected() {
    if (this.ui.hint.dataset.kind === "offline") this.hint("Connected again. You can send now.");
    if (this.queued) this.trySend();
  }

  /** The server saved the user's message (its `message` came back). */
  saved() {
    this.pending = null;
    this.unconfirmed = null;
  }

  /** The server refused the last frame: the text sent goes back in the box. */
  refused() {
    if (this.pending !== null) this.restore(this.pending);
    this.pending = null;
  }

  /** The socket dropped: whether the text arrived is unknown; put it back for now. */
  disconnected() {
    if (this.pending === null) return;
    this.restore(this.pending);
    this.unconfirmed = this.pending;
    this.pending = null;
  }

  /** A `history` came: if it ends with the text put back on a drop, it was saved after
   * all, so it comes out of the box again rather than being sent twice. */
  history(messages) {
    const text = this.unconfirmed;
    this.unconfirmed = null;
    if (text === null) return;
    const lastUser = messages.findLast((m) => m.role === "user");
    if (lastUser && lastUser.content.trim() === text.trim() && this.ui.input.value === text) {
      this.setText("");
      this.hint("");
    }
  }

  // Put text the server did not keep back in the box, ahead of anything typed since.
  restore(text) {
    const current = this.ui.input.value;
    this.setText(current.trim() ? `${text}\n\n${current}` : text);
  }
}
