// Display-closing of the live tail of a streaming reply: what is shown while a block is
// still being written must not show markdown syntax that the finished block will not show.
//
// Two steps, both on the tail only:
// - holdBackLines(src): trailing lines that cannot be told apart yet are held back (a line
//   that is so far only a list, heading or quote marker, a fence being opened or closed, a
//   `-`/`=` run that may underline a heading, a table row until it is complete (a header
//   row until its delimiter row is), a reference definition being typed, an unclosed $$
//   or \[ math block);
// - closeOpenInline(state), run between markdown-it's block and inline phases: the last
//   paragraph (or heading, or table cell) gets its open **, *, _, ~~ and `code` spans
//   closed, a half-typed link shown as its text, a lone [, a partial entity, autolink or an
//   unclosed $ / \( math held back.

// ------------------------------------------------------------------ lines

const CONTAINER = /^(?: {0,3}>[ \t]?| {0,3}(?:[-+*]|\d{1,9}[.)])(?=[ \t]|$)[ \t]*)/;
const DELIMITER_ROW = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

function stripContainers(line) {
  let inner = line;
  let list = false;
  for (let i = 0; i < 40; i++) {
    const match = CONTAINER.exec(inner);
    if (!match || !match[0]) break;
    if (!/^ {0,3}>/.test(match[0])) list = true;
    inner = inner.slice(match[0].length);
  }
  return { inner: inner.replace(/^[ \t]+/, ""), list };
}

function unfinishedLine(line) {
  const { inner, list } = stripContainers(line);
  if (inner === "" || inner === "$" || inner === "\\") return true; // only markers so far, or $$ / \[ begun
  if (/^(?:`{3,}|~{3,})/.test(inner) || /^(?:`{1,2}|~{1,2})$/.test(inner)) return true;
  if (/^#{1,6}[ \t]*$/.test(inner)) return true;
  if (/^([-=_*+])(?:[ \t]*\1)*[ \t]*$/.test(inner)) return true;
  if (/^\d{1,9}[.)]?$/.test(inner)) return true;
  if (/^\[(?:[^\]\\]|\\.)*$/.test(inner) || /^\[(?:[^\]\\]|\\.)*\]:?[ \t]*$/.test(inner)) return true;
  if (list && /^\[[ xX]?\]?$/.test(inner)) return true;
  return false;
}

function insideTable(lines, last) {
  // Walk up the block the last line belongs to, looking for a delimiter row under a header.
  for (let i = last; i > 0; i--) {
    if (!lines[i].trim()) return false;
    if (DELIMITER_ROW.test(lines[i]) && lines[i - 1].includes("|")) return true;
  }
  return false;
}

const startsRow = (line) => /^ {0,3}\|/.test(line);

