// The conversation's settings: the model picker under the composer, and the system prompt
// in a dialog. A conversation not created yet keeps its prompt here until the first send.

import { announce } from "./notices.js";

const SAVE_TIMEOUT_MS = 10000;
const CLOSE_AFTER_SAVE_MS = 900;

export class Settings {
  /** `ui`: {modelPick, model, button, dialog, form, prompt, status, save, cancel};
   * `page`: the page data; `conversation()`: its id or null; `send(frame)`: true if sent. */
  constructor(ui, page, { conversation, send }) {
    this.ui = ui;
    this.models = Array.isArray(page.models) ? page.models : [];
    this.model = page.model;
    this.systemPrompt = page.systemPrompt || "";
    this.defaultPrompt = page.defaultSystemPrompt || "";
    this.conversation = conversation;
    this.send = send;
    this.saving = null; // a `settings` frame is on its way with this text
    this.saveTimer = 0;
    this.closeTimer = 0;

    this.setupModels();
    this.showPromptState();
    ui.button.addEventListener("click", () => this.open());
    ui.cancel.addEventListener("click", () => this.close());
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    ui.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.save();
      }
    });
    ui.prompt.addEventListener("input", () => {
      window.clearTimeout(this.closeTimer); // still editing: do not close under the reader
      if (this.saving === null) this.setStatus("");
    });
    // Closed by Cancel, Escape or after saving: the box shows the saved prompt next time.
    ui.dialog.addEventListener("close", () => {
      window.clearTimeout(this.closeTimer);
      ui.prompt.value = this.systemPrompt;
      this.setStatus("");
    });
  }

  // ---------------------------------------------------------------- model

  setupModels() {
    const { model, modelPick } = this.ui;
    model.replaceChildren(...this.models.map((name) => {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      return option;
    }));
    // A model no longer offered falls back to the site default (the first).
    if (this.models.length) model.value = this.models.includes(this.model) ? this.model : this.models[0];
    modelPick.hidden = this.models.length < 2;
  }

  /** `frame` with the chosen model, when the site offers a choice. */
  withModel(frame) {
    if (this.models.length) frame.model = this.ui.model.value || this.models[0];
    return frame;
  }

  // ---------------------------------------------------------------- system prompt

  /** The prompt a new conversation is created with (set before it existed). */
  promptForNewConversation() {
    return this.systemPrompt;
  }

  setStatus(text, kind) {
    this.ui.status.textContent = text || "";
    this.ui.status.dataset.kind = kind || "";
  }

  showPromptState() {
    const fallback = this.defaultPrompt ? `Site default: ${this.defaultPrompt}` : "No system prompt";
    this.ui.prompt.placeholder = fallback;
    this.ui.button.dataset.custom = String(this.systemPrompt.trim() !== "");
  }

  setSaving(text) {
    this.saving = text;
    window.clearTimeout(this.saveTimer);
    this.ui.save.setAttribute("aria-disabled", String(text !== null));
    if (text !== null) {
      this.saveTimer = window.setTimeout(() => {
        this.setSaving(null);
        this.setStatus("No answer from the server. Try again.", "error");
      }, SAVE_TIMEOUT_MS);
    }
  }

  open() {
    window.clearTimeout(this.closeTimer);
    this.ui.prompt.value = this.systemPrompt;
    this.setStatus("");
    this.setSaving(null);
    this.showPromptState();
    if (!this.ui.dialog.open) this.ui.dialog.showModal();
    this.ui.prompt.focus();
  }

  close() {
    window.clearTimeout(this.closeTimer);
    if (this.ui.dialog.open) this.ui.dialog.close();
  }

  // Saved: say so a moment, then close (unless the reader carries on editing).
  saved(message) {
    this.setStatus(message, "ok");
    announce(message);
    window.clearTimeout(this.closeTimer);
    this.closeTimer = window.setTimeout(() => this.close(), CLOSE_AFTER_SAVE_MS);
  }

  save() {
    if (this.saving !== null) return;
    const text = this.ui.prompt.value;
    const conversation = this.conversation();
    if (conversation === null) {
      // No conversation yet: the first `send` carries it.
      this.systemPrompt = text;
      this.showPromptState();
      this.saved("Saved. It applies from your first message.");
      return;
    }
    if (!this.send({ type: "settings", conversation, system_prompt: text })) {
      this.setStatus("Not connected. Try again once connected.", "error");
      return;
    }
    this.setSaving(text);
    this.setStatus("Saving…");
  }

  /** A `settings` frame: this page's save confirmed, or a change made elsewhere. */
  applied(frame) {
    const { dialog, prompt } = this.ui;
    const wasEditing = dialog.open && prompt.value !== this.systemPrompt;
    const confirming = this.saving !== null;
    this.systemPrompt = typeof frame.system_prompt === "string" ? frame.system_prompt : "";
    this.showPromptState();
    if (confirming) {
      this.setSaving(null);
      prompt.value = this.systemPrompt;
      this.saved("Saved.");
    } else if (dialog.open && !wasEditing) {
      // Changed elsewhere (another tab) while open but untouched here: show the new one.
      prompt.value = this.systemPrompt;
    }
  }

  /** An `error` frame: true when it answers the dialog's Save (the dialog is modal). */
  refused(frame) {
    if (this.saving === null || !this.ui.dialog.open) return false;
    this.setSaving(null);
    this.setStatus(frame.message || "The server refused that.", "error");
    return true;
  }
}
