// Tool calls as blocks: one <details class="tool-call is-STATE"> per call, cloned from the
// page's <template data-template="tool-call">, showing its name, where it is ("running…",
// "done in 1,234 ms"), its arguments and its result. Blocks are updated in place, so a
// reader's open or closed choice survives every update. Everything goes in as text.

import { cloneTemplate } from "./dom.js";
import { ENDED_TOOL_STATES, TOOL_STATE, TOOL_STATE_LABELS } from "./vocabulary.js";

const JSON_SPACE = /[ \t\n\r]/;

export function stateLabel(state, durationMs) {
  const label = TOOL_STATE_LABELS[state] || state;
  const timed = state === TOOL_STATE.DONE || state === TOOL_STATE.FAILED;
  if (typeof durationMs === "number" && timed) {
    return `${label} in ${durationMs.toLocaleString("en-US")} ms`;
  }
  return label;
}

/** JSON text indented by two spaces once it parses; anything else (arguments still
 * arriving, plain-text results) as it is. Re-indented as text, not parsed and printed
 * again, so numbers past 2^53 and escapes stay exactly as written. */
export function prettyJson(text) {
  try {
    JSON.parse(text);
  } catch {
    return text;
  }
  let out = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  const newline = () => `\n${"  ".repeat(depth)}`;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (inString) {
      out += ch;
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (ch === "{" || ch === "[") {
      let next = i + 1;
      while (JSON_SPACE.test(text[next] || "")) next += 1;
      if (text[next] === (ch === "{" ? "}" : "]")) {
        out += ch + text[next]; // {} and [] stay on one line
        i = next;
      } else {
        depth += 1;
        out += ch + newline();
      }
    } else if (ch === "}" || ch === "]") {
      depth -= 1;
      out += newline() + ch;
    } else if (ch === ",") {
      out += `,${newline()}`;
    } else if (ch === ":") {
      out += ": ";
    } else if (!JSON_SPACE.test(ch)) {
      out += ch;
    }
  }
  return out;
}

// Sets a node's text only when it changed: a reader's selection in it survives updates.
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

class ToolCall {
  constructor(index, root, open) {
    this.data = { index, id: "", name: "", arguments: "", state: TOOL_STATE.STREAMING, duration_ms: null, result: "" };
    this.node = cloneTemplate("tool-call", root);
    this.node.open = open;
  }

  render() {
    const { name, state, duration_ms: durationMs, result } = this.data;
    for (const cls of [...this.node.classList]) {
      if (cls.startsWith("is-") && cls !== `is-${state}`) this.node.classList.remove(cls);
    }
    this.node.classList.add(`is-${state}`);
    this.node.dataset.index = String(this.data.index);
    setText(this.node.querySelector(".tool-name"), name || "tool");
    setText(this.node.querySelector(".tool-state"), stateLabel(state, durationMs));
    setText(this.node.querySelector(".tool-args code"), prettyJson(this.data.arguments));
    const resultSection = this.node.querySelector(".tool-result-section");
    resultSection.hidden = !(ENDED_TOOL_STATES.has(state) && result);
    setText(resultSection.querySelector("code"), prettyJson(result || ""));
  }
}

/** The tool calls of one assistant message, shown in `container`. */
export class ToolCalls {
  /** `root`: where the tool-call <template> is; `open`: new blocks start open. */
  constructor(container, { root = document, open = false } = {}) {
    this.container = container;
    this.root = root;
    this.open = open;
    this.calls = [];
  }

  get length() {
    return this.calls.length;
  }

  /** What the calls are as data, to compare with a saved message's. */
  get list() {
    return this.calls.map((call) => ({ ...call.data }));
  }

  call(index) {
    while (this.calls.length <= index) {
      const call = new ToolCall(this.calls.length, this.root, this.open);
      this.calls.push(call);
      this.container.append(call.node);
    }
    return this.calls[index];
  }

  /** Show exactly these calls (a saved message's `tool_calls`, or a snapshot's). */
  replace(list) {
    for (const data of list) {
      const call = this.call(data.index);
      Object.assign(call.data, data, { arguments: data.arguments || "" });
      call.render();
    }
    const count = list.length ? Math.max(...list.map((data) => data.index)) + 1 : 0;
    for (const call of this.calls.splice(count)) call.node.remove();
  }

  /** Apply a frame's `tools` changes. False when an `arguments` piece starts past what is
   * held: frames were missed, and the page must resynchronise. */
  apply(changes) {
    for (const change of changes) {
      if ("arguments_offset" in change) {
        const held = this.calls[change.index]?.data.arguments.length || 0;
        if (change.arguments_offset > held) return false;
      }
    }
    for (const change of changes) {
      const call = this.call(change.index);
      for (const [key, value] of Object.entries(change)) {
        if (key === "index" || key === "arguments_offset") continue;
        if (key === "arguments" && "arguments_offset" in change) {
          const held = call.data.arguments;
          call.data.arguments = held + value.slice(held.length - change.arguments_offset);
        } else {
          call.data[key] = value;
        }
      }
      call.render();
    }
    return true;
  }
}
