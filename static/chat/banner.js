// The demo mode notice: one line on a phone, and gone for good once dismissed (in this
// browser: localStorage).

import { byId } from "./dom.js";

const KEY = "chat.demoBannerDismissed";

export function setUpDemoBanner(focusAfter) {
  const banner = byId("demo-banner");
  if (!banner) return;
  try {
    if (window.localStorage.getItem(KEY) === "1") banner.hidden = true;
  } catch {
    // storage off: the banner stays, and dismissing lasts for this page
  }
  byId("demo-dismiss").addEventListener("click", () => {
    banner.hidden = true;
    try {
      window.localStorage.setItem(KEY, "1");
    } catch {
      // as above
    }
    focusAfter();
  });
}
