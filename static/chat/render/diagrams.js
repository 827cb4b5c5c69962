// ```mermaid blocks drawn as diagrams, under the page's strict CSP.
//
// mermaid is imported only when a page has a diagram. It draws into a scratch element of
// the page (it must measure text), with securityLevel "strict" and no HTML labels; the SVG
// it returns is shown as <img src="data:image/svg+xml,…">: an SVG image runs no script and
// fetches nothing, and img-src allows data:. While mermaid draws, the things it does that
// the CSP would refuse (and report) are done the allowed way instead: style attributes are
// set through CSSOM, its <style> element becomes a constructed stylesheet (put back into the
// SVG text afterwards), the markup its own DOMPurify parses carries no style or on*
// attribute, and any image a diagram names is replaced by a blank data: image, unfetched.
// A diagram that fails keeps its source as a code block, with a one-line reason under it.

const MERMAID_URL = new URL("../../vendor/mermaid/mermaid.esm.min.mjs", import.meta.url).href;
const SVG_NS = "http://www.w3.org/2000/svg";

// Settings a diagram's own %%{init}%% directive may not change.
const SECURE = [
  "secure", "securityLevel", "startOnLoad", "maxTextSize", "maxEdges", "suppressErrorRendering",
  "htmlLabels", "flowchart", "theme", "themeCSS", "themeVariables", "fontFamily", "darkMode",
  "deterministicIds", "deterministicIDSeed", "look",
];

let mermaidReady = null;
let queue = Promise.resolve();
const pending = new Set();

function loadMermaid() {
  mermaidReady ||= import(MERMAID_URL).then(({ default: mermaid }) => {
    mermaid.initialize({
      startOnLoad: false,
      securityLevel: "strict",
      htmlLabels: false,
      flowchart: { htmlLabels: false },
      suppressErrorRendering: true,
      theme: "default",
      // A system font: the image cannot load web fonts, so measure with what it will use.
      fontFamily: "Arial, Helvetica, sans-serif",
      deterministicIds: true,
      maxTextSize: 50000,
      maxEdges: 500,
      secure: SECURE,
    });
    return mermaid;
  });
  return mermaidReady;
}

