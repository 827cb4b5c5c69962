// A page refused with a wait (the login lockout: 429 with Retry-After) counts it down where
// it says it: every element with data-retry-after="<seconds>".

import { countdown, withoutWait } from "./countdown.js";

for (const element of document.querySelectorAll("[data-retry-after]")) {
  const seconds = Number(element.dataset.retryAfter);
  if (!Number.isFinite(seconds) || seconds <= 0) continue;
  element.textContent = `${withoutWait(element.textContent.trim())} `;
  const wait = document.createElement("span");
  wait.className = "retry-wait";
  element.append(wait);
  countdown(wait, seconds);
}
