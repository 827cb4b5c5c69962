// The chat page: reads the page data the server wrote (json_script "page-data"), builds the
// thread from it at once, and wires the modules to one websocket speaking
// docs/protocol.md. The modules each do one thing; what a frame from the server means for
// the page is decided here.

import { setUpDemoBanner } from "./banner.js";
import { byId } from "./dom.js";
import { Composer } from "./composer.js";
import { announce, showError } from "./notices.js";
import { Settings } from "./settings.js";
import { installShortcuts } from "./shortcuts.js";
import { Search } from "./search.js";
import { Sidebar } from "./sidebar.js";
import { Socket } from "./socket.js";
import { Thread } from "./thread.js";
import { STATUS } from "./vocabulary.js";

const REPLY_START_TIMEOUT_MS = 20000; // give up waiting for a reply to start

const page = JSON.parse(byId("page-data").textContent);

const session = {
  conversation: page.conversation, // its id, or null until the first send creates one
  awaiting: false, // sent, retried or between two rounds: the reply's `message` not here yet
  awaitTimer: 0,
  stopping: false,
  resyncing: false, // an `open` is on its way; its `history` puts everything right
  nextRound: false, // a reply's tools ran: its next round is coming, not a new reply
};

const thread = new Thread(
  {
    scroller: byId("scroller"),
    messages: byId("messages"),
    empty: byId("empty-state"),
    jump: byId("jump-latest"),
  },
  { onRetry: retry, onRegenerate: regenerate, onEdit: edit, onSwitch: switchTo },
);

const composer = new Composer(
  {
    form: byId("composer"),
    input: byId("composer-input"),
    send: byId("send-btn"),
    stop: byId("stop-btn"),
    hint: byId("composer-hint"),
    count: byId("composer-count"),
  },
  { maxChars: page.maxChars, isBusy, send: sendMessage, stop, editLast: () => thread.editLast() },
);

const settings = new Settings(
  {
    modelPick: byId("model-pick"),
    model: byId("model-select"),
    button: byId("settings-btn"),
    dialog: byId("settings-dialog"),
    form: byId("settings-form"),
    prompt: byId("system-prompt"),
    status: byId("settings-status"),
    save: byId("settings-save"),
    cancel: byId("settings-cancel"),
  },
  page,
  { conversation: () => session.conversation, send: (frame) => socket.send(frame) },
);

const sidebar = new Sidebar({
  app: byId("app"),
  sidebar: byId("sidebar"),
  toggle: byId("sidebar-toggle"),
  close: byId("sidebar-close"),
  backdrop: byId("sidebar-backdrop"),
  list: byId("conv-list"),
  title: byId("conv-title"),
});

// ---------------------------------------------------------------- what the page sends

function openFrame() {
  if (session.conversation === null) return null;
  const frame = { type: "open", conversation: session.conversation };
  const resume = thread.resume();
  if (resume) frame.resume = resume;
  return frame;
}

// Frames were missed: ask again for the history and exactly the rest of the reply.
function resync() {
  if (session.resyncing) return;
  const frame = openFrame();
  session.resyncing = frame !== null && socket.send(frame);
}

function isBusy() {
  return session.awaiting || thread.streamingReply() !== null;
}

function updateComposer() {
  const streaming = thread.streamingReply() !== null;
  composer.update({ streaming, stopping: session.stopping, awaiting: session.awaiting });
}

function setAwaiting(on) {
  session.awaiting = on;
  if (!on) session.nextRound = false;
  window.clearTimeout(session.awaitTimer);
  if (on) session.awaitTimer = window.setTimeout(() => setAwaiting(false), REPLY_START_TIMEOUT_MS);
  updateComposer();
}

function sendMessage(text) {
  const frame = settings.withModel({ type: "send", conversation: session.conversation, content: text });
  // A new conversation takes the system prompt set before it existed.
  const prompt = settings.promptForNewConversation();
  if (session.conversation === null && prompt) frame.system_prompt = prompt;
  if (!socket.send(frame)) {
    socket.reconnectNow();
    return false;
  }
  setAwaiting(true);
  thread.followLatest();
  return true;
}

// A frame that makes or shows a version (docs/protocol.md): refused here, in words, while a
// reply is written or the socket is down. True once sent.
function askFor(frame) {
  if (isBusy()) {
    composer.hint("Wait for the reply to finish, or stop it.", "busy");
    return false;
  }
  if (!socket.send(frame)) {
    composer.hint("Reconnecting… Try again once connected.", "offline");
    return false;
  }
  return true;
}

// A new reply is coming, in place of the branch below where it starts.
function replyAsked() {
  setAwaiting(true);
  thread.followLatest();
  return true;
}

// Retry under a reply that failed: a new version of it, shown in its place.
function retry(button, id) {
  if (!regenerate(id)) return;
  button.disabled = true;
  composer.focus();
}

function regenerate(id) {
  const frame = { type: "regenerate", conversation: session.conversation, message: id };
  return askFor(settings.withModel(frame)) && replyAsked();
}

function edit(id, text) {
  const frame = { type: "edit", conversation: session.conversation, message: id, content: text };
  return askFor(settings.withModel(frame)) && replyAsked();
}

