// GitHub Flavored Markdown where markdown-it differs from cmark-gfm, GitHub's own renderer.
// A markdown-it plugin (md.use(gfm)); it needs markdown-it's `linkify: true`.
// Each rule says what cmark-gfm does; tests/test_markdown_conformance.py measures the
// result against cmark-gfm itself (docs/rendering.md, "Compared with GitHub").

export default function gfm(md) {
  md.inline.ruler.at("strikethrough", tildes);
  md.inline.ruler2.at("strikethrough", strikethrough);
  md.core.ruler.push("gfm_one_strong", oneStrongForNestedStrong);
  autolinks(md);
  // An autolink shows its address as written: markdown-it would decode "%20" to a space
  // and "xn--" hosts to Unicode in the link's text.
  md.normalizeLinkText = (url) => url;
  return md;
}

// --- Strikethrough: a run of one or two tildes opens or closes, and only a run of the
// same length closes it ("~a~", "~~a~~"; not "~a~~"). Longer runs are text. Pairs are
// found as for emphasis (balance_pairs, with the run's length for the rule of 3); a pair
// of different lengths leaves both as text, as in cmark-gfm. Rendered as <del>.

const TILDE = 0x7e;

function tildes(state, silent) {
  const start = state.pos;
  if (silent || state.src.charCodeAt(start) !== TILDE) return false;
  const scanned = state.scanDelims(start, true);
  const token = state.push("text", "", 0);
  token.content = state.src.slice(start, start + scanned.length);
  if (scanned.length <= 2) {
    state.delimiters.push({
      marker: TILDE,
      length: scanned.length,
      token: state.tokens.length - 1,
      end: -1,
      open: scanned.can_open,
      close: scanned.can_close,
    });
  }
  state.pos += scanned.length;
  return true;
}

function pairTildes(state, delimiters) {
  for (const opener of delimiters) {
    if (opener.marker !== TILDE || opener.end === -1) continue;
    const closer = delimiters[opener.end];
    const open = state.tokens[opener.token];
    const close = state.tokens[closer.token];
    if (open.content.length !== close.content.length) continue;
    Object.assign(open, { type: "s_open", tag: "del", nesting: 1, markup: open.content });
    Object.assign(close, { type: "s_close", tag: "del", nesting: -1, markup: close.content });
    open.content = close.content = "";
  }
}

function strikethrough(state) {
  pairTildes(state, state.delimiters);
  for (const meta of state.tokens_meta) {
    if (meta?.delimiters) pairTildes(state, meta.delimiters);
  }
}

// --- A strong directly inside a strong ("****foo****", "**a **b****") is written as one
// <strong>: cmark-gfm's HTML renderer skips the inner pair's tags.

function oneStrongForNestedStrong(state) {
  for (const block of state.tokens) {
    if (block.type !== "inline" || !block.children) continue;
    const open = [];
    for (const token of block.children) {
      if (token.nesting === 1) {
        if (token.type === "strong_open" && open.at(-1)?.type === "strong_open") {
          token.hidden = true;
        }
        open.push(token);
      } else if (token.nesting === -1) {
        const opener = open.pop();
        if (token.type === "strong_close" && opener?.hidden) token.hidden = true;
      }
    }
  }
}

// --- Autolinks, GFM's "autolink extension": http://, https://, ftp:// and www. links and
// email addresses in plain text. linkify-it (markdown-it's linkify) finds more than GitHub
// (bare domains, "//host", addresses in any script) and ends links by other rules, so it
// is told GitHub's: the schemes are checked by cmark-gfm's rules below, fuzzy links and
// emails are off, and emails get a rule of their own (linkify-it's schemes only look
// forward from a prefix; an address is found from its "@").

