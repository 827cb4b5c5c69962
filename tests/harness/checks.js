// Helpers the renderer tests run inside the page: random markdown documents, streaming a
// document in small deltas, and the "raw syntax" measure of what a frame shows.
import { ReplyRenderer, renderInto } from "/static/chat/render/markdown.js";

// ------------------------------------------------------------------ random documents

export function rng(seed) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

const pick = (random, items) => items[Math.floor(random() * items.length)];

const WORDS = ["alpha", "beta", "gamma", "delta", "the", "a", "of", "model", "reply", "x_y", "foo*bar", "2*3", "it's", "(paren)", "[br]", "a|b", "$5", "~tilde", "http://ex.com/a_b", "<tag>", "&amp;", "snake_case"];
const INLINE = [
  () => "**bold**", () => "*em*", () => "_em_", () => "__strong__", () => "~~del~~", () => "`code`",
  () => "``co`de``", () => "[link](https://example.com/x)", () => "[ref link][r1]", () => "[r2]",
  () => "![img](https://example.com/i.png)", () => "<https://auto.example>", () => "www.example.org",
  () => "$x^2$", () => "\\(a+b\\)", () => "[^n1]", () => "[^n2]", () => "^[inline note]", () => "**open",
  () => "*open", () => "`open", () => "[half", () => "\\*esc\\*", () => "a  \nbreak", () => "&copy;",
  () => "***both***", () => "**a *b* c**", () => "[x](javascript:alert(1))", () => "x~~y",
];

function sentence(random) {
  const parts = [];
  const n = 3 + Math.floor(random() * 10);
  for (let i = 0; i < n; i++) parts.push(random() < 0.3 ? pick(random, INLINE)() : pick(random, WORDS));
  return parts.join(" ");
}

function paragraph(random) {
  const lines = 1 + Math.floor(random() * 3);
  return Array.from({ length: lines }, () => sentence(random)).join("\n");
}

function list(random, depth = 0) {
  const ordered = random() < 0.4;
  const marker = ordered ? pick(random, [".", ")"]) : pick(random, ["-", "*", "+"]);
  const start = ordered ? pick(random, [1, 1, 3, 10]) : 0;
  const loose = random() < 0.25;
  const items = [];
  const n = 1 + Math.floor(random() * 6);
  const pad = "  ".repeat(depth);
  for (let i = 0; i < n; i++) {
    const bullet = ordered ? `${start + i}${marker}` : marker;
    const indent = pad + " ".repeat(bullet.length + 1);
    let item = `${pad}${bullet} ${random() < 0.2 ? pick(random, ["[ ] ", "[x] "]) : ""}${sentence(random)}`;
    if (random() < 0.2) item += `\n${indent}${sentence(random)}`;
    if (random() < 0.15) item += `\n\n${indent}${sentence(random)}`;
    if (random() < 0.1) item += `\n${indent}\`\`\`js\n${indent}let a = 1;\n${indent}\`\`\``;
    if (depth < 2 && random() < 0.2) item += "\n" + list(random, depth + 1);
    items.push(item);
  }
  return items.join(loose ? "\n\n" : "\n");
}

function table(random) {
  const cols = 1 + Math.floor(random() * 4);
  const cell = () => (random() < 0.3 ? pick(random, INLINE)() : pick(random, WORDS)).replace(/\|/g, "\\|");
  const row = () => "| " + Array.from({ length: cols }, cell).join(" | ") + " |";
  const align = () => pick(random, ["---", ":--", "--:", ":-:"]);
  const lines = [row(), "|" + Array.from({ length: cols }, align).join("|") + "|"];
  const n = Math.floor(random() * 5);
  for (let i = 0; i < n; i++) lines.push(row());
  return lines.join("\n");
}

function fence(random) {
  const lang = pick(random, ["python", "js", "", "bash", "unknownlang", "json", "c"]);
  const mark = pick(random, ["```", "```", "~~~", "````"]);
  const n = Math.floor(random() * 30);
  const lines = [];
  for (let i = 0; i < n; i++) {
    lines.push(pick(random, [
      "x = 1", "def f(a, b):", "    return a + b  # sum", 'print("hi")', "s = '''doc", "still in doc'''",
      "/* comment", "end */", "// js comment", "const o = { a: 1 };", "", "```", "  ~~~", "echo $HOME",
    ]));
  }
  return `${mark}${lang}\n${lines.join("\n")}${random() < 0.9 ? "\n" + mark : ""}`;
}