// CSS from a diagram (classDef, style) may not fetch anything or escape its rules.
function harmlessCss(css) {
  return css
    .replace(/\\/g, "")
    .replace(/@import[^;]*;?/gi, "")
    .replace(/url\(\s*(?!['"]?#)[^)]*\)/gi, "none")
    .replace(/(?:image-set|image|cross-fade|element)\(/gi, "none(");
}

// A 1×1 transparent GIF: what an image a diagram names is replaced with (never fetched).
const BLANK_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
const URL_ATTRIBUTES = new Set(["src", "href", "xlink:href"]);

function harmlessUrl(value) {
  return /^\s*(?:data:image\/|#)/i.test(value) ? value : BLANK_IMAGE;
}

// Event-handler attributes in markup mermaid's own DOMPurify parses: it would drop them,
// but parsing them in a page with this CSP already reports a violation.
function withoutHandlers(html) {
  return html.replace(/<[^>]*>/g, (tag) =>
    tag.replace(/\s(?:on[a-z]+)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)/gi, "").replace(/ style="/g, ' data-mstyle="'),
  );
}

/** Runs `work` (mermaid drawing in `scratch`) with what the CSP would refuse done its way. */
async function sandboxed(scratch, work) {
  const sheets = [];
  const saved = {
    setAttribute: Element.prototype.setAttribute,
    setAttributeNS: Element.prototype.setAttributeNS,
    insertBefore: Node.prototype.insertBefore,
    appendChild: Node.prototype.appendChild,
    append: Element.prototype.append,
    prepend: Element.prototype.prepend,
    parseFromString: DOMParser.prototype.parseFromString,
    imageSrc: Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src"),
  };
  const divert = (node, parent) => {
    if (!node || node.localName !== "style") return node;
    const css = harmlessCss(node.textContent || "");
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    sheets.push(sheet);
    if (!(parent === scratch || scratch.contains(parent))) return document.createComment("style");
    const keep = document.createElementNS(SVG_NS, "desc");
    keep.setAttribute("class", "mermaid-css");
    keep.textContent = css;
    return keep;
  };
  Element.prototype.setAttribute = function (name, value) {
    const lower = String(name).toLowerCase();
    if (lower === "style") {
      this.style.cssText = harmlessCss(String(value));
      return undefined;
    }
    if (URL_ATTRIBUTES.has(lower)) value = harmlessUrl(String(value));
    return saved.setAttribute.call(this, name, value);
  };
  Element.prototype.setAttributeNS = function (ns, name, value) {
    const lower = String(name).toLowerCase();
    if (lower === "style") {
      this.style.cssText = harmlessCss(String(value));
      return undefined;
    }
    if (URL_ATTRIBUTES.has(lower.replace(/^.*:(?=href$)/, "xlink:")) || lower === "href") value = harmlessUrl(String(value));
    return saved.setAttributeNS.call(this, ns, name, value);
  };
  Node.prototype.insertBefore = function (node, child) {
    return saved.insertBefore.call(this, divert(node, this), child);
  };
  Node.prototype.appendChild = function (node) {
    return saved.appendChild.call(this, divert(node, this));
  };
  Element.prototype.append = function (...nodes) {
    return saved.append.apply(this, nodes.map((node) => divert(node, this)));
  };
  Element.prototype.prepend = function (...nodes) {
    return saved.prepend.apply(this, nodes.map((node) => divert(node, this)));
  };
  DOMParser.prototype.parseFromString = function (text, type) {
    return saved.parseFromString.call(this, withoutHandlers(String(text)), type);
  };
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...saved.imageSrc,
    set(value) {
      saved.imageSrc.set.call(this, harmlessUrl(String(value)));
    },
  });
  try {
    return await work();
  } finally {
    Element.prototype.setAttribute = saved.setAttribute;
    Element.prototype.setAttributeNS = saved.setAttributeNS;
    Node.prototype.insertBefore = saved.insertBefore;
    Node.prototype.appendChild = saved.appendChild;
    Element.prototype.append = saved.append;
    Element.prototype.prepend = saved.prepend;
    DOMParser.prototype.parseFromString = saved.parseFromString;
    Object.defineProperty(HTMLImageElement.prototype, "src", saved.imageSrc);
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((sheet) => !sheets.includes(sheet));
  }
}

function hashOf(text) {
  let hash = 5381;
  for (let i = 0; i < text.length; i++) hash = ((hash * 33) ^ text.charCodeAt(i)) >>> 0;
  return hash.toString(36);
}

// The SVG text as a standalone image: styles back in, a fixed size instead of width="100%".
function standalone(svg) {
  let out = svg
    .replace(/ data-mstyle="/g, ' style="')
    .replace(/<desc class="mermaid-css">([\s\S]*?)<\/desc>/g, "<style>$1</style>");
  const box = /viewBox="([-\d.e]+)[ ,]+([-\d.e]+)[ ,]+([\d.e]+)[ ,]+([\d.e]+)"/.exec(out);
  const width = box ? Math.ceil(Number(box[3])) : 0;
  const height = box ? Math.ceil(Number(box[4])) : 0;
  out = out.replace(/^<svg([^>]*)>/, (tag, attrs) => {
    const kept = attrs.replace(/ (?:width|height|style)="[^"]*"/g, "");
    return `<svg${kept}${width ? ` width="${width}" height="${height}"` : ""}>`;
  });
  const title = /<title[^>]*>([^<]*)<\/title>/.exec(out);
  const kind = /aria-roledescription="([^"]*)"/.exec(out);
  const name = title ? title[1] : `${(kind ? kind[1] : "mermaid").replace(/-v\d+$/, "")} diagram`;
  return { svg: out, width, height, alt: name.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&") };
}

async function draw(block, pre, source) {
  if (!pre.isConnected) return;
  const mermaid = await loadMermaid();
  const scratch = document.createElement("div");
  Object.assign(scratch.style, { position: "absolute", left: "-10000px", top: "0", width: "1000px", visibility: "hidden" });
  document.body.append(scratch);
  let image;
  try {
    const id = `mermaid-${hashOf(source)}`;
    const { svg } = await sandboxed(scratch, () => mermaid.render(id, source, scratch));
    image = standalone(svg);
  } catch (error) {
    if (!pre.isConnected) return;
    const reason = String((error && (error.message || error.str)) || error).split("\n")[0].slice(0, 200).replace(/[\s:.]+$/, "");
    const note = document.createElement("p");
    note.className = "diagram-error";
    note.textContent = `Diagram not drawn: ${reason || "mermaid could not read it"}.`;
    block.append(note);
    return;
  } finally {
    scratch.remove();
  }
  if (!pre.isConnected) return;
  const figure = document.createElement("figure");
  figure.className = "diagram";
  const img = document.createElement("img");
  img.alt = image.alt;
  if (image.width) {
    img.width = image.width;
    img.height = image.height;
  }
  img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(image.svg);
  figure.append(img);
  pre.hidden = true; // kept for Copy, which copies the diagram's source
  pre.before(figure);
}

/** Draws every ```mermaid block under root, one at a time, once root is in the page. */
export function drawDiagrams(root) {
  for (const code of root.querySelectorAll("pre > code.language-mermaid")) {
    const pre = code.parentElement;
    const block = pre.closest(".code-block") || pre.parentElement;
    const source = code.textContent;
    const job = (queue = queue.then(() => draw(block, pre, source)).catch(() => {}));
    pending.add(job);
    job.finally(() => pending.delete(job));
  }
}

/** Resolves when every diagram asked for so far is drawn (or has failed). */
export async function diagramsSettled() {
  while (pending.size) await Promise.all([...pending]);
}