function switchTo(id) {
  return askFor({ type: "switch", conversation: session.conversation, message: id });
}

function stop() {
  if (session.stopping) return true;
  if (!socket.send({ type: "stop", conversation: session.conversation })) return false;
  session.stopping = true;
  updateComposer();
  return true;
}

// ---------------------------------------------------------------- what the server sends

function replyEnded(reply) {
  session.stopping = false;
  if (reply.status === STATUS.COMPLETE && reply.tools.length) {
    session.nextRound = true; // its tools ran: the model is asked again
    setAwaiting(true);
    return;
  }
  if (reply.status === STATUS.COMPLETE) announce("Reply finished.");
  else if (reply.status === STATUS.STOPPED) announce("Reply stopped.");
  else announce(reply.error || "The reply did not finish.");
  updateComposer();
}

let historyParts = null; // the parts of a `history` received so far

// Entries with the id of the one before them continue it: more content, more tool calls.
function joinEntries(into, entries) {
  for (const entry of entries || []) {
    const last = into[into.length - 1];
    if (last && last.id === entry.id) {
      if (entry.content) last.content = (last.content || "") + entry.content;
      if (entry.tool_calls) last.tool_calls = [...(last.tool_calls || []), ...entry.tool_calls];
    } else {
      into.push({ ...entry });
    }
  }
}

const handlers = {
  conversation(f) {
    const conv = f.conversation;
    if (session.conversation === null) {
      // The first send created it: this page is now that conversation.
      session.conversation = conv.id;
      window.history.replaceState(null, "", conv.url);
    }
    sidebar.conversation(conv, conv.id === session.conversation);
  },

  history(f) {
    if (f.conversation !== session.conversation) return;
    // A long history comes in parts (docs/protocol.md): joined here, applied at once.
    if (f.part === 0 || historyParts === null) historyParts = [];
    joinEntries(historyParts, f.messages);
    if (f.last === false) return;
    const messages = historyParts;
    historyParts = null;
    session.resyncing = false;
    if (session.awaiting) sidebar.moveToTop(session.conversation); // a new version was asked for
    thread.history(messages);
    composer.history(messages);
    setAwaiting(false);
    if (!thread.streamingReply()) session.stopping = false;
    updateComposer();
  },

  message(f) {
    if (f.conversation !== session.conversation) return;
    const m = f.message;
    thread.upsert(m);
    if (m.role === "user") {
      composer.saved();
      sidebar.moveToTop(session.conversation);
    } else if (m.role === "assistant" && m.status === STATUS.STREAMING) {
      if (!session.nextRound) announce("The assistant is replying.");
      session.nextRound = false;
      setAwaiting(false);
    }
    updateComposer();
  },

  frame(f) {
    const outcome = thread.frame(f);
    if (outcome === "resync") resync();
    else if (outcome === "ended") replyEnded(thread.reply(f.message));
  },

  deleted(f) {
    // Deleted elsewhere: gone from the list, and this page, if it showed it, goes. (Deleted
    // here: the sidebar is seeing to it, Undo included.)
    if (sidebar.deleting.has(f.conversation)) return;
    sidebar.remove(f.conversation);
    if (f.conversation === session.conversation) window.location.assign(document.querySelector(".new-chat").href);
  },

  settings(f) {
    if (f.conversation === session.conversation) settings.applied(f);
  },

  error(f) {
    if (settings.refused(f)) return;
    const wait = Number.isFinite(f.retry_after) ? { retryAfter: f.retry_after } : {};
    if (f.code === "too_many_sockets") {
      // The socket closes; it tries again by itself once the wait is over (socket.js).
      socket.waitBeforeReconnect(f.retry_after);
      Object.assign(wait, { prefix: "This page connects again in ", done: "Connecting again…" });
    }
    showError(f.message || "The server refused that.", wait);
    composer.refused();
    thread.refused();
    setAwaiting(false);
    session.stopping = false;
    thread.enableRetry();
    if (f.code === "logged_out") {
      // Back to the login form, and here again after it.
      window.location.assign(`${page.loginUrl || "/accounts/login/"}?next=${encodeURIComponent(window.location.pathname)}`);
      return;
    }
    if (f.code === "busy") resync(); // a reply we do not see is running: fetch it
    if (f.code === "not_found") session.resyncing = false;
    updateComposer();
  },
};

const socket = new Socket({
  path: page.wsPath,
  status: byId("conn-status"),
  handlers,
  openFrame,
  onOpen() {
    // The socket sent `open` already (if there is a conversation): its history is coming.
    session.resyncing = session.conversation !== null;
    composer.connected();
  },
  onClose() {
    composer.disconnected();
    setAwaiting(false);
    session.stopping = false;
  },
});

installShortcuts({
  stop: () => thread.streamingReply() !== null && stop(),
  focusComposer: () => composer.focus(),
  newChatUrl: document.querySelector(".new-chat").href,
});
setUpDemoBanner(() => composer.focus());
new Search({ button: byId("search-btn"), url: page.searchUrl, messages: byId("messages") });

thread.load(page.messages || []);
updateComposer();
socket.start();
// Not when an Undo is on offer (a delete of the conversation this page came from).
if (!("ontouchstart" in window) && !byId("toasts").contains(document.activeElement)) composer.focus();