const SPACE = /[ \t\n\v\f\r]/; // cmark_isspace
const UNICODE_SPACE = /\s/u;
const PUNCTUATION = /[!-/:-@[-`{-~\p{P}]/u; // cmark_utf8proc_is_punctuation
const ALPHA = /[A-Za-z]/;
const ALNUM = /[A-Za-z0-9]/;

function autolinks(md) {
  // GitHub links nothing inside an unclosed "[" ("[see http://a.com]" stays text).
  const linkify = md.inline.ruler.__rules__.find((rule) => rule.name === "linkify").fn;
  // The bracket scan runs from the paragraph's start, so only where a link would begin:
  // run at every position, it made long paragraphs quadratic.
  md.inline.ruler.at("linkify", (state, silent) => {
    const pos = state.pos;
    if (!linkify(state, true)) return false;
    state.pos = pos; // the silent check moved past the link
    return insideBracket(state.src, pos) ? false : linkify(state, silent);
  });
  md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
  md.linkify.add("//", null); // no scheme-relative links in GFM
  md.linkify.add("mailto:", null); // addresses, with or without mailto:, are found below
  const url = { validate: (text, pos) => urlLength(text, pos) };
  for (const scheme of ["http:", "https:", "ftp:"]) md.linkify.add(scheme, url);
  md.linkify.add("www.", {
    validate: (text, pos) => wwwLength(text, pos),
    normalize: (match) => {
      match.url = `http://${match.url}`;
    },
  });
  md.core.ruler.after("text_join", "gfm_email", emailAutolinks);
}

