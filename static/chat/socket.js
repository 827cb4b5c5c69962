// The page's one websocket (docs/protocol.md): wss: when the page is https, reconnected
// with backoff and jitter (and at once when the network or the tab comes back), frames
// dispatched to handlers by type. On every (re)connect it sends the `open` frame the page
// asks for, which names the streaming reply the page holds and how much of it.

import { announce } from "./notices.js";

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5000;
const SLOW_CONNECT_MS = 1000; // say "Connecting…" only if it takes long enough to notice
const MANY_FAILURES = 6;
// Close codes the server uses (chat/consumers.py): the login is over; too many pages open.
const LOGGED_OUT = 4401;
const TOO_MANY = 4429;
const TOO_MANY_WAIT_MS = 30000;

export class Socket {
  /** `handlers`: {type: function(frame)}; `openFrame()`: the `open` to send on connect, or
   * null; `onOpen()`, `onClose()`: the connection came up, or went down. */
  constructor({ path, status, handlers, openFrame, onOpen, onClose }) {
    this.path = path;
    this.status = status;
    this.handlers = handlers;
    this.openFrame = openFrame;
    this.onOpen = onOpen;
    this.onClose = onClose;
    this.ws = null;
    // The reply frame before, when it held text only: a binary message goes on from it.
    this.continues = null;
    this.decoder = new TextDecoder();
    this.backoff = BACKOFF_MIN_MS;
    this.timer = 0;
    this.failures = 0;
    this.everOpened = false;
    this.tooManyWaitMs = 0; // the wait the server asked for before the next connect
    this.notBefore = 0; // and the time it ends

    window.addEventListener("online", () => this.reconnectNow());
    // Offline, the socket is gone even if the browser has not noticed yet.
    window.addEventListener("offline", () => this.drop());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) this.reconnectNow(); // back from the back-forward cache
    });
  }

  start() {
    window.setTimeout(() => {
      if (!this.everOpened && !this.failures) this.show("connecting");
    }, SLOW_CONNECT_MS);
    this.connect();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  connect() {
    window.clearTimeout(this.timer);
    this.timer = 0;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    // frames=compact: the server may send a text-only frame as its text alone (dispatch).
    const ws = new WebSocket(`${scheme}//${window.location.host}${this.path}?frames=compact`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.continues = null;
    ws.addEventListener("open", () => this.opened(ws));
    ws.addEventListener("close", (event) => this.closed(ws, event.code));
    // Only the current socket's: bare text goes on from that socket's frame before.
    ws.addEventListener("message", (event) => {
      if (ws === this.ws) this.dispatch(event.data);
    });
  }

  /** The server said when to come back (`retry_after`, seconds): the next reconnect waits
   * that long. */
  waitBeforeReconnect(seconds) {
    if (Number.isFinite(seconds) && seconds > 0) this.tooManyWaitMs = seconds * 1000;
  }

  reconnectNow() {
    if (this.ws) return; // connecting or open already
    this.connect();
  }

  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.closed(ws);
    ws.close();
  }

  opened(ws) {
    if (ws !== this.ws) return;
    const reconnected = this.everOpened;
    this.backoff = BACKOFF_MIN_MS;
    this.failures = 0;
    this.everOpened = true;
    this.show("open");
    if (reconnected) announce("Reconnected.");
    const open = this.openFrame();
    if (open) this.send(open); // every (re)connect: history, then what is being written
    this.onOpen();
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    if (code === LOGGED_OUT) return; // the page goes to the login form (app.js)
    // Too many pages open: the refusal said so; try again only after its wait.
    if (code === TOO_MANY) {
      this.backoff = this.tooManyWaitMs || TOO_MANY_WAIT_MS;
      this.notBefore = Date.now() + this.backoff;
    }
    this.tooManyWaitMs = 0;
    this.failures += 1;
    if (this.failures === 1 && this.everOpened) announce("Connection lost. Reconnecting…");
    this.show("down");
    this.onClose();
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.timer) return;
    // Jitter: tabs do not stampede; never before the wait the server asked for, though.
    const delay = Math.max(this.backoff * (0.8 + Math.random() * 0.4), this.notBefore - Date.now());
    this.backoff = Math.min(this.backoff * 2, Math.max(BACKOFF_MAX_MS, this.backoff));
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  dispatch(data) {
    let frame;
    if (data instanceof ArrayBuffer) {
      // A text-only frame sent as its text: the next of the reply frame before it.
      const before = this.continues;
      if (!before) return; // never sent without one (docs/protocol.md)
      const text = this.decoder.decode(data);
      frame = { type: "frame", message: before.message, offset: before.end, text, seq: before.seq + 1 };
    } else {
      try {
        frame = JSON.parse(data);
      } catch {
        return; // not ours to mend; the next history puts things right
      }
    }
    if (frame && frame.type === "frame") {
      const textOnly = typeof frame.text === "string" && !("tools" in frame) && !("status" in frame);
      this.continues = textOnly
        ? { message: frame.message, seq: frame.seq, end: frame.offset + frame.text.length }
        : null;
    }
    const handler = frame && Object.hasOwn(this.handlers, frame.type) ? this.handlers[frame.type] : null;
    if (handler) handler(frame);
  }

  show(mode) {
    const status = this.status;
    status.dataset.state = mode;
    status.hidden = mode === "open";
    if (mode === "down") {
      status.textContent = this.failures >= MANY_FAILURES
        ? "Still reconnecting… If this persists, reload the page."
        : "Reconnecting…";
    } else if (mode === "connecting") {
      status.textContent = "Connecting…";
    }
  }
}
