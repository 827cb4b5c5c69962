// What the page says outside the thread: a polite announcer for screen readers, and error
// notices above the composer that the reader dismisses.
import { countdown, withoutWait } from "./countdown.js";
import { byId, cloneTemplate } from "./dom.js";

const MAX_NOTICES = 3;

export function announce(text) {
  const announcer = byId("announcer");
  // Cleared first so the same sentence twice is still read out.
  announcer.textContent = "";
  window.setTimeout(() => { announcer.textContent = text; }, 50);
}

/** `retryAfter` (seconds): the wait is counted down after the text ("Try again in 20 s"),
 * in place of any the text says itself; `prefix`, `done`: the countdown's words. */
export function showError(text, { retryAfter = null, prefix, done } = {}) {
  const box = byId("notices");
  for (const old of box.querySelectorAll(".notice")) {
    if (old.dataset.text === text) old.remove();
  }
  const notice = cloneTemplate("notice");
  notice.dataset.text = text;
  const words = notice.querySelector(".notice-text");
  if (retryAfter === null) {
    words.textContent = text;
  } else {
    words.textContent = `${withoutWait(text)} `;
    const wait = document.createElement("span");
    wait.className = "notice-wait";
    words.append(wait);
    countdown(wait, retryAfter, { prefix, done });
  }
  notice.querySelector(".notice-close").addEventListener("click", () => {
    notice.remove();
    byId("composer-input").focus();
  });
  box.append(notice);
  while (box.children.length > MAX_NOTICES) box.firstElementChild.remove();
}
