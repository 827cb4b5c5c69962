// What rendered markdown gets once it is DOM: a header with the language and a Copy button
// on every code block, tables in a region that scrolls sideways, scrolling code reachable
// by keyboard, and (for finished content only) mermaid blocks drawn as diagrams.
import { drawDiagrams } from "./diagrams.js";

const COPIED_FOR_MS = 1600;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function languageOf(code) {
  const match = code && /(?:^|\s)language-(\S+)/.exec(code.className);
  return match ? match[1] : "";
}

/** Copies text; on plain http (a LAN address) through a hidden textarea. */
export function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const buffer = document.createElement("textarea");
  buffer.value = text;
  buffer.setAttribute("readonly", "");
  buffer.className = "copy-buffer";
  Object.assign(buffer.style, { position: "fixed", top: "0", left: "-9999px", opacity: "0" });
  document.body.append(buffer);
  buffer.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } finally {
    buffer.remove();
  }
  return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

function onCopy(event) {
  const button = event.currentTarget;
  const block = button.closest(".code-block");
  const code = block && block.querySelector("pre code");
  const status = block && block.querySelector(".code-status");
  const done = (label, state, said) => {
    button.textContent = label;
    button.dataset.state = state;
    if (status) status.textContent = said;
  };
  copyText(code ? code.textContent : "").then(
    () => done("Copied", "done", "Copied to the clipboard."),
    () => done("Copy failed", "failed", "Copy failed."),
  );
  clearTimeout(button.resetTimer);
  button.resetTimer = setTimeout(() => {
    button.textContent = "Copy";
    delete button.dataset.state;
    if (status) status.textContent = "";
  }, COPIED_FOR_MS);
}

function wrapCode(pre) {
  if (pre.classList.contains("math-error") || pre.parentElement?.classList.contains("code-block")) return;
  const code = pre.querySelector("code");
  const lang = languageOf(code);
  const block = el("div", "code-block");
  const head = el("div", "code-head");
  if (lang) head.append(el("span", "code-lang", lang));
  const button = el("button", "code-copy", "Copy");
  button.type = "button";
  button.addEventListener("click", onCopy);
  const status = el("span", "code-status visually-hidden");
  status.setAttribute("role", "status");
  head.append(button, status);
  // Long lines scroll sideways: the scrolling box must be reachable and named.
  pre.tabIndex = 0;
  pre.setAttribute("role", "region");
  pre.setAttribute("aria-label", lang ? `Code: ${lang}` : "Code");
  pre.replaceWith(block);
  block.append(head, pre);
}

function wrapTable(table) {
  if (table.parentElement?.classList.contains("table-wrap")) return;
  const wrap = el("div", "table-wrap");
  wrap.setAttribute("role", "region");
  wrap.tabIndex = 0;
  wrap.setAttribute("aria-label", "Table");
  table.replaceWith(wrap);
  wrap.append(table);
}

// Columns sized once, from the header and the first row, with a fixed table layout: rows
// that arrive later wrap within their column instead of resizing every column (which made
// a streaming table jump), and a wide table scrolls instead of squeezing a column of
// sentences down to a word per line.
function sizeColumns(table) {
  const head = table.tHead && table.tHead.rows[0];
  const first = table.tBodies[0] && table.tBodies[0].rows[0];
  if (!head || !first) return;
  let total = 0;
  const widths = [...head.cells].map((th, i) => {
    const cell = first.cells[i];
    const length = Math.max(th.textContent.trim().length, cell ? cell.textContent.trim().length : 0);
    const width = Math.min(36, Math.max(8, Math.round(length * 0.8) + 4));
    total += width + 3; // and the cell's padding, about 3ch
    return width;
  });
  [...head.cells].forEach((th, i) => th.style.setProperty("width", `${widths[i]}ch`));
  table.style.setProperty("width", `max(100%, ${total}ch)`);
  table.classList.add("sized");
}

/**
 * Enhances sanitised, rendered markdown in place (a container or a fragment). `live`: the
 * content is still streaming, so diagrams are left as code until it is finished.
 */
export function enhance(root, { live = false } = {}) {
  for (const pre of root.querySelectorAll("pre")) wrapCode(pre);
  for (const table of root.querySelectorAll("table")) wrapTable(table);
  for (const table of root.querySelectorAll("table")) sizeColumns(table);
  if (!live) drawDiagrams(root);
  return root;
}
