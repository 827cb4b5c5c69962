// Streams replies into a ReplyRenderer the way the chat page will (a few characters per
// frame from the socket, rendering on animation frames) and measures the renderer's work
// per frame and the layout shift. Driven by bench/render_bench.py; see docs/benchmarks.md.
import { ReplyRenderer, renderInto } from "/static/chat/render/markdown.js";

// A chat-like column, styled through CSSOM (the page's CSP allows no inline style).
Object.assign(document.documentElement.style, { height: "100%" });
Object.assign(document.body.style, { margin: "0", height: "100%", font: "16px/1.5 system-ui, sans-serif" });
const scroller = document.getElementById("scroller");
Object.assign(scroller.style, { display: "block", height: "100vh", overflowY: "auto" });
Object.assign(document.getElementById("reply").style, { width: "720px", margin: "0 auto", padding: "24px 16px 48px" });

// ------------------------------------------------------------------ replies

function rng(seed) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

const WORDS = ("the a model reply renders markdown while it streams and every finished block stays " +
  "where it is so that reading is calm even when the answer is long and full of code tables " +
  "lists links math and diagrams which all arrive a few characters at a time").split(" ");

function sentence(random, words = 8 + Math.floor(random() * 14)) {
  const out = [];
  for (let i = 0; i < words; i++) {
    let word = WORDS[Math.floor(random() * WORDS.length)];
    const roll = random();
    if (roll < 0.04) word = `**${word}**`;
    else if (roll < 0.07) word = `*${word}*`;
    else if (roll < 0.09) word = `\`${word}()\``;
    else if (roll < 0.1) word = `[${word}](https://example.com/${word})`;
    else if (roll < 0.105) word = `$x_${out.length}^2$`;
    out.push(word);
  }
  const text = out.join(" ");
  return text[0].toUpperCase() + text.slice(1) + ".";
}

function paragraph(random) {
  const n = 2 + Math.floor(random() * 4);
  return Array.from({ length: n }, () => sentence(random)).join(" ");
}

function codeLines(random, n) {
  const lines = [];
  for (let i = 0; i < n; i++) {
    const roll = random();
    if (roll < 0.1) lines.push(`def handler_${i}(request, *args, **kwargs):`);
    else if (roll < 0.2) lines.push(`    # step ${i}: check the request before it is used`);
    else if (roll < 0.3) lines.push(`    return {"id": ${i}, "name": "item ${i}", "ok": True}`);
    else if (roll < 0.35) lines.push("");
    else lines.push(`    value_${i} = compute(value_${i - 1 < 0 ? 0 : i - 1}, factor=${(random() * 10).toFixed(2)})`);
  }
  return lines.join("\n");
}

function tableRows(random, rows, cols) {
  const head = "| " + Array.from({ length: cols }, (_, i) => `Column ${i + 1}`).join(" | ") + " |";
  const rule = "|" + Array.from({ length: cols }, (_, i) => (i === cols - 1 ? "---:" : "---")).join("|") + "|";
  const lines = [head, rule];
  for (let r = 0; r < rows; r++) {
    lines.push("| " + Array.from({ length: cols }, (_, c) => (c === cols - 1 ? (random() * 1000).toFixed(2) : sentence(random, 1 + Math.floor(random() * 5)).replace(/\|/g, ""))).join(" | ") + " |");
  }
  return lines.join("\n");
}

function mixed(random, length) {
  const parts = [];
  let size = 0;
  let n = 0;
  while (size < length) {
    const roll = random();
    let part;
    if (roll < 0.45) part = paragraph(random);
    else if (roll < 0.55) part = `${"#".repeat(2 + Math.floor(random() * 2))} ${sentence(random, 4)}`;
    else if (roll < 0.67) part = Array.from({ length: 2 + Math.floor(random() * 6) }, (_, i) => `${random() < 0.5 ? "-" : `${i + 1}.`} ${sentence(random)}`).join("\n").replace(/\n(\d+\.)/g, "\n$1");
    else if (roll < 0.79) part = "```python\n" + codeLines(random, 8 + Math.floor(random() * 40)) + "\n```";
    else if (roll < 0.86) part = tableRows(random, 3 + Math.floor(random() * 8), 3 + Math.floor(random() * 3));
    else if (roll < 0.92) part = "> " + paragraph(random);
    else if (roll < 0.96) part = "$$\n\\sum_{i=1}^{n} x_i^2 = \\frac{a}{b}\n$$";
    else part = `- [${random() < 0.5 ? " " : "x"}] ${sentence(random, 5)}\n- [ ] ${sentence(random, 5)}`;
    parts.push(part);
    size += part.length + 2;
    n++;
  }
  return parts.join("\n\n") + "\n";
}

