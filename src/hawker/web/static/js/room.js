/*
 * The browser side of a show's room, shared by the viewer page and the host console.
 *
 *   const room = new HawkerRoom(showId, {onSnapshot, onEvent, onStatus, onError});
 *   room.connect();  room.send({type: "chat.send", body: "#3 please"}) -> ref;  room.close();
 *   HawkerRoom.message(event) -> the chat message of a chat.message event.
 *   HawkerRoom.api("POST", "/shows/1/pin", {listing_id: 5}) -> parsed JSON (throws Error
 *   with .status, .code, .message on an API error).
 *
 * Ordering: state events carry seq+1 each; ephemeral ones (chat, likes) carry the seq of
 * the last state event. A gap means events were lost, so the room asks for a fresh
 * snapshot and ignores everything until it arrives. Callbacks only ever see events in order.
 * A worker whose bus came back after losing Redis says so (room.resync): events may have
 * passed it by, so the room asks for a snapshot too. A snapshot request the server could
 * not answer (its database or Redis away) is asked again, with backoff, until it is.
 *
 * Reconnecting: a socket that closes for any reason but a ban or a missing show is opened
 * again after a backoff with jitter (a server draining for a restart closes with 1012; a
 * viewer too far behind is cut off with 1013), and the new socket starts with a snapshot.
 *
 * Targeted events (order.updated for the buyer, figures.updated for staff) carry the seq of
 * the last state event but are never dropped and say nothing about shared state, so they
 * are applied whenever they come, even while catching up.
 *
 * window.Hawker holds DOM helpers: el(tag, attrs, ...children) builds elements with
 * textContent only (never HTML from data); money({amount, currency}) formats a price;
 * uuid() makes an idempotency key.
 */
