// What the page says outside the thread: a polite announcer for screen readers, and error
// notices above the composer that the reader dismisses.
import { byId, cloneTemplate } from "./dom.js";

const MAX_NOTICES = 3;

export function announce(text) {
  const announcer = byId("announcer");
  // Cleared first so the same sentence twice is still read out.
  announcer.textContent = "";
  window.setTimeout(() => { announcer.textContent = text; }, 50);
}

export function showError(text) {
  const box = byId("notices");
  for (const old of box.querySelectorAll(".notice")) {
    if (old.querySelector(".notice-text").textContent === text) old.remove();
  }
  const notice = cloneTemplate("notice");
  notice.querySelector(".notice-text").textContent = text;
  notice.querySelector(".notice-close").addEventListener("click", () => {
    notice.remove();
    byId("composer-input").focus();
  });
  box.append(notice);
  while (box.children.length > MAX_NOTICES) box.firstElementChild.remove();
}