export const REPLIES = {
  prose: () => mixed(rng(1), 40000).replace(/```python[\s\S]*?```\n\n/g, "").slice(0, 24000).replace(/\n[^\n]*$/, "\n"),
  list: () => Array.from({ length: 500 }, (_, i) => `- Item ${i + 1}: ${sentence(rng(i + 7))}`).join("\n") + "\n",
  code: () => "```python\n" + codeLines(rng(3), 3000) + "\n```\n",
  table: () => tableRows(rng(5), 400, 5) + "\n",
  mixed: () => mixed(rng(9), 200000),
};

// ------------------------------------------------------------------ streaming

function deltas(text, seed) {
  const random = rng(seed);
  const out = [];
  for (let i = 0; i < text.length; ) {
    const size = 3 + Math.floor(random() * 5); // 3-7 characters
    out.push(text.slice(i, i + size));
    i += size;
  }
  return out;
}

function quantile(sorted, q) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Streams one reply: `perTick` deltas every `tickMs` (setInterval), rendering on animation
 * frames as the page will. Resolves with per-frame script time of the renderer, layout
 * shift, and whether the streamed DOM equals renderInto's.
 */
export async function run(name, { tickMs = 4, perTick = 1 } = {}) {
  // As on the chat page, where history renders first: the renderer's idle warm-up has run.
  await new Promise((resolve) => requestIdleCallback(resolve, { timeout: 1000 }));
  const text = REPLIES[name]();
  const box = document.getElementById("reply");
  const reply = new ReplyRenderer(box, { docId: "bench" });
  const times = [];
  const render = reply._render.bind(reply);
  reply._render = (final) => {
    const began = performance.now();
    render(final);
    const took = performance.now() - began;
    if (!final) times.push(took);
  };
  let shift = 0;
  const shifts = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (!entry.hadRecentInput) shift += entry.value;
  });
  shifts.observe({ type: "layout-shift" });
  const pieces = deltas(text, 42);
  let next = 0;
  const began = performance.now();
  return new Promise((resolve) => {
    const follow = () => {
      scroller.scrollTop = scroller.scrollHeight;
      if (next < pieces.length) requestAnimationFrame(follow);
    };
    requestAnimationFrame(follow);
    const timer = setInterval(() => {
      for (let i = 0; i < perTick && next < pieces.length; i++) reply.append(pieces[next++]);
      if (next < pieces.length) return;
      clearInterval(timer);
      requestAnimationFrame(() =>
        setTimeout(() => {
          const finishBegan = performance.now();
          reply.finish();
          const finishMs = performance.now() - finishBegan;
          const streamedMs = performance.now() - began;
          shifts.takeRecords().forEach((entry) => { if (!entry.hadRecentInput) shift += entry.value; });
          shifts.disconnect();
          const streamed = box.innerHTML;
          const reference = document.createElement("div");
          renderInto(reference, text, { docId: "bench" });
          const sorted = [...times].sort((a, b) => a - b);
          resolve({
            name,
            chars: text.length,
            deltas: pieces.length,
            frames: times.length,
            seconds: streamedMs / 1000,
            p50: quantile(sorted, 0.5),
            p99: quantile(sorted, 0.99),
            max: sorted[sorted.length - 1] || 0,
            over4ms: sorted.filter((t) => t > 4).length,
            finishMs,
            layoutShift: shift,
            sameAsWhole: streamed === reference.innerHTML,
          });
        }, 50),
      );
    }, tickMs);
  });
}

window.bench = { run, REPLIES };
window.benchReady = true;
