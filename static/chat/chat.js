/* The chat page: one websocket speaking docs/protocol.md, and the DOM it keeps current.
 *
 * Everything the server renders (message html, frame blocks and tail) is sanitised there
 * and inserted as HTML; everything else, `pending` included, goes in as text.
 */
(function () {
  "use strict";

  const FOLLOW_SLACK_PX = 40; // this close to the bottom counts as "reading the latest"
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 5000;
  const REPLY_START_TIMEOUT_MS = 20000; // give up waiting for a reply to start
  const VOID_TAGS = new Set(["AREA", "BR", "COL", "EMBED", "HR", "IMG", "INPUT", "SOURCE", "TRACK", "WBR"]);

  const byId = (id) => document.getElementById(id);
  const page = JSON.parse(byId("page-data").textContent);
  // Older servers leave these out: no model choice, no system prompt.
  page.models = Array.isArray(page.models) ? page.models : [];
  page.systemPrompt = page.systemPrompt || "";
  page.defaultSystemPrompt = page.defaultSystemPrompt || "";

  const ui = {
    app: byId("app"),
    sidebar: byId("sidebar"),
    sidebarToggle: byId("sidebar-toggle"),
    sidebarClose: byId("sidebar-close"),
    backdrop: byId("sidebar-backdrop"),
    convList: byId("conv-list"),
    title: byId("conv-title"),
    conn: byId("conn-status"),
    scroller: byId("scroller"),
    messages: byId("messages"),
    empty: byId("empty-state"),
    jump: byId("jump-latest"),
    notices: byId("notices"),
    composer: byId("composer"),
    input: byId("composer-input"),
    send: byId("send-btn"),
    stop: byId("stop-btn"),
    hint: byId("composer-hint"),
    count: byId("composer-count"),
    announcer: byId("announcer"),
    modelPick: byId("model-pick"),
    model: byId("model-select"),
    settingsBtn: byId("settings-btn"),
    settings: byId("settings-dialog"),
    settingsForm: byId("settings-form"),
    prompt: byId("system-prompt"),
    settingsStatus: byId("settings-status"),
    settingsSave: byId("settings-save"),
    settingsCancel: byId("settings-cancel"),
  };

  const state = {
    conversation: page.conversation, // id, or null until the first send creates one
    ws: null,
    backoff: BACKOFF_MIN_MS,
    reconnectTimer: 0,
    failures: 0,
    everOpened: false,
    resyncing: false, // an `open` is on its way; its `history` will rebuild everything
    sendWhenOpen: false, // Send was pressed while the socket was not open
    // Per assistant message id: the last frame seq applied, and whether the blocks in the
    // DOM are the server's blocks (a checkpoint's html is one lump, not countable blocks).
    replies: new Map(),
    follow: true, // keep the newest text in view while the reader is at the bottom
    pendingText: null, // sent, not yet echoed back: restored if the server refuses it
    unconfirmedText: null, // sent just before the socket dropped: maybe saved, maybe not
    awaitingReply: false, // sent or retried, the reply's `message` not yet here
    awaitTimer: 0,
    stopping: false,
    // Per assistant message id: which of its tool-call <details> the reader opened (true) or
    // closed (false), by index, so a frame or a rebuild does not undo it.
    toolOpen: new Map(),
    savingPrompt: null, // a `settings` frame is on its way with this text
    saveTimer: 0,
    closeTimer: 0,
  };

  // ---------------------------------------------------------------- small helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(className, text, label) {
    const node = el("button", className, text);
    node.type = "button";
    if (label) node.setAttribute("aria-label", label);
    return node;
  }

  // Python's len() counts code points; so does spreading a string.
  function charCount(text) {
    return [...text].length;
  }

  function announce(text) {
    // Cleared first so the same sentence twice is still read out.
    ui.announcer.textContent = "";
    window.setTimeout(() => { ui.announcer.textContent = text; }, 50);
  }

  function setHint(text, kind) {
    ui.hint.textContent = text || "";
    ui.hint.dataset.kind = kind || "";
  }

  function showError(text) {
    for (const old of ui.notices.querySelectorAll(".notice")) {
      if (old.firstChild.textContent === text) old.remove();
    }
    const notice = el("div", "notice notice-error");
    notice.setAttribute("role", "alert");
    const close = button("icon-btn notice-close", "×", "Dismiss");
    close.addEventListener("click", () => { notice.remove(); ui.input.focus(); });
    notice.append(el("p", "notice-text", text), close);
    ui.notices.append(notice);
    while (ui.notices.children.length > 3) ui.notices.firstElementChild.remove();
  }

  // ---------------------------------------------------------------- messages

  function findMessage(id) {
    return ui.messages.querySelector(`.msg[data-id="${Number(id)}"]`);
  }

  function streamingMessage() {
    return ui.messages.querySelector('.msg[data-role="assistant"][data-status="streaming"]');
  }

  function buildNotice(status, error) {
    let text;
    if (status === "stopped") text = "Stopped.";
    else if (status === "error") text = error || "Something went wrong while writing this reply.";
    else if (status === "interrupted") text = error || "This reply was interrupted.";
    else return null;
    const notice = el("div", "msg-notice");
    notice.dataset.kind = status;
    notice.append(el("p", "msg-notice-text", text));
    if (status !== "stopped") notice.append(button("btn btn-small msg-retry", "Retry"));
    return notice;
  }

  function caret() {
    const node = el("span", "caret");
    node.setAttribute("aria-hidden", "true");
    return node;
  }

  function buildBlock(html) {
    const block = el("div", "md-block");
    block.innerHTML = html; // sanitised by the server
    addCopyButtons(block);
    return block;
  }

  // Tool results are shown by the server inside their call's block, never on their own.
  function isShown(m) {
    return m.role !== "tool";
  }

  // Mirrors templates/chat/_message.html.
  function buildMessage(m) {
    const article = el("article", "msg");
    article.dataset.role = m.role;
    article.dataset.id = String(m.id);
    const body = el("div", "msg-body");
    if (m.role === "assistant") {
      article.dataset.status = m.status;
      const blocks = el("div", "md-blocks");
      if (m.html) blocks.append(buildBlock(m.html)); // holds its tool calls, if any
      const tail = el("div", "md-tail");
      if (m.status === "streaming") tail.append(caret());
      body.append(blocks, tail, el("div", "msg-tools"));
      article.append(body);
      const notice = buildNotice(m.status, m.error);
      if (notice) article.append(notice);
      restoreToolOpen(article);
    } else {
      body.innerHTML = m.html;
      article.append(body);
    }
    return article;
  }

  function trackReply(m, lastSeq) {
    if (m.role !== "assistant") return;
    // A streaming message's html is a checkpoint: one lump, so its blocks cannot be counted
    // and the next frame must start at 0 (or we resynchronise).
    const synced = m.status !== "streaming" || !m.html;
    state.replies.set(Number(m.id), { lastSeq: lastSeq || 0, synced });
  }

  // ---------------------------------------------------------------- tool calls

  function toolCalls(article) {
    return article.querySelectorAll("details.tool-call");
  }

  function toolsBox(article) {
    let box = article.querySelector(":scope > .msg-body > .msg-tools");
    if (!box) {
      box = el("div", "msg-tools");
      article.querySelector(":scope > .msg-body").append(box);
    }
    return box;
  }

  // Re-applies what the reader opened or closed; the rest stays as the server sent it.
  function restoreToolOpen(article) {
    const choices = state.toolOpen.get(Number(article.dataset.id));
    if (!choices) return;
    toolCalls(article).forEach((details, i) => {
      if (choices.has(i)) details.open = choices.get(i);
    });
  }

  function setTools(article, html) {
    const box = toolsBox(article);
    box.innerHTML = html || ""; // sanitised by the server
    restoreToolOpen(article);
  }

  // A click on a tool call's summary: remember the state it is about to take.
  function rememberToolToggle(summary) {
    const details = summary.parentElement;
    const article = details.closest(".msg");
    if (!article) return;
    const id = Number(article.dataset.id);
    const index = [...toolCalls(article)].indexOf(details);
    if (index < 0) return;
    if (!state.toolOpen.has(id)) state.toolOpen.set(id, new Map());
    state.toolOpen.get(id).set(index, !details.open);
  }

  function setStatus(article, status, error) {
    if (article.dataset.status === status && article.dataset.error === (error || "")) return;
    article.dataset.status = status;
    article.dataset.error = error || "";
    const old = article.querySelector(":scope > .msg-notice");
    if (old) old.remove();
    const notice = buildNotice(status, error);
    if (notice) article.append(notice);
  }

  function updateEmptyState() {
    ui.empty.hidden = ui.messages.children.length > 0;
  }

  // Where `pending` text goes: the innermost element that ends the tail, so words carry on
  // the last paragraph, list item or code line instead of starting a new line.
  function pendingHost(tail) {
    let node = tail;
    for (;;) {
      let child = node.lastChild;
      while (child && child.nodeType === Node.TEXT_NODE && !child.data.trim()) {
        child = child.previousSibling;
      }
      if (!child || child.nodeType !== Node.ELEMENT_NODE || VOID_TAGS.has(child.tagName)) {
        return node;
      }
      node = child;
    }
  }

  function fillTail(tail, html, pending, streaming) {
    tail.innerHTML = html || ""; // sanitised by the server
    // The tail's code gets its header too, so the block does not jump when it is finished.
    addCopyButtons(tail);
    if (!pending && !streaming) return;
    const host = pendingHost(tail);
    if (pending) host.append(document.createTextNode(pending)); // text, never HTML
    if (streaming) host.append(caret());
  }

  function applyFrame(f) {
    if (f.conversation !== state.conversation) return;
    const article = findMessage(f.message);
    const reply = state.replies.get(f.message);
    if (!article || !reply) {
      resync(); // its `message` never reached us
      return;
    }
    if (f.seq <= reply.lastSeq) return; // duplicate
    const blocks = article.querySelector(".md-blocks");
    const held = reply.synced ? blocks.children.length : 0;
    if (f.start > held) {
      resync(); // frames were missed
      return;
    }
    while (blocks.children.length > f.start) blocks.lastElementChild.remove();
    for (const html of f.blocks) blocks.append(buildBlock(html));
    reply.lastSeq = f.seq;
    reply.synced = true;

    if (Object.prototype.hasOwnProperty.call(f, "tools")) setTools(article, f.tools);
    const hasTools = toolCalls(article).length > 0;

    const streaming = f.status === "streaming";
    // Once the calls are showing, their own state says what is happening: no lone caret.
    const showCaret = streaming && !(hasTools && !f.tail && !f.pending);
    fillTail(article.querySelector(".md-tail"), f.tail, f.pending, showCaret);
    const wasStreaming = article.dataset.status === "streaming";
    setStatus(article, f.status, f.error);
    if (wasStreaming && !streaming) replyEnded(f.status, f.error);
    contentChanged();
  }

  function replyEnded(status, error) {
    state.stopping = false;
    if (status === "complete") announce("Reply finished.");
    else if (status === "stopped") announce("Reply stopped.");
    else announce(error || "The reply did not finish.");
    updateComposer();
  }

  function upsertMessage(m) {
    const existing = findMessage(m.id);
    if (!isShown(m)) {
      if (existing) existing.remove();
      return;
    }
    const previous = state.replies.get(m.id);
    const article = buildMessage(m);
    if (existing) existing.replaceWith(article);
    else ui.messages.append(article);
    trackReply(m, previous ? previous.lastSeq : 0);
    updateEmptyState();
    contentChanged();
  }

  function renderHistory(messages) {
    state.replies.clear();
    const shown = messages.filter(isShown);
    ui.messages.replaceChildren(...shown.map(buildMessage));
    for (const m of shown) trackReply(m, 0);
    updateEmptyState();
    contentChanged();
  }

  // ---------------------------------------------------------------- copy buttons

  // Each <pre> gets a header strip with a Copy button: <div.code-wrap><div.code-head>…<pre>.
  // Not a tool call's arguments and result: those are small boxes of their own.
  function addCopyButtons(root) {
    for (const pre of root.querySelectorAll("pre")) {
      if (pre.parentElement.classList.contains("code-wrap") || pre.closest(".tool-call")) continue;
      const wrap = el("div", "code-wrap");
      const head = el("div", "code-head");
      head.append(button("copy-btn", "Copy", "Copy code"));
      pre.before(wrap);
      wrap.append(head, pre);
    }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http deployments (a LAN address) have no clipboard API.
    const buffer = el("textarea", "copy-buffer");
    buffer.value = text;
    buffer.setAttribute("readonly", "");
    document.body.append(buffer);
    buffer.select();
    const ok = document.execCommand("copy");
    buffer.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function onCopyClick(btn) {
    const pre = btn.closest(".code-wrap").querySelector("pre");
    const code = pre.querySelector("code") || pre;
    copyText(code.textContent).then(
      () => { btn.textContent = "Copied"; btn.dataset.state = "done"; announce("Copied to the clipboard."); },
      () => { btn.textContent = "Copy failed"; btn.dataset.state = "failed"; },
    );
    window.clearTimeout(btn._resetTimer);
    btn._resetTimer = window.setTimeout(() => { btn.textContent = "Copy"; delete btn.dataset.state; }, 1600);
  }

  // ---------------------------------------------------------------- scrolling

  function nearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= FOLLOW_SLACK_PX;
  }

  function scrollToBottom() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }

  function onScroll() {
    state.follow = nearBottom();
    ui.jump.hidden = state.follow;
  }

  // Called after anything in the thread grows: follow only a reader who is at the bottom.
  function contentChanged() {
    if (state.follow) scrollToBottom();
    else ui.jump.hidden = nearBottom();
  }

  function jumpToLatest() {
    state.follow = true;
    scrollToBottom();
    ui.jump.hidden = true;
    ui.input.focus();
  }

  // ---------------------------------------------------------------- composer

  function autoGrow() {
    const input = ui.input;
    input.style.height = "auto"; // CSSOM, which the CSP allows; the max is in chat.css
    const border = input.offsetHeight - input.clientHeight;
    input.style.height = `${input.scrollHeight + border}px`;
    contentChanged();
  }

  function updateCount() {
    const n = charCount(ui.input.value);
    const max = page.maxChars;
    const show = n > max * 0.8;
    ui.count.hidden = !show;
    ui.count.textContent = show ? `${n.toLocaleString()} / ${max.toLocaleString()}` : "";
    ui.count.dataset.over = String(n > max);
  }

  function isBusy() {
    return state.awaitingReply || streamingMessage() !== null;
  }

  function updateComposer() {
    const focused = document.activeElement;
    const streaming = streamingMessage() !== null;
    ui.stop.hidden = !streaming;
    // aria-disabled, not disabled: a disabled button drops keyboard focus onto <body>.
    ui.stop.setAttribute("aria-disabled", String(state.stopping));
    ui.stop.querySelector(".stop-label").textContent = state.stopping ? "Stopping…" : "Stop";
    ui.send.hidden = streaming;
    ui.send.disabled = state.awaitingReply;
    ui.composer.dataset.busy = String(isBusy());
    // Send and Stop take turns: a keyboard user on one must not be dropped onto <body>.
    if ((focused === ui.stop || focused === ui.send) && focused.hidden) ui.input.focus();
  }

  function setAwaitingReply(on) {
    state.awaitingReply = on;
    window.clearTimeout(state.awaitTimer);
    if (on) state.awaitTimer = window.setTimeout(() => setAwaitingReply(false), REPLY_START_TIMEOUT_MS);
    updateComposer();
  }

  // Put text the server did not keep back in the box, ahead of anything typed since.
  function restoreDraft(text) {
    const current = ui.input.value;
    ui.input.value = current.trim() ? `${text}\n\n${current}` : text;
    autoGrow();
    updateCount();
  }

  function trySend() {
    const text = ui.input.value;
    const max = page.maxChars;
    if (!text.trim()) {
      setHint("Type a message first.", "warn");
      return;
    }
    if (charCount(text) > max) {
      setHint(`Too long: messages are limited to ${max.toLocaleString()} characters.`, "warn");
      return;
    }
    if (isBusy()) {
      setHint("Wait for the reply to finish, or stop it.", "warn");
      return;
    }
    const frame = withModel({ type: "send", conversation: state.conversation, content: text });
    // A new conversation takes the system prompt set before it existed.
    if (state.conversation === null && page.systemPrompt) frame.system_prompt = page.systemPrompt;
    if (!sendFrame(frame)) {
      // Pressed Send before the socket was up (or while it is down): send it on (re)connect.
      state.sendWhenOpen = true;
      setHint("Connecting… Your message will be sent as soon as the connection is up.", "offline");
      reconnectNow();
      return;
    }
    state.sendWhenOpen = false;
    state.pendingText = text;
    state.unconfirmedText = null;
    setAwaitingReply(true);
    ui.input.value = "";
    autoGrow();
    updateCount();
    setHint("");
    state.follow = true;
    scrollToBottom();
  }

  // ---------------------------------------------------------------- model choice

  function setupModels() {
    const models = page.models;
    ui.model.replaceChildren(...models.map((name) => {
      const option = el("option", "", name);
      option.value = name;
      return option;
    }));
    // A model no longer offered falls back to the site default (the first).
    if (models.length) ui.model.value = models.includes(page.model) ? page.model : models[0];
    ui.modelPick.hidden = models.length < 2;
  }

  function withModel(frame) {
    if (page.models.length) frame.model = ui.model.value || page.models[0];
    return frame;
  }

  function onComposerKey(event) {
    // isComposing / 229: Enter that confirms an IME candidate is not "send".
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    trySend();
  }

  function sendRetry(btn) {
    if (isBusy()) {
      setHint("Wait for the reply to finish, or stop it.", "warn");
      return;
    }
    if (!sendFrame(withModel({ type: "retry", conversation: state.conversation }))) {
      setHint("Reconnecting… Try again once connected.", "offline");
      return;
    }
    btn.disabled = true;
    ui.input.focus();
    setAwaitingReply(true);
    state.follow = true;
    scrollToBottom();
  }

  function sendStop() {
    if (state.stopping) return;
    if (!sendFrame({ type: "stop", conversation: state.conversation })) {
      setHint("Reconnecting… Try again once connected.", "offline");
      return;
    }
    state.stopping = true;
    updateComposer();
  }

  // ---------------------------------------------------------------- settings (system prompt)

  function setSettingsStatus(text, kind) {
    ui.settingsStatus.textContent = text || "";
    ui.settingsStatus.dataset.kind = kind || "";
  }

  function showPromptState() {
    ui.prompt.placeholder = page.defaultSystemPrompt
      ? `Site default: ${page.defaultSystemPrompt}`
      : "No system prompt";
    ui.settingsBtn.dataset.custom = String(page.systemPrompt.trim() !== "");
  }

  function setSaving(text) {
    state.savingPrompt = text;
    window.clearTimeout(state.saveTimer);
    ui.settingsSave.setAttribute("aria-disabled", String(text !== null));
    if (text !== null) {
      state.saveTimer = window.setTimeout(() => {
        setSaving(null);
        setSettingsStatus("No answer from the server. Try again.", "error");
      }, REPLY_START_TIMEOUT_MS / 2);
    }
  }

  function openSettings() {
    window.clearTimeout(state.closeTimer);
    ui.prompt.value = page.systemPrompt;
    setSettingsStatus("");
    setSaving(null);
    showPromptState();
    if (!ui.settings.open) ui.settings.showModal();
    ui.prompt.focus();
  }

  function closeSettings() {
    window.clearTimeout(state.closeTimer);
    if (ui.settings.open) ui.settings.close();
  }

  // Saved: say so a moment, then close (unless the reader carries on editing).
  function settingsSaved(message) {
    setSettingsStatus(message, "ok");
    announce(message);
    window.clearTimeout(state.closeTimer);
    state.closeTimer = window.setTimeout(closeSettings, 900);
  }

  function saveSettings() {
    if (state.savingPrompt !== null) return;
    const text = ui.prompt.value;
    if (state.conversation === null) {
      // No conversation yet: the first `send` carries it.
      page.systemPrompt = text;
      showPromptState();
      settingsSaved("Saved. It applies from your first message.");
      return;
    }
    if (!sendFrame({ type: "settings", conversation: state.conversation, system_prompt: text })) {
      setSettingsStatus("Not connected. Try again once connected.", "error");
      return;
    }
    setSaving(text);
    setSettingsStatus("Saving…");
  }

  function applySettings(f) {
    const wasEditing = ui.settings.open && ui.prompt.value !== page.systemPrompt;
    const confirming = state.savingPrompt !== null;
    page.systemPrompt = typeof f.system_prompt === "string" ? f.system_prompt : "";
    showPromptState();
    if (confirming) {
      setSaving(null);
      ui.prompt.value = page.systemPrompt;
      settingsSaved("Saved.");
    } else if (ui.settings.open && !wasEditing) {
      // Changed elsewhere (another tab) while open but untouched here: show the new one.
      ui.prompt.value = page.systemPrompt;
    }
  }

  // ---------------------------------------------------------------- sidebar

  function convUrl(attr, id) {
    return ui.convList.dataset[attr].replace("999999999", String(id));
  }

  function csrfInput() {
    const token = document.querySelector("input[name=csrfmiddlewaretoken]");
    const input = el("input");
    input.type = "hidden";
    input.name = "csrfmiddlewaretoken";
    input.value = token ? token.value : "";
    return input;
  }

  // Mirrors the list item in templates/chat/chat.html.
  function buildConvItem(conv) {
    const li = el("li", "conv-item");
    li.dataset.id = String(conv.id);
    const link = el("a", "conv-link", conv.title);
    link.href = conv.url;

    const rename = el("form", "conv-rename");
    rename.method = "post";
    rename.action = convUrl("renameUrl", conv.id);
    const label = el("label", "visually-hidden", "New title");
    label.htmlFor = `rename-${conv.id}`;
    const input = el("input", "conv-rename-input");
    Object.assign(input, { type: "text", name: "title", maxLength: 200, id: label.htmlFor, hidden: true });
    const renameBtn = button("icon-btn conv-rename-btn", "Rename");
    renameBtn.title = "Rename";
    rename.append(csrfInput(), label, input, renameBtn);

    const del = el("form", "conv-delete");
    del.method = "post";
    del.action = convUrl("deleteUrl", conv.id);
    const delBtn = el("button", "icon-btn conv-delete-btn", "Delete");
    delBtn.type = "submit";
    delBtn.title = "Delete";
    del.append(csrfInput(), delBtn);

    li.append(link, rename, del);
    setConvTitle(li, conv.title);
    return li;
  }

  function setConvTitle(li, title) {
    li.querySelector(".conv-link").textContent = title;
    li.querySelector(".conv-rename-input").value = title;
    li.querySelector(".conv-rename-btn").setAttribute("aria-label", `Rename “${title}”`);
    li.querySelector(".conv-delete-btn").setAttribute("aria-label", `Delete “${title}”`);
  }

  function findConvItem(id) {
    return ui.convList.querySelector(`.conv-item[data-id="${Number(id)}"]`);
  }

  function moveConvToTop(li) {
    const placeholder = ui.convList.querySelector(".conv-empty");
    if (placeholder) placeholder.remove();
    if (ui.convList.firstElementChild !== li) ui.convList.prepend(li);
  }

  function markCurrentConv(id) {
    for (const li of ui.convList.querySelectorAll(".conv-item")) {
      const current = li.dataset.id === String(id);
      li.classList.toggle("is-current", current);
      const link = li.querySelector(".conv-link");
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  function showTitle(title) {
    ui.title.textContent = title;
    document.title = `${title} · Chat`;
  }

  function startRename(form) {
    const li = form.closest(".conv-item");
    const input = form.querySelector(".conv-rename-input");
    li.classList.add("is-renaming");
    input.hidden = false;
    input.value = li.querySelector(".conv-link").textContent;
    const btn = form.querySelector(".conv-rename-btn");
    btn.textContent = "Save";
    input.focus();
    input.select();
  }

  function cancelRename(form) {
    const li = form.closest(".conv-item");
    if (!li.classList.contains("is-renaming")) return;
    li.classList.remove("is-renaming");
    const input = form.querySelector(".conv-rename-input");
    input.hidden = true;
    input.value = li.querySelector(".conv-link").textContent;
    form.querySelector(".conv-rename-btn").textContent = "Rename";
  }

  function onConvClick(event) {
    const btn = event.target.closest(".conv-rename-btn");
    if (!btn) return;
    const form = btn.form;
    if (form.closest(".conv-item").classList.contains("is-renaming")) form.requestSubmit();
    else startRename(form);
  }

  function onConvSubmit(event) {
    const form = event.target;
    const li = form.closest(".conv-item");
    const title = li.querySelector(".conv-link").textContent;
    if (form.classList.contains("conv-delete")) {
      if (!window.confirm(`Delete “${title}”? This cannot be undone.`)) event.preventDefault();
      return;
    }
    const input = form.querySelector(".conv-rename-input");
    if (!li.classList.contains("is-renaming") || !input.value.trim() || input.value.trim() === title) {
      event.preventDefault();
      cancelRename(form);
    }
  }

  function onConvKey(event) {
    if (event.key !== "Escape" || !event.target.classList.contains("conv-rename-input")) return;
    event.preventDefault();
    const form = event.target.form;
    cancelRename(form);
    form.querySelector(".conv-rename-btn").focus();
  }

  function onConvFocusOut(event) {
    const form = event.target.closest(".conv-rename");
    if (form && !form.contains(event.relatedTarget)) cancelRename(form);
  }

  const narrow = window.matchMedia("(max-width: 767.98px)");

  function setSidebar(open) {
    ui.app.classList.toggle("sidebar-open", open);
    ui.sidebarToggle.setAttribute("aria-expanded", String(open));
    ui.backdrop.hidden = !open;
    if (open) (ui.sidebar.querySelector(".is-current .conv-link") || ui.sidebar.querySelector("a")).focus();
  }

  function closeSidebar() {
    if (!ui.app.classList.contains("sidebar-open")) return;
    setSidebar(false);
    if (narrow.matches) ui.sidebarToggle.focus();
  }

  // ---------------------------------------------------------------- frames from the server

  const handlers = {
    conversation(f) {
      const conv = f.conversation;
      if (state.conversation === null) {
        // The first send created it: this page is now that conversation.
        state.conversation = conv.id;
        window.history.replaceState(null, "", conv.url);
      }
      let li = findConvItem(conv.id);
      if (li) setConvTitle(li, conv.title);
      else if (conv.id === state.conversation) li = buildConvItem(conv);
      if (conv.id === state.conversation) {
        moveConvToTop(li);
        markCurrentConv(conv.id);
        showTitle(conv.title);
      }
    },

    history(f) {
      if (f.conversation !== state.conversation) return;
      state.resyncing = false;
      renderHistory(f.messages);
      confirmUnsent(f.messages);
      setAwaitingReply(false);
      if (!streamingMessage()) state.stopping = false;
      updateComposer();
    },

    message(f) {
      if (f.conversation !== state.conversation) return;
      const m = f.message;
      upsertMessage(m);
      if (m.role === "user") {
        state.pendingText = null; // saved: nothing left to restore
        state.unconfirmedText = null;
        const li = findConvItem(state.conversation);
        if (li) moveConvToTop(li);
      } else if (m.role === "assistant" && m.status === "streaming") {
        setAwaitingReply(false);
        announce("The assistant is replying.");
      }
      updateComposer();
    },

    frame: applyFrame,

    settings(f) {
      if (f.conversation !== state.conversation) return;
      applySettings(f);
    },

    error(f) {
      if (state.savingPrompt !== null && ui.settings.open) {
        // The dialog is modal: this answers its Save.
        setSaving(null);
        setSettingsStatus(f.message || "The server refused that.", "error");
        return;
      }
      showError(f.message || "The server refused that.");
      if (state.pendingText !== null) {
        restoreDraft(state.pendingText);
        state.pendingText = null;
      }
      setAwaitingReply(false);
      state.stopping = false;
      for (const btn of ui.messages.querySelectorAll(".msg-retry:disabled")) btn.disabled = false;
      if (f.code === "busy") resync(); // a reply we do not see is running: fetch it
      if (f.code === "not_found") state.resyncing = false;
      updateComposer();
    },
  };

  // A message sent as the socket dropped was put back in the box; if the server did save
  // it (history ends with it), take it out again so it is not sent twice.
  function confirmUnsent(messages) {
    const text = state.unconfirmedText;
    state.unconfirmedText = null;
    if (text === null) return;
    const squash = (s) => s.replace(/\s+/g, "");
    const lastUser = [...messages].reverse().find((m) => m.role === "user");
    if (!lastUser) return;
    const probe = document.createElement("template");
    probe.innerHTML = lastUser.html;
    if (squash(probe.content.textContent) === squash(text) && ui.input.value === text) {
      ui.input.value = "";
      autoGrow();
      updateCount();
      setHint("");
    }
  }

  // ---------------------------------------------------------------- the socket

  function sendFrame(frame) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  function resync() {
    if (state.resyncing || state.conversation === null) return;
    state.resyncing = sendFrame({ type: "open", conversation: state.conversation });
  }

  function setConnection(mode) {
    ui.conn.dataset.state = mode;
    ui.conn.hidden = mode === "open";
    if (mode === "down") {
      ui.conn.textContent = state.failures >= 6
        ? "Still reconnecting… If this persists, reload the page."
        : "Reconnecting…";
    } else if (mode === "connecting") {
      ui.conn.textContent = "Connecting…";
    }
  }

  function connect() {
    window.clearTimeout(state.reconnectTimer);
    state.reconnectTimer = 0;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${window.location.host}${page.wsPath}`);
    state.ws = ws;
    ws.addEventListener("open", () => onOpen(ws));
    ws.addEventListener("close", () => onClose(ws));
    ws.addEventListener("message", (event) => onFrame(event.data));
  }

  function onOpen(ws) {
    if (ws !== state.ws) return;
    const wasDown = state.failures > 0 || state.everOpened;
    state.backoff = BACKOFF_MIN_MS;
    state.failures = 0;
    state.everOpened = true;
    state.resyncing = false;
    setConnection("open");
    if (wasDown) announce("Reconnected.");
    if (ui.hint.dataset.kind === "offline") setHint("Connected again. You can send now.");
    resync(); // every (re)connect: history, then what is being written
    // After `open`: the server answers frames in order, so the history comes first.
    if (state.sendWhenOpen) trySend();
  }

  function onClose(ws) {
    if (ws !== state.ws) return;
    state.ws = null;
    state.failures += 1;
    if (state.failures === 1 && state.everOpened) announce("Connection lost. Reconnecting…");
    setConnection("down");
    if (state.pendingText !== null) {
      // We cannot know whether it arrived: put it back; history tells us later.
      restoreDraft(state.pendingText);
      state.unconfirmedText = state.pendingText;
      state.pendingText = null;
    }
    setAwaitingReply(false);
    state.stopping = false;
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (state.reconnectTimer) return;
    const delay = state.backoff * (0.8 + Math.random() * 0.4); // jitter: tabs do not stampede
    state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX_MS);
    state.reconnectTimer = window.setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (state.ws) return; // connecting or open already
    connect();
  }

  function onFrame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (err) {
      return; // not ours to fix; the next history puts things right
    }
    const handler = frame && Object.prototype.hasOwnProperty.call(handlers, frame.type)
      ? handlers[frame.type] : null;
    if (handler) handler(frame);
  }

  // ---------------------------------------------------------------- start

  function init() {
    addCopyButtons(ui.messages);
    for (const article of ui.messages.querySelectorAll('.msg[data-role="assistant"]')) {
      // Until `history` arrives, template-rendered replies are tracked like history ones.
      const hasHtml = article.querySelector(".md-block") !== null;
      trackReply({ id: article.dataset.id, role: "assistant", status: article.dataset.status, html: hasHtml }, 0);
    }

    ui.composer.addEventListener("submit", (event) => { event.preventDefault(); trySend(); });
    ui.input.addEventListener("keydown", onComposerKey);
    ui.input.addEventListener("input", () => {
      autoGrow();
      updateCount();
      if (ui.hint.dataset.kind === "warn") setHint("");
    });
    ui.stop.addEventListener("click", sendStop);
    ui.jump.addEventListener("click", jumpToLatest);
    ui.scroller.addEventListener("scroll", onScroll, { passive: true });
    window.addEventListener("resize", contentChanged);

    ui.messages.addEventListener("click", (event) => {
      const copy = event.target.closest(".copy-btn");
      if (copy) onCopyClick(copy);
      const retry = event.target.closest(".msg-retry");
      if (retry) sendRetry(retry);
      const summary = event.target.closest("details.tool-call > summary");
      if (summary) rememberToolToggle(summary);
    });

    setupModels();
    showPromptState();
    ui.settingsBtn.addEventListener("click", openSettings);
    ui.settingsCancel.addEventListener("click", closeSettings);
    ui.settingsForm.addEventListener("submit", (event) => { event.preventDefault(); saveSettings(); });
    ui.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        saveSettings();
      }
    });
    ui.prompt.addEventListener("input", () => {
      window.clearTimeout(state.closeTimer); // still editing: do not close under the reader
      if (state.savingPrompt === null) setSettingsStatus("");
    });
    // Closed by Cancel, Escape or after saving: the box shows the saved prompt next time.
    ui.settings.addEventListener("close", () => {
      window.clearTimeout(state.closeTimer);
      ui.prompt.value = page.systemPrompt;
      setSettingsStatus("");
    });

    ui.convList.addEventListener("click", onConvClick);
    // Keeps focus in the title box when Save is pressed (Safari does not focus buttons on
    // click, so focusout would cancel the rename before the click lands).
    ui.convList.addEventListener("mousedown", (event) => {
      const btn = event.target.closest(".conv-rename-btn");
      if (btn && btn.closest(".is-renaming")) event.preventDefault();
    });
    ui.convList.addEventListener("submit", onConvSubmit);
    ui.convList.addEventListener("keydown", onConvKey);
    ui.convList.addEventListener("focusout", onConvFocusOut);

    ui.sidebarToggle.addEventListener("click", () => setSidebar(!ui.app.classList.contains("sidebar-open")));
    ui.sidebarClose.addEventListener("click", closeSidebar);
    ui.backdrop.addEventListener("click", closeSidebar);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && narrow.matches) closeSidebar();
    });
    narrow.addEventListener("change", () => setSidebar(false));

    // Back online or back to the tab: do not wait out the backoff.
    window.addEventListener("online", reconnectNow);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") reconnectNow();
    });

    autoGrow();
    updateCount();
    updateComposer();
    scrollToBottom();
    // Only say "Connecting…" if it takes long enough to notice.
    window.setTimeout(() => { if (!state.everOpened && !state.failures) setConnection("connecting"); }, 1000);
    connect();
    if (!("ontouchstart" in window)) ui.input.focus({ preventScroll: true });
  }

  init();
})();
