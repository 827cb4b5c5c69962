// The words the server defines once (chat/models.py: reply statuses, tool-call states and
// their labels, the notices under a reply), read from the page's json_script "vocabulary",
// so no module keeps a copy of its own.

const words = JSON.parse(document.getElementById("vocabulary").textContent);

/** Reply statuses by name: STATUS.STREAMING === "streaming". */
export const STATUS = Object.freeze(words.statuses);
/** Tool-call states by name: TOOL_STATE.DONE === "done" (the CSS class is `is-done`). */
export const TOOL_STATE = Object.freeze(words.toolStates);
export const TOOL_STATE_LABELS = Object.freeze(words.toolStateLabels);
export const ENDED_TOOL_STATES = new Set(words.endedToolStates);
/** What to say under a reply that ended with this status, when it has no error of its own. */
export const NOTICES = Object.freeze(words.notices);