const BLOCKS = [
  (r) => paragraph(r), (r) => paragraph(r), (r) => paragraph(r),
  (r) => "#".repeat(1 + Math.floor(r() * 6)) + " " + sentence(r),
  (r) => sentence(r) + "\n" + pick(r, ["===", "---", "-", "="]),
  (r) => list(r), (r) => list(r),
  (r) => table(r),
  (r) => fence(r),
  (r) => "> " + paragraph(r).replace(/\n/g, "\n> "),
  (r) => "> " + sentence(r) + "\nlazy " + sentence(r),
  () => "---", () => "* * *",
  (r) => "$$\n" + pick(r, ["\\frac{1}{2}", "x^2 + y^2", "\\bad{", "a \\\\ b"]) + "\n$$",
  (r) => "\\[\n" + pick(r, ["E = mc^2", "\\sum_i i"]) + "\n\\]",
  () => "[r1]: https://example.com/r1 \"Title\"", () => "[r2]: /relative",
  () => "[r1]: https://example.com/second-definition-loses",
  (r) => "[^n1]: " + sentence(r), (r) => "[^n2]: " + sentence(r) + "\n\n    " + sentence(r),
  (r) => "    indented code " + sentence(r),
  (r) => "<div>" + sentence(r) + "</div>",
  (r) => "1986. " + sentence(r),
  (r) => "| not | a table\n" + sentence(r),
];

/** A random markdown document (deterministic for a seed). */
export function randomDocument(seed, blocks = 12) {
  const random = rng(seed);
  const parts = [];
  const n = 1 + Math.floor(random() * blocks);
  for (let i = 0; i < n; i++) {
    parts.push(pick(random, BLOCKS)(random));
    parts.push(pick(random, ["\n\n", "\n\n", "\n", "\n\n\n"]));
  }
  if (random() < 0.5) parts.pop();
  return parts.join("");
}

// ------------------------------------------------------------------ streaming

/** Deltas of min..max characters (deterministic for a seed). */
export function deltas(text, seed, min = 3, max = 7) {
  const random = rng(seed);
  const out = [];
  for (let i = 0; i < text.length; ) {
    const size = min + Math.floor(random() * (max - min + 1));
    out.push(text.slice(i, i + size));
    i += size;
  }
  return out;
}

/**
 * Streams `text` into a new container, one frame per delta, calling onFrame after each.
 * With `budget` (ms), a frame renders only as much as the renderer's frame budget allows,
 * as frames do in the page, and the rest waits for the next deltas' frames.
 */
export function stream(text, { seed = 1, min = 3, max = 7, docId = "t", onFrame, budget } = {}) {
  const box = document.createElement("div");
  document.getElementById("out").append(box);
  const reply = new ReplyRenderer(box, { docId });
  const saved = ReplyRenderer.FRAME_BUDGET_MS;
  if (budget !== undefined) ReplyRenderer.FRAME_BUDGET_MS = budget;
  try {
    for (const delta of deltas(text, seed, min, max)) {
      reply.append(delta);
      if (budget === undefined) reply.flush();
      else reply._render(false);
      if (onFrame) onFrame(box, reply);
    }
    reply.finish();
  } finally {
    ReplyRenderer.FRAME_BUDGET_MS = saved;
  }
  return { box, reply };
}

/** The whole document rendered at once, in a new container. */
export function whole(text, docId = "t") {
  const box = document.createElement("div");
  document.getElementById("out").append(box);
  renderInto(box, text, { docId });
  return box;
}

/** Seeds (and the first difference) where streaming differs from the whole render. */
export function compareRandom(firstSeed, count, blocks = 12, joined = 1, budget = undefined) {
  const failures = [];
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    const parts = Array.from({ length: joined }, (_, i) => randomDocument(seed * 31 + i, blocks));
    const text = joined === 1 ? randomDocument(seed, blocks) : parts.join("\n\n");
    const { box } = stream(text, { seed, min: 1, max: 9, budget });
    const reference = whole(text);
    if (box.innerHTML !== reference.innerHTML) {
      let at = 0;
      while (box.innerHTML[at] === reference.innerHTML[at]) at++;
      failures.push({ seed, text, streamed: box.innerHTML.slice(Math.max(0, at - 80), at + 120), whole: reference.innerHTML.slice(Math.max(0, at - 80), at + 120) });
    }
    box.remove();
    reference.remove();
  }
  return failures;
}

// ------------------------------------------------------------------ raw syntax

