// The renderer as the page and the admin use it: render/markdown.js's renderInto and
// ReplyRenderer. Until that module exports them, a stand-in built on its renderMarkdown
// renders the whole text again on each animation frame (sanitised here as well).
import * as markdown from "./render/markdown.js";
import DOMPurify from "../vendor/dompurify/purify.mjs";

function renderWhole(container, src) {
  container.innerHTML = DOMPurify.sanitize(markdown.renderMarkdown(src));
}

class WholeReplyRenderer {
  constructor(container) {
    this.container = container;
    this.source = "";
    this.frame = 0;
  }

  append(text) {
    this.source += text;
    if (!this.frame) {
      this.frame = window.requestAnimationFrame(() => {
        this.frame = 0;
        renderWhole(this.container, this.source);
      });
    }
  }

  finish() {
    window.cancelAnimationFrame(this.frame);
    this.frame = 0;
    renderWhole(this.container, this.source);
  }

  get text() {
    return this.source;
  }
}

export const renderInto = markdown.renderInto || renderWhole;
export const ReplyRenderer = markdown.ReplyRenderer || WholeReplyRenderer;