// Lines opening a $$ or \[ block that has no closing line yet (outside code fences).
function openMathLine(lines) {
  let fence = null;
  let open = -1;
  let closer = "";
  lines.forEach((line, i) => {
    const { inner } = stripContainers(line);
    const fenceMark = /^(`{3,}|~{3,})/.exec(inner);
    if (open === -1 && fenceMark) {
      if (!fence) fence = fenceMark[1];
      else if (fenceMark[1][0] === fence[0] && fenceMark[1].length >= fence.length && !inner.slice(fenceMark[1].length).trim()) fence = null;
      return;
    }
    if (fence) return;
    const text = inner.trimEnd();
    if (open === -1) {
      if (text.startsWith("$$")) {
        if (!(text.length >= 4 && text.endsWith("$$"))) [open, closer] = [i, "$$"];
      } else if (text.startsWith("\\[") && !text.includes("\\]")) {
        [open, closer] = [i, "\\]"];
      }
    } else if (text.endsWith(closer)) {
      open = -1;
    }
  });
  return open;
}

/** The tail's source without the trailing lines that are not yet what they will be. */
export function holdBackLines(src) {
  const lines = src.split("\n");
  let last = lines.length - 1; // the line being written ("" when src ends with a newline)
  let partialKept = false;
  let delimiterWait = false;
  if (lines[last] !== "") {
    const line = lines[last];
    const table = last > 0 && lines[last - 1].trim() !== "" && insideTable(lines, last - 1);
    const underHeader = last > 0 && lines[last - 1].includes("|") && !table;
    delimiterWait = underHeader && /^ {0,3}[|:\- \t]*-[|:\- \t]*$/.test(line);
    // A table row shows once it is complete: half a row would resize the columns back and
    // forth as its cells fill (and a row that may be a header waits for its delimiter row).
    const drop = table || startsRow(line) || delimiterWait || unfinishedLine(line);
    if (drop) lines[last] = "";
    else partialKept = true;
  }
  // A row that may be a table's header waits for its delimiter row.
  const header = last > 0 ? lines[last - 1] : "";
  if (!partialKept && (startsRow(header) || delimiterWait) && !insideTable(lines, last - 1)) {
    lines.splice(last - 1, 1);
    last -= 1;
  }
  const math = openMathLine(lines);
  if (math !== -1) {
    lines.length = math;
    lines.push("");
  }
  return lines.join("\n");
}

// ------------------------------------------------------------------ inline

const PUNCT = /[\p{P}\p{S}]/u;
const SPACE = /\s/u;

function kind(ch) {
  if (ch === undefined || SPACE.test(ch)) return "space";
  return PUNCT.test(ch) ? "punct" : "other";
}

function flanking(before, after) {
  const b = kind(before);
  const a = kind(after);
  const left = a !== "space" && (a !== "punct" || b !== "other");
  const right = b !== "space" && (b !== "punct" || a !== "other");
  return { left, right, beforePunct: b === "punct", afterPunct: a === "punct" };
}

// End (index after ")") of a link destination and title starting at i (just after "("),
// -1 if the text ends before it does, -2 if it is not a link destination at all.
function linkEnd(s, i) {
  const n = s.length;
  while (i < n && /[ \t\n]/.test(s[i])) i++;
  if (i >= n) return -1;
  if (s[i] === "<") {
    i++;
    while (i < n && s[i] !== ">" && s[i] !== "<" && s[i] !== "\n") i += s[i] === "\\" ? 2 : 1;
    if (i >= n) return -1;
    if (s[i] !== ">") return -2;
    i++;
  } else {
    let depth = 0;
    while (i < n) {
      const c = s[i];
      if (c === "\\") i += 2;
      else if (c === "(") (depth++, i++);
      else if (c === ")") {
        if (depth === 0) break;
        depth--;
        i++;
      } else if (c <= " ") break;
      else i++;
    }
    if (i >= n) return -1;
  }
  while (i < n && /[ \t\n]/.test(s[i])) i++;
  if (i >= n) return -1;
  if (s[i] === ")") return i + 1;
  const quote = { '"': '"', "'": "'", "(": ")" }[s[i]];
  if (!quote) return -2;
  i++;
  while (i < n && s[i] !== quote) i += s[i] === "\\" ? 2 : 1;
  if (i >= n) return -1;
  i++;
  while (i < n && /[ \t\n]/.test(s[i])) i++;
  if (i >= n) return -1;
  return s[i] === ")" ? i + 1 : -2;
}

// What follows an unclosed $: TeX ($x, $\alpha, $2x^2) rather than an amount ($5, $3.50, $20k).
function looksLikeMath(rest) {
  if (!/^\d/.test(rest)) return true;
  return /^\d+(?:[.,]\d+)*[A-Za-z^_\\{(=+*/]/.test(rest) && !/^\d+(?:[.,]\d+)*[kKmMbB](?![A-Za-z])/.test(rest);
}

function nextDollar(s, from) {
  for (let j = s.indexOf("$", from); j !== -1; j = s.indexOf("$", j + 1)) {
    let slashes = 0;
    for (let k = j - 1; k >= 0 && s[k] === "\\"; k--) slashes++;
    if (slashes % 2 === 0) return j;
  }
  return -1;
}

/**
 * Inline markdown `s` (the end of a paragraph still being written) made displayable: open
 * emphasis and code closed, unfinished links, math and entities held back.
 */
export function closeInline(s) {
  // A trailing odd backslash, partial entity or autolink: not shown until it is complete.
  let slashes = 0;
  while (s[s.length - 1 - slashes] === "\\") slashes++;
  if (slashes % 2 === 1) s = s.slice(0, -1);
  s = s.replace(/&#?[A-Za-z0-9]{0,31}$/, "");
  const n0 = s.length;
  const stack = []; // open emphasis: {ch, len}
  const brackets = []; // unclosed [ and ![: {pos, image}
  const removed = new Set(); // positions of "[" to hide
  let cut = n0;
  let code = null; // an unclosed code span: {pos, len}
  let trailing = null; // a delimiter run that ends the text: {pos, ch, len, right}
  let i = 0;
  scan: while (i < n0) {
    const c = s[i];
    if (c === "\\") {
      if (s[i + 1] === "(") {
        const end = s.indexOf("\\)", i + 2);
        if (end === -1) {
          cut = i;
          break;
        }
        i = end + 2;
        continue;
      }
      i += 2;
      continue;
    }
    if (c === "`") {
      let k = i;
      while (s[k] === "`") k++;
      const len = k - i;
      let j = k;
      for (;;) {
        j = s.indexOf("`", j);
        if (j === -1) break;
        let e = j;
        while (s[e] === "`") e++;
        if (e - j === len) break;
        j = e;
      }
      if (j === -1) {
        code = { pos: i, len };
        cut = n0;
        break;
      }
      i = j + len;
      continue;
    }
    if (c === "$") {
      if (s[i + 1] === "$") {
        i += 2;
        continue;
      }
      const next = s[i + 1];
      if (next === undefined) {
        cut = i; // a $ just typed: math or money, not known yet
        break;
      }
      if (SPACE.test(next)) {
        i++;
        continue;
      }
      const j = nextDollar(s, i + 1);
      if (j === -1) {
        // Unclosed: math being typed is held back until its line ends; "$5" is money.
        if (!s.includes("\n", i) && looksLikeMath(s.slice(i + 1, i + 40))) {
          cut = i;
          break;
        }
        i++;
        continue;
      }
      const canClose = !SPACE.test(s[j - 1]) && !/[0-9]/.test(s[j + 1] || "");
      i = canClose ? j + 1 : i + 1;
      continue;
    }
    if (c === "<") {
      const rest = s.slice(i);
      const complete = /^<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>|^<[^\s<>@]+@[^\s<>]+>/.exec(rest);
      if (complete) {
        i += complete[0].length;
        continue;
      }
      if (/^<[A-Za-z][A-Za-z0-9+.-]{0,31}(?::[^\s<>]*)?$|^<[^\s<>@]+@[^\s<>]*$/.test(rest)) {
        cut = i;
        break;
      }
      i++;
      continue;
    }
    if ((c === "h" || c === "w") && (i === 0 || /[\s*_~(]/.test(s[i - 1]))) {
      const url = /^(?:https?:\/\/|www\.)[^\s<]*/.exec(s.slice(i, i + 2100));
      if (url) {
        // A bare URL: its _ and * are not emphasis.
        const end = i + url[0].replace(/[*_~.,:;!?'")\]]+$/, "").length;
        i = Math.max(end, i + 1);
        continue;
      }
    }
    if (c === "[" || (c === "!" && s[i + 1] === "[")) {
      brackets.push({ pos: i, image: c === "!" });
      i += c === "!" ? 2 : 1;
      continue;
    }
    if (c === "]") {
      const open = brackets.pop();
      if (!open) {
        i++;
        continue;
      }
      const next = s[i + 1];
      if (next === "(") {
        const end = linkEnd(s, i + 2);
        if (end === -1) {
          // [text](unfinished: show the text only; an image shows nothing yet.
          if (open.image) cut = open.pos;
          else {
            removed.add(open.pos);
            cut = i;
          }
          break scan;
        }
        if (end > 0) {
          // Links do not nest: the [ before a link can no longer open one (images can).
          if (!open.image) brackets.splice(0, brackets.length, ...brackets.filter((b) => b.image));
          i = end;
          continue;
        }
      } else if (next === "[") {
        const close = s.indexOf("]", i + 2);
        if (close === -1) {
          if (open.image) cut = open.pos;
          else {
            removed.add(open.pos);
            cut = i;
          }
          break scan;
        }
        i = close + 1;
        continue;
      } else if (next === undefined && s[open.pos + 1] !== "^") {
        // [text] at the very end is usually a link whose (url) is coming.
        if (open.image) cut = open.pos;
        else {
          removed.add(open.pos);
          cut = i;
        }
        break scan;
      }
      i++;
      continue;
    }
    if (c === "*" || c === "_" || c === "~") {
      let k = i;
      while (s[k] === c) k++;
      const len = k - i;
      const f = flanking(s[i - 1], s[k]);
      let canOpen = f.left;
      let canClose = f.right;
      if (c === "_") {
        canOpen = f.left && (!f.right || f.beforePunct);
        canClose = f.right && (!f.left || f.afterPunct);
      }
      if (k === n0) {
        trailing = { pos: i, ch: c, len, right: canClose };
        break;
      }
      // Only ~~ is closed: a single ~ is as often "about" (~3 hours) as strikethrough.
      if (c === "~" && len !== 2) {
        i = k;
        continue;
      }
      let left = len;
      if (canClose) {
        for (let j = stack.length - 1; j >= 0 && left > 0; j--) {
          const opener = stack[j];
          if (opener.ch !== c) continue;
          if (c !== "~" && (canOpen || opener.canClose) && (opener.len + len) % 3 === 0 && (opener.len % 3 !== 0 || len % 3 !== 0)) continue;
          const used = c === "~" ? Math.min(opener.len, left) : Math.min(opener.len, left, 2);
          opener.len -= used;
          left -= used;
          stack.length = opener.len > 0 ? j + 1 : j;
          j = stack.length; // look again from the top
        }
      }
      if (left > 0 && canOpen) stack.push({ ch: c, len: left, canClose, pos: k - left });
      i = k;
      continue;
    }
    i++;
  }

  // Unclosed [ (and ![, [^) still open at the end of the scan.
  for (const open of brackets) {
    if (open.pos >= cut) continue;
    if (open.image || s[open.pos + 1] === "^") cut = Math.min(cut, open.pos);
    else removed.add(open.pos);
  }

  let out = "";
  const head = Math.min(code ? code.pos : cut, cut);
  let from = 0;
  for (const p of [...removed].filter((q) => q < head).sort((a, b) => a - b)) {
    out += s.slice(from, p);
    from = p + 1;
  }
  out += s.slice(from, head);

  if (trailing && trailing.pos < cut) {
    // A run at the very end: keep it only if it exactly closes the innermost opener.
    out = out.slice(0, out.length - (n0 - trailing.pos));
    const top = stack[stack.length - 1];
    if (trailing.right && top && top.ch === trailing.ch && top.len === trailing.len && !SPACE.test(out.slice(-1))) {
      out += trailing.ch.repeat(trailing.len);
      stack.pop();
    }
  }

  const body = code ? s.slice(code.pos + code.len).replace(/`+$/, "") : "";
  if (body.trim()) {
    const ticks = "`".repeat(code.len);
    out += ticks + body + ticks;
  } else {
    out = out.trimEnd();
    // An opener with nothing after it yet ("- **" of "- **`code`**"): not shown.
    const at = (pos) => pos - [...removed].filter((p) => p < pos).length;
    while (stack.length && at(stack[stack.length - 1].pos) + stack[stack.length - 1].len >= out.length) {
      out = out.slice(0, at(stack.pop().pos)).trimEnd();
    }
  }
  for (let j = stack.length - 1; j >= 0; j--) out += stack[j].ch.repeat(stack[j].len);
  return out;
}

/** markdown-it core rule: close the last inline token if it ends the tail's source. */
export function closeOpenInline(state) {
  const tokens = state.tokens;
  // Text after a blank line has closed its paragraph: nothing to close.
  if (/\n[ \t]*\n[ \t]*$/.test(state.src)) return;
  for (let i = tokens.length - 1; i >= 0; i--) {
    const token = tokens[i];
    if (token.type === "inline") {
      token.content = closeInline(token.content);
      return;
    }
    if (token.nesting !== -1) return; // a code block, rule or math block ends the tail
  }
}
