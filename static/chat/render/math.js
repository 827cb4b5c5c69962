// TeX to MathML with Temml. MathML needs no inline styles, so it renders under the page's
// strict CSP; Temml's few style attributes are turned into MathML attributes or dropped.
import temml from "../../vendor/temml/temml.mjs";

const OPTIONS = {
  throwOnError: true,
  trust: false, // \href, \url, \includegraphics, \class, \htmlStyle… are errors
  strict: false,
  maxExpand: 1000, // bounds macro expansion: a hostile \def loop ends in an error
  maxSize: 20, // em: \rule{1000em}{1000em} cannot cover the page
};

const DELIMITERS = {
  $: ["$", "$"],
  "\\(": ["\\(", "\\)"],
  $$: ["$$", "$$"],
  "\\[": ["\\[", "\\]"],
};

const cache = new Map();
const CACHE_SIZE = 500;

function escapeHtml(text) {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// style="color:…" becomes mathcolor, background-color mathbackground; the rest (paddings
// Temml adds to matrices, display:block math) is left to Temml-Local.css.
function withoutStyles(html) {
  return html.replace(/ style="([^"]*)"/g, (_, declarations) => {
    let attrs = "";
    for (const declaration of declarations.split(";")) {
      const [name, value] = declaration.split(":").map((part) => part && part.trim());
      if (!value || !/^[#\w(),.% ]+$/.test(value)) continue;
      if (name === "color") attrs += ` mathcolor="${value}"`;
      else if (name === "background-color") attrs += ` mathbackground="${value}"`;
    }
    return attrs;
  });
}

function reasonOf(error) {
  const message = String((error && error.message) || error);
  return message.replace(/^\s*Temml parse error:\s*/, "").split(/ at position | at end of input|\n/)[0].trim();
}

/** MathML for `tex`, or on bad TeX its source (with its delimiters) as code. */
export function renderMath(tex, display, markup) {
  const key = (display ? "D" : "I") + markup + "\u0000" + tex;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let html;
  try {
    html = withoutStyles(temml.renderToString(tex, { ...OPTIONS, displayMode: display }));
  } catch (error) {
    const [open, close] = DELIMITERS[markup] || (display ? DELIMITERS.$$ : DELIMITERS.$);
    const source = escapeHtml(open + (display ? "\n" + tex : tex) + close);
    const title = escapeHtml("Not rendered: " + reasonOf(error));
    html = display
      ? `<pre class="math-error" title="${title}"><code>${source}</code></pre>`
      : `<code class="math-error" title="${title}">${source}</code>`;
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value);
  cache.set(key, html);
  return html;
}