// Whether text[0:end] leaves a "[" open (backslash escapes and code spans aside).
function insideBracket(text, end) {
  let depth = 0;
  for (let i = 0; i < end; i++) {
    const char = text[i];
    if (char === "\\") i++;
    else if (char === "`") {
      const run = /^`+/.exec(text.slice(i))[0];
      const close = text.indexOf(run, i + run.length);
      if (close !== -1 && close < end) i = close + run.length - 1;
      else i += run.length - 1;
    } else if (char === "[") depth++;
    else if (char === "]" && depth > 0) depth--;
  }
  return depth > 0;
}

// A host character: neither space nor punctuation (cmark-gfm's is_valid_hostchar).
function isHostChar(char) {
  return char !== undefined && !UNICODE_SPACE.test(char) && !PUNCTUATION.test(char);
}

// cmark-gfm's check_domain: how far the domain goes (0: not a domain). No "_" in the
// last two segments; a www. domain needs a ".".
function domainLength(data, allowShort) {
  let i = 1;
  let dots = 0;
  let underscoresBefore = 0;
  let underscores = 0;
  for (; i < data.length - 1; i++) {
    if (data[i] === "\\" && i < data.length - 2) i++;
    if (data[i] === "_") underscores++;
    else if (data[i] === ".") {
      underscoresBefore = underscores;
      underscores = 0;
      dots++;
    } else if (!isHostChar(data[i]) && data[i] !== "-") break;
  }
  if ((underscoresBefore > 0 || underscores > 0) && dots <= 10) return 0;
  return allowShort || dots ? i : 0;
}

// cmark-gfm's autolink_delim: a link ends before "<" and loses trailing punctuation, an
// unbalanced ")" and an entity-like "&name;".
function trimmedEnd(data, end) {
  let opening = 0;
  let closing = 0;
  for (let i = 0; i < end; i++) {
    if (data[i] === "<") {
      end = i;
      break;
    }
    if (data[i] === "(") opening++;
    else if (data[i] === ")") closing++;
  }
  while (end > 0) {
    const last = data[end - 1];
    if (last === ")") {
      if (closing <= opening) return end;
      closing--;
      end--;
    } else if ("?!.,:*_~'\"".includes(last)) {
      end--;
    } else if (last === ";") {
      let start = end - 2;
      while (start > 0 && ALPHA.test(data[start])) start--;
      end = start < end - 2 && data[start] === "&" ? start : end - 1;
    } else {
      return end;
    }
  }
  return end;
}

// Up to the next space or "<", then trimmed.
function linkEnd(data, from) {
  let end = from;
  while (end < data.length && !SPACE.test(data[end]) && data[end] !== "<") end++;
  return trimmedEnd(data, end);
}

// "http:" and the like: `pos` is just after the colon. A host character must follow
// "//"; the length returned counts from `pos`.
function urlLength(text, pos) {
  if (insideBracket(text, pos)) return 0;
  const data = text.slice(pos - 1); // from the colon, as cmark-gfm counts
  if (data.length < 4 || data[1] !== "/" || data[2] !== "/" || !isHostChar(data[3])) return 0;
  const domain = domainLength(data.slice(3), true);
  if (!domain) return 0;
  return Math.max(linkEnd(data, 3 + domain) - 1, 0);
}

// "www.": lowercase, only at the start of the text, after a space, or after "*", "_", "~", "(".
function wwwLength(text, pos) {
  const start = pos - 4;
  const before = text[start - 1];
  if (text.slice(start, pos) !== "www.") return 0; // linkify-it ignores case; GitHub does not
  if (start > 0 && !"*_~(".includes(before) && !SPACE.test(before)) return 0;
  if (insideBracket(text, start)) return 0;
  const data = text.slice(start);
  const domain = domainLength(data, false);
  if (!domain) return 0;
  return Math.max(linkEnd(data, domain) - 4, 0);
}

// Email addresses in text outside links (cmark-gfm's postprocess_text): letters, digits
// and ".+-_" before the "@" (optionally "mailto:" or "xmpp:" before them, then kept in
// the link); after it letters, digits, "-", "_" and inner dots, at least one dot, ending
// with a letter.
function emailAutolinks(state) {
  for (const block of state.tokens) {
    if (block.type !== "inline" || !block.children) continue;
    let depth = 0;
    const children = [];
    for (const token of block.children) {
      if (token.type === "link_open") depth++;
      if (token.type === "link_close") depth--;
      if (token.type === "text" && depth === 0 && token.content.includes("@")) {
        children.push(...splitEmails(state, token));
      } else {
        children.push(token);
      }
    }
    block.children = children;
  }
}

function splitEmails(state, token) {
  const text = token.content;
  const pieces = [];
  let done = 0; // text before this is already in `pieces`
  let from = 0; // where to look for the next "@"
  for (;;) {
    const at = text.indexOf("@", from);
    if (at === -1) break;
    const found = emailAround(text, at, from);
    if (!found) {
      from = at + 1;
      continue;
    }
    const [start, end, scheme] = found;
    const link = text.slice(start, end);
    const href = state.md.normalizeLink(scheme ? link : `mailto:${link}`);
    if (state.md.validateLink(href)) {
      pieces.push(textToken(state, text.slice(done, start), token.level));
      const open = new state.Token("link_open", "a", 1);
      open.attrs = [["href", href]];
      Object.assign(open, { level: token.level, markup: "linkify", info: "auto" });
      const close = new state.Token("link_close", "a", -1);
      Object.assign(close, { level: token.level, markup: "linkify", info: "auto" });
      pieces.push(open, textToken(state, link, token.level + 1), close);
      done = end;
    }
    from = end;
  }
  if (!pieces.length) return [token];
  pieces.push(textToken(state, text.slice(done), token.level));
  return pieces.filter((piece) => piece.type !== "text" || piece.content);
}

function textToken(state, content, level) {
  const token = new state.Token("text", "", 0);
  return Object.assign(token, { content, level });
}

// [start, end, scheme] of the address whose "@" is at `at`, or null. `floor`: where the
// text still free for a new link begins.
function emailAround(text, at, floor) {
  let start = at;
  while (start > floor && (ALNUM.test(text[start - 1]) || ".+-_".includes(text[start - 1]))) {
    start--;
  }
  if (start === at) return null;
  let scheme = "";
  for (const name of ["mailto:", "xmpp:"]) {
    const begin = start - name.length;
    if (begin >= floor && text.slice(begin, start) === name && !ALNUM.test(text[begin - 1] ?? "")) {
      scheme = name;
      start = begin;
      break;
    }
  }
  let end = at + 1;
  let dots = 0;
  for (; end < text.length; end++) {
    const char = text[end];
    if (ALNUM.test(char)) continue;
    if (char === "@") return null; // a second "@": cmark-gfm starts again from it
    if (char === "." && ALNUM.test(text[end + 1] ?? "")) dots++;
    else if (char === "/" && scheme === "xmpp:") continue;
    else if (char !== "-" && char !== "_") break;
  }
  const last = text[end - 1];
  if (end - at < 2 || dots === 0 || (!ALPHA.test(last) && last !== ".")) return null;
  end = at + trimmedEnd(text.slice(at), end - at);
  return end > at ? [start, end, scheme] : null;
}