// Markdown syntax that must not show as text: counted in the visible text outside code,
// math and diagrams. A frame "shows raw syntax" when it has more of one of these than the
// final render has: the reply so far is a prefix of the final one, so any excess is syntax
// the final render turned into formatting.
const RAW_PATTERNS = {
  "**": /\*\*/g,
  "__": /(?<![\w])__|__(?![\w])/g,
  "```": /```/g,
  "~~": /~~/g,
  "](": /\]\(/g,
  "|---": /\|\s*:?-{3,}/g,
  "$$": /\$\$/g,
  "\\[": /\\\[/g,
  "[^": /\[\^/g,
  "`": /`/g,
  "*": /\*/g,
  "_": /_/g,
  "$": /\$/g,
  "\\(": /\\\(/g,
  "&entity": /&#?[A-Za-z0-9]+;?/g,
};

function visibleText(root) {
  let text = "";
  const walk = (node) => {
    if (node.nodeType === 3) {
      text += node.data;
      return;
    }
    if (node.nodeType !== 1) return;
    const tag = node.localName;
    if (tag === "code" || tag === "pre" || tag === "math" || tag === "button" || node.classList.contains("visually-hidden")) return;
    for (const child of node.childNodes) walk(child);
    if (/^(p|li|h[1-6]|td|th|div|blockquote|tr)$/.test(tag)) text += "\n";
  };
  walk(root);
  return text;
}

// Paragraphs whose text starts like a list item or a heading: a marker shown as text.
function markerParagraphs(root) {
  let count = 0;
  for (const p of root.querySelectorAll("p, td, th")) {
    if (/^\s*(?:[-*+>]|\d{1,9}[.)]|#{1,6})(?:\s|$)/.test(p.textContent)) count++;
  }
  return count;
}

export function syntaxCounts(root) {
  const text = visibleText(root);
  const counts = { "marker paragraph": markerParagraphs(root) };
  for (const [name, pattern] of Object.entries(RAW_PATTERNS)) counts[name] = (text.match(pattern) || []).length;
  return counts;
}

/** Frames, and frames with raw syntax (with examples), streaming `text` in 3-7 char deltas. */
export function rawSyntaxFrames(text, seed = 1) {
  const finalCounts = syntaxCounts(whole(text));
  let frames = 0;
  let raw = 0;
  const examples = [];
  stream(text, {
    seed,
    onFrame(box) {
      frames++;
      const counts = syntaxCounts(box);
      const excess = Object.keys(counts).filter((name) => counts[name] > finalCounts[name]);
      if (excess.length) {
        raw++;
        if (examples.length < 5) examples.push({ excess, text: visibleText(box).slice(-160) });
      }
    },
  });
  return { frames, raw, examples };
}

// ------------------------------------------------------------------ safety and work

/** What in `box` could run script or fetch: anything but what the page's own code adds. */
export function unsafeNodes(box) {
  const problems = [];
  const banned = ["script", "iframe", "object", "embed", "form", "style", "svg", "link", "meta", "base"];
  for (const el of box.querySelectorAll("*")) {
    const tag = el.localName;
    if (banned.includes(tag)) problems.push(`element ${tag}`);
    // The one image the page makes: a drawn diagram, as a data: SVG.
    if (tag === "img" && !el.src.startsWith("data:image/svg+xml")) problems.push(`img ${el.src}`);
    if (tag === "input" && (el.type !== "checkbox" || !el.disabled)) problems.push(`input ${el.outerHTML}`);
    for (const attr of el.attributes) {
      if (/^on/i.test(attr.name)) problems.push(`${tag} ${attr.name}`);
      // Column widths are set through CSSOM on tables and their header cells; nothing else.
      if (attr.name === "style" && tag !== "table" && tag !== "th") problems.push(`${tag} style`);
    }
    if (tag === "a" && el.hasAttribute("href")) {
      const { protocol } = new URL(el.getAttribute("href"), location.href);
      if (!["http:", "https:", "mailto:"].includes(protocol)) problems.push(`href ${el.getAttribute("href")}`);
    }
  }
  return problems;
}

let work = null;

/** Starts counting the characters markdown-it parses and highlight.js highlights. */
export async function countWork() {
  if (work) return;
  work = { parsed: 0, highlighted: 0 };
  const { md } = await import("/static/chat/render/parser.js");
  const hljs = (await import("/static/vendor/highlight.js/highlight.mjs")).default;
  const parse = md.parse.bind(md);
  md.parse = (src, env) => {
    work.parsed += src.length;
    return parse(src, env);
  };
  const blockParse = md.block.parse.bind(md.block);
  md.block.parse = (src, ...rest) => {
    work.parsed += src.length;
    return blockParse(src, ...rest);
  };
  const highlight = hljs.highlight.bind(hljs);
  hljs.highlight = (code, options) => {
    work.highlighted += code.length;
    return highlight(code, options);
  };
}

/** The most work (see countWork) any one frame did, streaming `text` in 3-7 char deltas. */
export function mostWorkPerFrame(text) {
  const most = { parsed: 0, highlighted: 0 };
  let before = { ...work };
  stream(text, {
    seed: 11,
    onFrame() {
      for (const key of Object.keys(most)) most[key] = Math.max(most[key], work[key] - before[key]);
      before = { ...work };
    },
  });
  return most;
}

/** A reply's HTML as if its blocks were not in groups (groups.js): what the tests compare. */
export function ungrouped(box) {
  let html = "";
  for (const node of box.childNodes) {
    if (node.nodeType === 1 && node.classList.contains("md-group")) html += node.innerHTML;
    else html += node.nodeType === 1 ? node.outerHTML : node.textContent;
  }
  return html;
}
