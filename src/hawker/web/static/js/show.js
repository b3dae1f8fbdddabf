/*
 * The viewer's room: draws the snapshot, applies events, sends chat and likes.
 * Everything from the server goes into the page as text (Hawker.el / textContent).
 */
(function () {
  "use strict";

  var el = Hawker.el;
  var money = Hawker.money;
  var stage = document.getElementById("stage");
  var showId = Number(stage.dataset.showId);
  var hostId = Number(stage.dataset.hostId);
  var myId = stage.dataset.userId ? Number(stage.dataset.userId) : null;

  var $ = function (id) { return document.getElementById(id); };
  var chatBox = $("chat");
  var shelfList = $("shelf");
  var sheet = $("sheet");
  var chatForm = $("chat-form");
  var chatInput = $("chat-input");
  var chatError = $("chat-error");

  var MAX_MESSAGES = 150;
  var LIKE_FLUSH_MS = 500;
  var STATUS_WORDS = { live: "Live", scheduled: "Scheduled", ended: "Ended" };

  var state = { shelf: [], pinnedId: null, status: stage.dataset.status, you: null, slowMode: 0 };
  var pendingSends = {};  // ref -> the text sent, restored into the box if refused

  // -- shelf ---------------------------------------------------------------------------

  function renderShelf() {
    shelfList.replaceChildren();
    $("shelf-size").textContent = state.shelf.length ? "· " + state.shelf.length + " items" : "";
    var count = $("shelf-count");
    count.hidden = !state.shelf.length;
    count.textContent = String(state.shelf.length);
    if (!state.shelf.length) {
      shelfList.appendChild(el("li", { class: "empty", text: "Nothing on the shelf yet." }));
      return;
    }
    state.shelf.forEach(function (item) { shelfList.appendChild(shelfItem(item)); });
  }

  function shelfItem(item) {
    var pinned = item.id === state.pinnedId;
    var image = item.product.image;
    return el("li", {
        class: "item" + (pinned ? " is-pinned" : ""),
        id: "item-" + item.number,
        "data-testid": "shelf-item-" + item.number,
        "data-listing-id": item.id,
      },
      el("span", { class: "n", "aria-label": "number " + item.number, text: item.number }),
      image ? el("span", { class: "pic" }, el("img", { src: image, alt: "", loading: "lazy" })) : null,
      el("div", { class: "body" },
        pinned ? el("div", { class: "now", text: "Now showing" }) : null,
        el("div", { class: "title", text: item.product.title }),
        item.product.brand ? el("div", { class: "brandname", text: item.product.brand.name }) : null,
        el("div", { class: "meta" },
          el("span", { class: "price", text: money(item.price) }),
          item.in_stock > 0
            ? el("span", { text: item.in_stock + " left" })
            : el("span", { class: "soldout", text: "Sold out" }),
          el("span", {
            class: "asked",
            "data-testid": "requests-" + item.number,
            hidden: !item.requests,
            text: item.requests + " asked",
          })
        )
      )
    );
  }

  function listingById(id) {
    for (var i = 0; i < state.shelf.length; i++) if (state.shelf[i].id === id) return state.shelf[i];
    return null;
  }

  function openSheet() {
    sheet.classList.add("open");
    $("side").classList.add("open");
    $("shelf-toggle").setAttribute("aria-expanded", "true");
  }

  function closeSheet() {
    sheet.classList.remove("open");
    $("side").classList.remove("open");
    $("shelf-toggle").setAttribute("aria-expanded", "false");
  }

  function showItem(number) {
    openSheet();
    var node = $("item-" + number);
    if (!node) return;
    node.scrollIntoView({ block: "center", behavior: "smooth" });
    node.classList.remove("flash");
    void node.offsetWidth;  // restart the highlight when the same item is asked twice
    node.classList.add("flash");
    setTimeout(function () { node.classList.remove("flash"); }, 2200);
  }

  $("shelf-toggle").addEventListener("click", function () {
    if (sheet.classList.contains("open")) closeSheet(); else openSheet();
  });
  $("sheet-close").addEventListener("click", closeSheet);
  $("scrim").addEventListener("click", closeSheet);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeSheet(); });

  // -- pinned card ---------------------------------------------------------------------

  function renderPinned() {
    var card = $("pinned");
    var item = state.pinnedId ? listingById(state.pinnedId) : null;
    if (!item) {
      card.hidden = true;
      card.removeAttribute("data-number");
      return;
    }
    var wasHidden = card.hidden || card.dataset.number !== String(item.number);
    card.dataset.number = String(item.number);
    var thumb = $("pinned-thumb");
    thumb.replaceChildren(el("span", { text: "#" + item.number }));
    if (item.product.image) thumb.appendChild(el("img", { src: item.product.image, alt: "" }));
    $("pinned-label").textContent = "Now showing #" + item.number;
    $("pinned-title").textContent = item.product.title;
    $("pinned-price").textContent = money(item.price);
    card.setAttribute("aria-label", "Now showing number " + item.number + ": " + item.product.title);
    if (wasHidden) {
      card.hidden = false;
      card.style.animation = "none";
      void card.offsetWidth;
      card.style.animation = "";
    }
  }

  $("pinned").addEventListener("click", function () {
    var n = $("pinned").dataset.number;
    if (n) showItem(Number(n));
  });
  $("pinned").addEventListener("keydown", function (e) {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("pinned").click(); }
  });

  // -- chat ----------------------------------------------------------------------------

  function nearBottom() {
    return chatBox.scrollHeight - chatBox.scrollTop - chatBox.clientHeight < 60;
  }

  function messageNode(m) {
    var staff = m.staff;
    var classes = "msg";
    if (m.request) classes += " request";
    if (staff) classes += " staff";
    if (myId !== null && m.user && m.user.id === myId) classes += " mine";
    var badge = null;
    if (staff) badge = el("span", { class: "badge staff", text: m.user && m.user.id === hostId ? "Host" : "Mod" });
    var link = null;
    if (m.request) {
      link = el("a", {
        class: "req-link",
        href: "#item-" + m.request.number,
        "data-testid": "request-link",
        text: "#" + m.request.number,
        onclick: function (e) { e.preventDefault(); showItem(m.request.number); },
      });
    }
    return el("div", { class: classes, "data-testid": "chat-message", "data-id": m.id },
      badge,
      el("span", { class: "name", text: m.user ? m.user.display_name : "?" }),
      el("span", { class: "body", text: m.body }),
      link
    );
  }

  function addMessages(list, keepScroll) {
    var stick = keepScroll || nearBottom();
    list.forEach(function (m) { chatBox.appendChild(messageNode(m)); });
    var extra = chatBox.querySelectorAll(".msg").length - MAX_MESSAGES;
    for (var i = 0; i < extra; i++) chatBox.querySelector(".msg").remove();
    if (stick) chatBox.scrollTop = chatBox.scrollHeight;
  }

  function systemMessage(text) {
    addMessages([], false);
    chatBox.appendChild(el("div", { class: "msg system", text: text }));
    chatBox.scrollTop = chatBox.scrollHeight;
  }

  var errorTimer = null;
  function showChatError(text, sticky) {
    chatError.textContent = text;
    chatError.hidden = false;
    clearTimeout(errorTimer);
    if (!sticky) errorTimer = setTimeout(function () { chatError.hidden = true; }, 6000);
  }

  function seconds(n) {
    var s = Math.max(1, Math.ceil(n || 1));
    return s + (s === 1 ? " second" : " seconds");
  }

  function untilText(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return "";
    return " until " + d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }

  function explain(err) {
    switch (err.code) {
      case "rate_limited": return "You're sending fast. Try again in " + seconds(err.retry_after) + ".";
      case "slow_mode": return "Slow mode is on. You can send again in " + seconds(err.retry_after) + ".";
      case "muted": return "You are muted in this show" + (state.you && state.you.muted_until ? untilText(state.you.muted_until) : "") + ".";
      case "message_too_long": return err.message ? capital(err.message) : "That message is too long.";
      case "message_blocked": return "That message was not sent: it has a word this show blocks.";
      case "not_signed_in": return "Sign in to chat and like.";
      case "banned": return "You are banned from this show.";
      case "offline": return "Not connected. Reconnecting…";
      default: return err.message ? capital(err.message) : "That did not work.";
    }
  }

  function capital(text) {
    text = String(text);
    return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
  }

  if (chatForm) {
    chatForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = chatInput.value.trim();
      if (!body) return;
      var ref = room.send({ type: "chat.send", body: body });
      pendingSends[ref] = body;
      chatInput.value = "";
    });
  }

  // -- likes ---------------------------------------------------------------------------

  var likeQueue = 0;
  var likesSentSinceBurst = 0;
  var hearts = $("hearts");
  var HEART_COLOURS = ["#ff2d55", "#ff7a45", "#ffc93c", "#ff5fa2", "#b388ff", "#4dd0e1"];

  function heart() {
    if (hearts.childElementCount > 40) return;
    var node = el("span", { class: "heart", text: "♥" });
    node.style.color = HEART_COLOURS[Math.floor(Math.random() * HEART_COLOURS.length)];
    node.style.setProperty("--drift", (Math.random() * 60 - 40).toFixed(0) + "px");
    node.style.left = (8 + Math.random() * 24).toFixed(0) + "px";
    node.addEventListener("animationend", function () { node.remove(); });
    hearts.appendChild(node);
  }

  $("like").addEventListener("click", function () {
    heart();
    if (myId === null) {
      showChatError("Sign in to like and chat.");
      return;
    }
    likeQueue += 1;
  });

  // Taps are sent as one frame per half second: a fast tapper costs the server little.
  setInterval(function () {
    if (!likeQueue) return;
    var count = Math.min(likeQueue, 100);
    likeQueue -= count;
    likesSentSinceBurst += count;
    room.send({ type: "like", count: count });
  }, LIKE_FLUSH_MS);

  // -- show state ----------------------------------------------------------------------

  function setStatus(status) {
    state.status = status;
    stage.dataset.status = status;
    var badge = $("status-badge");
    badge.className = "badge " + status;
    badge.textContent = STATUS_WORDS[status] || status;
    var idle = $("video-idle");
    if (status === "ended") {
      idle.replaceChildren(el("span", { class: "big", text: "This show has ended" }));
    } else if (status === "live") {
      idle.replaceChildren();
    }
  }

  function notice(icon, title, text) {
    $("notice-icon").textContent = icon;
    $("notice-title").textContent = title;
    $("notice-text").textContent = text;
    $("notice").hidden = false;
    if (chatInput) chatInput.disabled = true;
  }

  function applySnapshot(snap) {
    state.shelf = snap.shelf || [];
    state.pinnedId = snap.pinned ? snap.pinned.id : null;
    state.you = snap.you;
    state.slowMode = snap.slow_mode_seconds || 0;
    setStatus(snap.show.status);
    $("show-title").textContent = snap.show.title;
    $("viewer-count").textContent = String(snap.viewers);
    $("likes-total").textContent = Hawker.compact(snap.likes || 0);
    renderShelf();
    renderPinned();
    chatBox.querySelectorAll(".msg").forEach(function (n) { n.remove(); });
    addMessages(snap.chat || [], true);
    setPlaceholder();
    if (snap.you && snap.you.muted_until && new Date(snap.you.muted_until) > new Date()) {
      showChatError("You are muted in this show" + untilText(snap.you.muted_until) + ".", true);
    }
  }

  function setPlaceholder() {
    if (!chatInput) return;
    chatInput.placeholder = state.slowMode
      ? "Slow mode: one message every " + seconds(state.slowMode)
      : "Say something… ask for “#3”";
  }

  function applyEvent(event) {
    var d = event.data || {};
    switch (event.type) {
      case "chat.message":
        addMessages([HawkerRoom.message(event)], false);
        break;
      case "likes.burst":
        $("likes-total").textContent = Hawker.compact(d.total || 0);
        var others = Math.max(0, (d.count || 0) - likesSentSinceBurst);
        likesSentSinceBurst = 0;
        for (var i = 0; i < Math.min(others, 12); i++) setTimeout(heart, i * 120);
        break;
      case "viewers.count":
        $("viewer-count").textContent = String(d.count);
        break;
      case "show.state":
        setStatus(d.status);
        if (d.title) $("show-title").textContent = d.title;
        if (d.status === "ended") systemMessage("The host has ended the show. Thanks for watching!");
        break;
      case "shelf.updated":
        state.shelf = d.shelf || [];
        renderShelf();
        renderPinned();
        break;
      case "shelf.pinned":
        state.pinnedId = d.listing.id;
        var known = false;
        state.shelf = state.shelf.map(function (item) {
          if (item.id === d.listing.id) { known = true; return d.listing; }
          return item;
        });
        if (!known) state.shelf.push(d.listing);
        renderShelf();
        renderPinned();
        break;
      case "shelf.unpinned":
        state.pinnedId = null;
        renderShelf();
        renderPinned();
        break;
      case "requests.counted":
        var item = listingById(d.listing_id);
        if (item) {
          item.requests = d.count;
          var asked = shelfList.querySelector('[data-testid="requests-' + item.number + '"]');
          if (asked) {
            asked.textContent = d.count + " asked";
            asked.hidden = !d.count;
          }
        }
        break;
      case "chat.hidden":
        var gone = chatBox.querySelector('.msg[data-id="' + Number(d.id) + '"]');
        if (gone) gone.remove();
        break;
      case "chat.settings":
        state.slowMode = d.slow_mode_seconds || 0;
        setPlaceholder();
        systemMessage(state.slowMode ? "Slow mode is on: one message every " + seconds(state.slowMode) + "." : "Slow mode is off.");
        break;
      case "user.sanctioned":
        if (myId !== null && d.user_id === myId) {
          if (d.banned) {
            notice("⛔", "You are banned", "The hosts of this show have banned you. You can't watch or chat here.");
          } else if (d.muted_until && new Date(d.muted_until) > new Date()) {
            if (state.you) state.you.muted_until = d.muted_until;
            showChatError("You are muted in this show" + untilText(d.muted_until) + ".", true);
          } else {
            if (state.you) state.you.muted_until = null;
            chatError.hidden = true;
          }
        }
        break;
      case "ack":
        if (d.ref in pendingSends) delete pendingSends[d.ref];
        break;
    }
  }

  function onError(err) {
    if (err.code === "banned" && !err.ref) {
      notice("⛔", "You are banned", err.message || "You can't watch or chat in this show.");
      return;
    }
    if (err.code === "not_found" || err.code === "show_not_found") {
      notice("🔍", "No such show", err.message || "This show does not exist.");
      return;
    }
    if (err.ref && err.ref in pendingSends) {
      // Give the text back so a refused message is not lost.
      if (chatInput && !chatInput.value) chatInput.value = pendingSends[err.ref];
      delete pendingSends[err.ref];
    }
    var sticky = err.code === "muted";
    if (err.code === "muted" && state.you && !state.you.muted_until) sticky = false;
    showChatError(explain(err), sticky);
  }

  var STATUS_TEXT = { connecting: "connecting…", reconnecting: "reconnecting…", offline: "offline, reconnecting…", resyncing: "catching up…" };

  var room = new HawkerRoom(showId, {
    onSnapshot: applySnapshot,
    onEvent: applyEvent,
    onError: onError,
    onStatus: function (s) { $("conn").textContent = STATUS_TEXT[s] || ""; },
  });
  room.connect();
  window.hawkerRoom = room;

  document.querySelectorAll("time[data-local]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  });
})();