(function () {
  "use strict";

  var EPHEMERAL = { "chat.message": true, "likes.burst": true, "sales.ticker": true };
  var TARGETED = { "order.updated": true, "figures.updated": true, "run.updated": true };
  var DIRECT = { "ack": true, "error": true, "pong": true };
  var CLOSE_BANNED = 4403;
  var CLOSE_NOT_FOUND = 4404;
  var CHAT_IDS_KEPT = 500;

  function noop() {}

  function HawkerRoom(showId, handlers) {
    handlers = handlers || {};
    this.showId = showId;
    this.onSnapshot = handlers.onSnapshot || noop;
    this.onEvent = handlers.onEvent || noop;
    this.onStatus = handlers.onStatus || noop;
    this.onError = handlers.onError || noop;
    this.ws = null;
    this.lastSeq = null;
    this.resyncing = false;
    this.resyncRef = null;
    this.resyncTries = 0;
    this.resyncTimer = null;
    this.ref = 0;
    this.attempt = 0;
    this.closed = false;
    this.timer = null;
    this.pingTimer = null;
    this.seenChat = new Set();
    this.fatal = null;
  }

  HawkerRoom.prototype.url = function () {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + "/ws/shows/" + encodeURIComponent(this.showId);
  };

  HawkerRoom.prototype.connect = function () {
    var self = this;
    this.closed = false;
    this.fatal = null;
    clearTimeout(this.timer);
    this.onStatus(this.attempt ? "reconnecting" : "connecting");
    var ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    // Until the snapshot arrives nothing else may be applied.
    this.lastSeq = null;
    this.resyncing = true;
    this.resyncRef = null;
    clearTimeout(this.resyncTimer);
    ws.onmessage = function (msg) {
      if (ws !== self.ws) return;
      var payload;
      try {
        payload = JSON.parse(msg.data);
      } catch (e) {
        return;
      }
      var list = Array.isArray(payload) ? payload : [payload];
      for (var i = 0; i < list.length; i++) self.receive(list[i]);
    };
    ws.onopen = function () {
      if (ws !== self.ws) return;
      clearInterval(self.pingTimer);
      // Keeps proxies from closing an idle socket in a quiet room.
      self.pingTimer = setInterval(function () { self.send({ type: "ping" }); }, 25000);
    };
    ws.onclose = function (ev) {
      if (ws !== self.ws) return;
      clearInterval(self.pingTimer);
      self.ws = null;
      if (ev.code === CLOSE_BANNED || ev.code === CLOSE_NOT_FOUND) {
        var code = ev.code === CLOSE_BANNED ? "banned" : "not_found";
        var message = ev.code === CLOSE_BANNED
          ? t("You are banned from this show.")
          : t("This show does not exist.");
        self.fatal = self.fatal || { code: code, message: message };
        self.closed = true;
        self.onStatus(code);
        self.onError(self.fatal);
        return;
      }
      if (!self.closed) self.scheduleReconnect();
      else self.onStatus("closed");
    };
  };

  HawkerRoom.prototype.scheduleReconnect = function () {
    var self = this;
    this.attempt += 1;
    // Exponential backoff with jitter, so a restarted server is not stampeded.
    var base = Math.min(15000, 500 * Math.pow(2, Math.min(this.attempt - 1, 5)));
    var delay = base / 2 + Math.random() * base / 2;
    this.onStatus("offline");
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { if (!self.closed) self.connect(); }, delay);
  };

  HawkerRoom.prototype.receive = function (event) {
    if (!event || typeof event.type !== "string") return;
    var type = event.type;
    if (type === "room.snapshot") {
      this.lastSeq = event.data.seq;
      this.resyncing = false;
      this.resyncRef = null;
      this.resyncTries = 0;
      clearTimeout(this.resyncTimer);
      this.attempt = 0;
      this.seenChat = new Set();
      var chat = event.data.chat || [];
      for (var i = 0; i < chat.length; i++) this.seenChat.add(chat[i].id);
      this.onStatus("live");
      this.onSnapshot(event.data);
      return;
    }
    if (type === "room.resync") {
      this.resync(true);
      return;
    }
    if (DIRECT[type]) {
      if (type === "error") {
        var data = event.data || {};
        if (this.resyncRef !== null && data.ref === this.resyncRef) {
          // The snapshot could not be built just now: ask again a little later.
          this.retryResync();
          return;
        }
        // The server names why it refuses the socket before closing it.
        if (data.code === "banned" || data.code === "show_not_found") {
          this.fatal = { code: data.code === "banned" ? "banned" : "not_found", message: data.message };
        }
        this.onError(data);
      } else {
        this.onEvent(event);
      }
      return;
    }
    if (TARGETED[type]) {
      this.onEvent(event);
      return;
    }
    if (this.resyncing || this.lastSeq === null) return;
    var seq = event.seq;
    if (EPHEMERAL[type]) {
      if (seq > this.lastSeq) return this.resync();
      if (type === "chat.message") {
        var id = HawkerRoom.message(event).id;
        if (this.seenChat.has(id)) return;
        this.seenChat.add(id);
        if (this.seenChat.size > CHAT_IDS_KEPT) {
          this.seenChat.delete(this.seenChat.values().next().value);
        }
      }
      this.onEvent(event);
      return;
    }
    if (seq <= this.lastSeq) return;
    if (seq !== this.lastSeq + 1) return this.resync();
    this.lastSeq = seq;
    this.onEvent(event);
  };

  HawkerRoom.prototype.resync = function (force) {
    if (this.resyncing && !force) return;
    if (this.resyncing && this.lastSeq === null) return;  // the first snapshot is coming
    this.resyncing = true;
    clearTimeout(this.resyncTimer);
    this.onStatus("resyncing");
    this.resyncRef = this.send({ type: "resync" });
  };

  HawkerRoom.prototype.retryResync = function () {
    var self = this;
    this.resyncTries += 1;
    var base = Math.min(5000, 250 * Math.pow(2, Math.min(this.resyncTries - 1, 5)));
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(function () {
      if (self.resyncing && self.ws) self.resync(true);
    }, base / 2 + Math.random() * base / 2);
  };

  HawkerRoom.prototype.send = function (frame) {
    this.ref += 1;
    var out = Object.assign({}, frame, { ref: this.ref });
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(out));
    } else {
      this.onError({ code: "offline", message: t("Not connected; trying again…"), ref: this.ref });
    }
    return this.ref;
  };

  HawkerRoom.prototype.close = function () {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.resyncTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000, "bye");
  };

  // The message of a chat.message event, whether sent bare or as {message}.
  HawkerRoom.message = function (event) {
    var data = event.data || {};
    return data.message && typeof data.message === "object" ? data.message : data;
  };

  HawkerRoom.api = function (method, path, body) {
    var headers = { "Accept": "application/json" };
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) headers["X-CSRF-Token"] = meta.getAttribute("content");
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined && body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch("/api/v1" + path, init).then(function (r) {
      return r.text().then(function (text) {
        var parsed = null;
        if (text) {
          try { parsed = JSON.parse(text); } catch (e) { parsed = null; }
        }
        if (!r.ok) {
          var info = (parsed && parsed.error) || {};
          var err = new Error(info.message || ("request failed (" + r.status + ")"));
          err.status = r.status;
          err.code = info.code || "http_" + r.status;
          err.info = info;  // the facts an error carries: {left}, {quote}, {limit} ...
          throw err;
        }
        return parsed;
      });
    });
  };

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = String(value);
        else if (key === "class" || key === "className") node.className = value;
        else if (key === "dataset") Object.assign(node.dataset, value);
        else if (key.slice(0, 2) === "on" && typeof value === "function") {
          node.addEventListener(key.slice(2).toLowerCase(), value);
        } else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
        else if (value === true) node.setAttribute(key, "");
        else node.setAttribute(key, String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(node, c); });
      return;
    }
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  var formats = {};
  function money(value) {
    if (!value) return "";
    var currency = value.currency || "USD";
    if (!formats[currency]) {
      try {
        formats[currency] = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
      } catch (e) {
        formats[currency] = { format: function (n) { return currency + " " + n.toFixed(2); } };
      }
    }
    return formats[currency].format(Number(value.amount));
  }

  function compact(n) {
    try {
      return new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 }).format(n);
    } catch (e) {
      return String(n);
    }
  }

  // crypto.randomUUID exists only on https and localhost; getRandomValues everywhere.
  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  window.HawkerRoom = HawkerRoom;
  window.Hawker = { el: el, money: money, compact: compact, uuid: uuid };
})();
