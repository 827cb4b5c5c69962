// Small DOM helpers the page's modules share. Markup lives in the server's <template>
// elements (templates/chat/chat.html); the modules clone it and fill it in as text.

export const byId = (id) => document.getElementById(id);

/** A fresh copy of <template data-template=NAME>'s element, looked up under `root`. */
export function cloneTemplate(name, root = document) {
  const template = root.querySelector(`template[data-template="${name}"]`);
  if (!template) throw new Error(`The page has no <template data-template="${name}">.`);
  return template.content.firstElementChild.cloneNode(true);
}

// Python's len() counts code points, and so does the server's length limit: so do we.
export function charCount(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}
