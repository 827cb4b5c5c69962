// Finished blocks are kept in groups of GROUP_SIZE elements (<div class="md-group">). A
// browser lays out a block's children one after another: with a thousand blocks directly
// in the reply, every frame of a long reply costs a little more layout than the one before
// (4 ms a frame at 200k characters, measured); in groups, a frame lays out the last group
// and the short list of groups. renderInto() groups a whole message the same way.
export const GROUP_SIZE = 32;

export function newGroup() {
  const group = document.createElement("div");
  group.className = "md-group";
  return group;
}

/** `nodes` (in order) in groups of GROUP_SIZE elements, as a fragment of groups. */
export function grouped(nodes) {
  const fragment = document.createDocumentFragment();
  let group = null;
  let count = 0;
  for (const node of nodes) {
    if (!group || (node.nodeType === 1 && count >= GROUP_SIZE)) {
      group = newGroup();
      count = 0;
      fragment.append(group);
    }
    if (node.nodeType === 1) count += 1;
    group.append(node);
  }
  return fragment;
}
