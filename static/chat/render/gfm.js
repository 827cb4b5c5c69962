// GitHub Flavored Markdown where markdown-it's core differs from cmark-gfm (a markdown-it
// plugin: md.use(gfm)). Filled in by the conformance work; see docs/rendering.md.
export default function gfm(md) {
  return md;
}
