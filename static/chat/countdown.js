// "Try again in 20 s", counting down: how a refusal with a wait (a websocket limit's
// `retry_after`, a 429's Retry-After) is said, never just "wait a moment".

/** "20 s", "1 min 05 s": a wait as a person reads it. */
export function waitInWords(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  const rest = s % 60;
  return rest ? `${minutes} min ${String(rest).padStart(2, "0")} s` : `${minutes} min`;
}

/** Count `seconds` down in `element`: `${prefix}${wait}` each second, then `done`. Stops
 * by itself once the element leaves the page; returns a function that stops it too. */
export function countdown(element, seconds, { prefix = "Try again in ", done = "You can try again now." } = {}) {
  const end = Date.now() + seconds * 1000;
  let timer = 0;
  element.setAttribute("aria-live", "off"); // inside an alert: not read out every second
  const tick = () => {
    const left = (end - Date.now()) / 1000;
    if (left <= 0) {
      element.textContent = done;
      element.dataset.waiting = "false";
      return;
    }
    element.textContent = `${prefix}${waitInWords(left)}.`;
    element.dataset.waiting = "true";
    // To the next whole second, so the number moves on when it should.
    timer = window.setTimeout(() => {
      if (element.isConnected) tick();
    }, ((left * 1000) % 1000) || 1000);
  };
  tick();
  return () => window.clearTimeout(timer);
}

/** A server's sentence without its own "try again in N seconds", which the countdown says. */
export function withoutWait(text) {
  return text.replace(/[\s,:;.]*\btry again in \d+ (?:seconds?|minutes?)\b\.?/i, ".").replace(/^\.$/, "");
}
