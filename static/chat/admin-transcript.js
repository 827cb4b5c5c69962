// Transcripts in the admin (chat/admin.py): each .chat-transcript[data-transcript=ID] shows
// the json_script #ID ({systemPrompt, systemPromptIsDefault, messages}) the way the user saw it, rendered by the
// chat page's own renderer and tool-call blocks, with what staff also want to know: status,
// time, model, finish reason and tokens. Everything but the renderer's output is text.

import { cloneTemplate } from "./dom.js";
import { renderInto } from "./render/markdown.js";
import { ToolCalls } from "./tools.js";
import { NOTICES } from "./vocabulary.js";

const SEPARATOR = " · ";

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? ""
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function tokens(usage) {
  if (!usage || typeof usage !== "object") return "";
  const { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } = usage;
  if (typeof prompt === "number" && typeof completion === "number") {
    const sum = total ?? prompt + completion;
    return `${prompt.toLocaleString()} in + ${completion.toLocaleString()} out = ${sum.toLocaleString()} tokens`;
  }
  return typeof total === "number" ? `${total.toLocaleString()} tokens` : "";
}

function headLine(m) {
  const parts = [m.role, m.status, when(m.created)];
  if (Array.isArray(m.versions)) parts.push(`version ${m.version} of ${m.versions.length}`);
  if (m.shown === false) parts.push("on a branch not shown now");
  if (m.role === "assistant") {
    parts.push(m.model, m.finish_reason && `finish: ${m.finish_reason}`, tokens(m.usage));
  }
  return parts.filter(Boolean).join(SEPARATOR);
}

function turn(root, m) {
  const section = cloneTemplate("transcript-turn", root);
  section.classList.add(`turn-${m.role}`);
  section.dataset.status = m.status;
  section.querySelector(".turn-head").textContent = headLine(m);
  const body = section.querySelector(".turn-body");
  if (m.role !== "assistant") {
    const text = document.createElement("div");
    text.className = "turn-text"; // a user's words as they typed them, never markdown
    text.textContent = m.content;
    body.append(text);
  } else {
    if (m.content) {
      const md = document.createElement("div");
      md.className = "md";
      body.append(md);
      renderInto(md, m.content, { docId: `msg-${m.id}` });
    }
    if (m.tool_calls && m.tool_calls.length) {
      const tools = document.createElement("div");
      tools.className = "turn-tools";
      body.append(tools);
      new ToolCalls(tools, { root, open: true }).replace(m.tool_calls);
    }
  }
  const problem = m.error || NOTICES[m.status];
  if (problem) {
    const p = document.createElement("p");
    p.className = "turn-error";
    p.textContent = problem;
    section.append(p);
  }
  return section;
}

function show(root) {
  const source = document.getElementById(root.dataset.transcript);
  if (!source) return;
  const { systemPrompt, systemPromptIsDefault, messages } = JSON.parse(source.textContent);
  const parts = [];
  if (systemPrompt) {
    const system = cloneTemplate("transcript-system", root);
    if (systemPromptIsDefault) {
      system.querySelector(".turn-head").textContent = "System prompt (the site's default)";
    }
    system.querySelector(".turn-text").textContent = systemPrompt;
    parts.push(system);
  }
  for (const m of messages || []) parts.push(turn(root, m));
  if (!parts.length) {
    const empty = document.createElement("p");
    empty.className = "turn-empty";
    empty.textContent = "No messages.";
    parts.push(empty);
  }
  root.append(...parts);
}

for (const root of document.querySelectorAll(".chat-transcript[data-transcript]")) show(root);
