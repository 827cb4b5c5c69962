// The sidebar's date groups: Pinned, Today, Yesterday, Previous 7 days, Previous 30 days,
// then one per month. Days are the reader's own, in the browser's time zone, so the
// server sends ISO times (data-updated) and the page decides where each one goes.

import { cloneTemplate } from "./dom.js";

export const PINNED = "Pinned";

const MONTH = new Intl.DateTimeFormat("en", { month: "long", year: "numeric" });

/** The group of a conversation last updated at `when`, seen at `now` (both Dates). */
export function groupOf(when, now = new Date()) {
  const day = (offset) => new Date(now.getFullYear(), now.getMonth(), now.getDate() - offset);
  if (when >= day(0)) return "Today"; // and a time a little ahead of this clock's
  if (when >= day(1)) return "Yesterday";
  if (when >= day(7)) return "Previous 7 days";
  if (when >= day(30)) return "Previous 30 days";
  return MONTH.format(when);
}

/** The group an item of the list belongs in. */
export function itemGroup(li, now = new Date()) {
  if (li.dataset.pinned) return PINNED;
  return groupOf(new Date(li.dataset.updated || Date.now()), now);
}

/** Put a heading above the first item of each group in `list`, and only there. */
export function regroup(list, now = new Date()) {
  for (const old of list.querySelectorAll(":scope > .conv-group")) old.remove();
  let current = null;
  for (const li of list.querySelectorAll(":scope > .conv-item")) {
    const group = itemGroup(li, now);
    if (group === current) continue;
    current = group;
    const heading = cloneTemplate("conv-group");
    heading.querySelector(".conv-group-title").textContent = group;
    heading.dataset.group = group;
    li.before(heading);
  }
}
