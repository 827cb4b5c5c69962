// DOMPurify with an allowlist of exactly what the markdown renderer emits: markdown-it's
// HTML, task-list checkboxes, footnotes, highlight.js spans and Temml's MathML. Anything
// else (script, style, img, iframe, form, svg, event handlers, style attributes, data-*,
// unsafe URLs) is removed, whatever the markdown produced.
import DOMPurify from "../../vendor/dompurify/purify.mjs";

const HTML_TAGS = [
  "a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
  "hr", "input", "label", "li", "ol", "p", "pre", "s", "section", "span", "strong", "sub",
  "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
];

// Everything DOMPurify accepts in the MathML namespace that Temml may write.
const MATH_TAGS = [
  "math", "annotation", "semantics", "menclose", "merror", "mfrac", "mi", "mmultiscripts",
  "mn", "mo", "mover", "mpadded", "mphantom", "mprescripts", "mroot", "mrow", "ms", "mspace",
  "msqrt", "mstyle", "msub", "msubsup", "msup", "mtable", "mtd", "mtext", "mtr", "munder",
  "munderover", "mlabeledtr", "none",
];

const HTML_ATTRS = [
  "href", "title", "class", "id", "start", "type", "checked", "disabled", "align", "target",
  "rel", "aria-label",
];

const MATH_ATTRS = [
  "accent", "accentunder", "bevelled", "close", "columnalign", "columnlines", "columnspacing",
  "columnspan", "denomalign", "depth", "dir", "display", "displaystyle", "encoding", "fence",
  "form", "frame", "framespacing", "height", "largeop", "linethickness", "lspace",
  "mathbackground", "mathcolor", "mathsize", "mathvariant", "maxsize", "minsize",
  "movablelimits", "notation", "numalign", "open", "rowalign", "rowlines", "rowspacing",
  "rowspan", "rspace", "scriptlevel", "separator", "separators", "stretchy", "symmetric",
  "voffset", "width",
];

// http, https, mailto, and URLs without a scheme (relative, #anchors). Same test as the
// renderer's own (parser.js isSafeUrl); this is the second wall.
const SAFE_URI = /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i;

const CONFIG = {
  ALLOWED_TAGS: [...HTML_TAGS, ...MATH_TAGS],
  ALLOWED_ATTR: [...HTML_ATTRS, ...MATH_ATTRS],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOWED_URI_REGEXP: SAFE_URI,
  FORBID_ATTR: ["style"],
};

function harden(node) {
  if (node.nodeName === "INPUT") {
    // The only input markdown makes is a task-list checkbox: read-only, whatever it said.
    node.setAttribute("type", "checkbox");
    node.setAttribute("disabled", "");
  } else if (node.nodeName === "A" && node.hasAttribute("target")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
}

function purifier(extra) {
  const purify = DOMPurify(window);
  purify.setConfig({ ...CONFIG, ...extra });
  purify.addHook("afterSanitizeAttributes", harden);
  return purify;
}

const toString = purifier({});
const toFragment = purifier({ RETURN_DOM_FRAGMENT: true });

/** Clean HTML as a string. */
export function sanitizeHtml(html) {
  return toString.sanitize(html);
}

/** Clean HTML as a DocumentFragment, ready to insert. */
export function sanitizeFragment(html) {
  return toFragment.sanitize(html);
}
