/*
 * The host console. The page arrives rendered by the server; once the room socket's
 * snapshot comes in, this script owns the shelf, the chat feed and the figures and keeps
 * them current from the room's events. Moderation and settings go through the REST API;
 * pin / unpin go over the socket.
 *
 * Untrusted text (names, messages, product titles) only ever reaches the page through
 * Hawker.el, which sets textContent.
 */
(function () {
  "use strict";

  var root = document.getElementById("console");
  if (!root || !window.HawkerRoom || !window.Hawker) return;

  var el = Hawker.el;
  var api = HawkerRoom.api;
  var showId = Number(root.dataset.showId);
  var hostId = Number(root.dataset.hostId);
  var meId = Number(root.dataset.userId);
  var manage = root.dataset.manage === "true";
  var MUTE_SECONDS = 300;
  var CHAT_KEPT = 400;

  var state = {
    status: root.querySelector("#cx-status").textContent.trim(),
    shelf: [],
    pinnedId: null,
    viewers: 0,
    likes: 0,
    staffIds: new Set(root.dataset.staffIds.split(",").filter(Boolean).map(Number)),
    sanctioned: {}, // user id -> "muted" | "banned"
    pending: {}, // ref -> what a socket frame was for, to explain its error
    deals: {}, // id -> deal
    coupons: [],
    clockOffset: 0, // server ms - this machine's ms
  };
  var currency = root.dataset.currency || "USD";

  function $(id) { return document.getElementById(id); }

  // -- feedback -------------------------------------------------------------------------

  var toastTimer = null;
  function toast(text, ok) {
    var node = $("cx-toast");
    node.textContent = text;
    node.className = "cx-toast" + (ok ? " ok" : "");
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { node.hidden = true; }, ok ? 2500 : 6000);
  }

  function failed(err) {
    toast(err && err.message ? capital(err.message) : t("That did not work. Try again."));
  }

  function capital(text) {
    text = String(text);
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  // -- figures and status ---------------------------------------------------------------

  function setText(id, value) {
    var node = $(id);
    if (node) node.textContent = String(value);
  }

  function renderFigures() {
    setText("cx-viewers", state.viewers);
    setText("cx-likes", state.likes);
    var asks = 0;
    state.shelf.forEach(function (item) { asks += item.requests || 0; });
    setText("cx-asks", asks);
    setText("cx-items", state.shelf.length);
    setText("cx-shelf-count", state.shelf.length);
  }

  function renderStatus() {
    var pill = $("cx-status");
    pill.textContent = state.status;
    pill.className = "st-pill " + state.status;
    var goLive = $("cx-go-live");
    var end = $("cx-end");
    if (goLive) goLive.hidden = state.status !== "scheduled";
    if (end) end.hidden = state.status !== "live";
    var ended = state.status === "ended";
    $("cx-chat-input").disabled = ended;
    $("cx-chat-form").querySelector("button").disabled = ended;
    if (ended) $("cx-chat-input").placeholder = t("The show has ended; chat is closed.");
    var startDeal = root.querySelector('[data-testid="deal-start"]');
    if (startDeal) startDeal.disabled = state.status !== "live";
    renderBattleControls();
  }

  function setConnection(status) {
    var node = $("cx-conn");
    var labels = {
      connecting: "connecting…", reconnecting: "reconnecting…", offline: "offline, retrying…",
      resyncing: "catching up…", live: "connected", closed: "closed",
      banned: "banned", not_found: "show not found",
    };
    node.textContent = labels[status] || status;
    node.className = "cx-conn " + (status === "live" ? "ok" : "bad");
  }

  // -- the shelf ------------------------------------------------------------------------

  function stockText(item) {
    if (!item.in_stock) return el("span", { class: "out", text: t("sold out") });
    return el("span", { class: item.in_stock < 10 ? "low" : null, text: t("{n} in stock", { n: item.in_stock }) });
  }

  function shelfItem(item) {
    var pinned = item.id === state.pinnedId;
    var thumb = item.product.image
      ? el("img", { class: "st-thumb", src: item.product.image, alt: "", loading: "lazy" })
      : el("span", { class: "st-thumb", "aria-hidden": "true", text: "◇" });
    var pin = el("button", {
      class: "st-btn small cx-pin", type: "button", "data-testid": "pin-" + item.number,
      "data-listing-id": item.id, disabled: state.status === "ended",
      text: pinned ? t("Unpin") : t("Pin"),
    });
    pin.addEventListener("click", function () { togglePin(item.id); });
    var dealButton = null;
    if (manage) {
      dealButton = el("button", {
        class: "st-btn small ghost cx-deal-btn", type: "button", "data-deal-listing": item.id,
        "data-testid": "deal-" + item.number, disabled: state.status !== "live", text: "⚡ " + t("Deal"),
      });
      dealButton.addEventListener("click", function () { dealOn(item.id); });
    }
    return el("li", {
      class: "cx-item" + (pinned ? " cx-pinned" : "") + (item.in_stock ? "" : " cx-soldout"),
      "data-testid": "shelf-item-" + item.number, "data-listing-id": item.id,
    },
      el("span", { class: "st-num", text: "#" + item.number }),
      thumb,
      el("div", { style: { minWidth: "0" } },
        el("div", { class: "cx-item-title", text: item.product.title, title: item.product.title }),
        el("div", { class: "cx-item-meta" },
          el("span", { class: "price", text: Hawker.money(item.price) }),
          stockText(item)),
        el("div", {
          class: "cx-req" + (item.requests ? " has" : ""), "data-testid": "requests-" + item.number,
          text: t("{n} asked for #{number}", { n: item.requests, number: item.number }),
        })),
      el("div", { class: "cx-item-tools" }, dealButton, pin));
  }

  function renderShelf() {
    renderDealListings();
    var list = $("cx-shelf");
    list.replaceChildren();
    if (!state.shelf.length) {
      var empty = el("li", { class: "st-empty" }, t("The shelf is empty.") + " ");
      if (manage) empty.appendChild(el("a", { href: "/studio/shows/" + showId, text: t("Add products.") }));
      list.appendChild(empty);
    }
    state.shelf.forEach(function (item) { list.appendChild(shelfItem(item)); });
    renderPinned();
    renderMostAsked();
    renderFigures();
  }

  function renderPinned() {
    var item = findListing(state.pinnedId);
    var box = $("cx-now");
    box.hidden = !item;
    setText("cx-now-title", item ? "#" + item.number + " " + item.product.title : "");
  }

  function renderMostAsked() {
    var list = $("cx-most-asked");
    list.replaceChildren();
    var asked = state.shelf.filter(function (i) { return i.requests > 0; });
    asked.sort(function (a, b) { return b.requests - a.requests || a.number - b.number; });
    if (!asked.length) {
      list.appendChild(el("li", {
        class: "st-empty", style: { background: "none", border: "0", color: "var(--st-faint)" },
        text: t("No requests yet. Viewers ask with “#3” or “3 please”."),
      }));
      return;
    }
    asked.slice(0, 8).forEach(function (item) {
      var title = item.product.title;
      if (title.length > 22) title = title.slice(0, 21) + "…";
      list.appendChild(el("li", { "data-testid": "most-asked-" + item.number, title: item.product.title },
        el("b", { text: "#" + item.number }), item.requests + " × " + title));
    });
  }

  function findListing(id) {
    if (id === null || id === undefined) return null;
    for (var i = 0; i < state.shelf.length; i++) if (state.shelf[i].id === id) return state.shelf[i];
    return null;
  }

  function bump(listingId) {
    var node = $("cx-shelf").querySelector('[data-listing-id="' + listingId + '"]');
    if (!node) return;
    node.classList.remove("bump");
    void node.offsetWidth; // restart the animation
    node.classList.add("bump");
  }

  function togglePin(listingId) {
    if (state.pinnedId === listingId) {
      remember(room.send({ type: "shelf.unpin" }), "unpin");
    } else {
      remember(room.send({ type: "shelf.pin", listing_id: listingId }), "pin");
    }
  }

  function remember(ref, what) {
    state.pending[ref] = what;
  }

  // -- the chat feed --------------------------------------------------------------------

  var scroller = $("cx-chat-scroll");
  var feed = $("cx-chat");

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    $("cx-more").hidden = true;
  }

  function messageNode(m) {
    var staff = m.staff || state.staffIds.has(m.user.id);
    var text = el("div", { class: "cx-msg-text" },
      m.request ? el("span", { class: "cx-badge req", text: "#" + m.request.number }) : null,
      staff ? el("span", { class: "cx-badge staff", text: m.user.id === hostId ? t("Host") : t("Staff") }) : null,
      el("span", { class: "cx-msg-user", text: m.user.display_name }),
      el("span", { class: "cx-msg-body", text: m.body }));
    var mark = state.sanctioned[m.user.id];
    if (mark) text.appendChild(userMark(mark));
    var tools = el("div", { class: "cx-msg-tools" },
      el("button", { class: "st-btn ghost", type: "button", "data-act": "hide", "data-testid": "msg-hide", text: t("Hide") }));
    if (!staff) {
      tools.appendChild(el("button", { class: "st-btn ghost", type: "button", "data-act": "mute", "data-testid": "msg-mute", text: t("Mute 5 min") }));
      tools.appendChild(el("button", { class: "st-btn danger", type: "button", "data-act": "ban", "data-testid": "msg-ban", text: t("Ban") }));
    }
    return el("li", {
      class: "cx-msg" + (m.request ? " request" : "") + (staff ? " staff" : ""),
      "data-testid": "chat-message", "data-message-id": m.id, "data-user-id": m.user.id,
      "data-user-name": m.user.display_name,
    }, text, tools);
  }

  function addMessage(m, follow) {
    if (feed.querySelector('[data-message-id="' + m.id + '"]')) return;
    var stick = follow || nearBottom();
    feed.appendChild(messageNode(m));
    while (feed.children.length > CHAT_KEPT) feed.removeChild(feed.firstChild);
    $("cx-chat-empty").hidden = true;
    if (stick) toBottom();
    else $("cx-more").hidden = false;
  }

  function renderChat(messages) {
    feed.replaceChildren();
    messages.forEach(function (m) { feed.appendChild(messageNode(m)); });
    $("cx-chat-empty").hidden = messages.length > 0;
    toBottom();
  }

  function markHidden(id) {
    var node = feed.querySelector('[data-message-id="' + id + '"]');
    if (!node || node.classList.contains("cx-hidden")) return;
    node.classList.add("cx-hidden");
    var tools = node.querySelector(".cx-msg-tools");
    var hideButton = tools.querySelector('[data-act="hide"]');
    if (hideButton) hideButton.remove();
    node.querySelector(".cx-msg-text").appendChild(
      el("span", { class: "cx-badge sanction", text: t("hidden"), style: { marginLeft: "6px" } }));
  }

  function userMark(what) {
    return el("span", { class: "cx-badge sanction user-mark", text: what, style: { marginLeft: "6px" } });
  }

  function markUser(userId) {
    var mark = state.sanctioned[userId];
    feed.querySelectorAll('.cx-msg[data-user-id="' + userId + '"]').forEach(function (node) {
      var old = node.querySelector(".user-mark");
      if (old) old.remove();
      if (mark) node.querySelector(".cx-msg-text").appendChild(userMark(mark));
    });
  }

  feed.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-act]");
    if (!button) return;
    var node = button.closest(".cx-msg");
    var messageId = Number(node.dataset.messageId);
    var userId = Number(node.dataset.userId);
    var name = node.dataset.userName || "this viewer";
    var act = button.dataset.act;
    button.disabled = true;
    var done = function () { button.disabled = false; };
    if (act === "hide") {
      api("POST", "/shows/" + showId + "/chat/" + messageId + "/hide")
        .then(function () { markHidden(messageId); })
        .catch(failed).then(done);
    } else if (act === "mute") {
      api("PUT", "/shows/" + showId + "/sanctions/" + userId, { mute_seconds: MUTE_SECONDS })
        .then(function () { toast(t("{name} is muted for 5 minutes.", { name: name }), true); loadSanctions(); })
        .catch(failed).then(done);
    } else if (act === "ban") {
      if (!window.confirm(t("Ban {name} from this show? They are disconnected at once.", { name: name }))) {
        done();
        return;
      }
      api("PUT", "/shows/" + showId + "/sanctions/" + userId, { ban: true })
        .then(function () { toast(t("{name} is banned from this show.", { name: name }), true); loadSanctions(); })
        .catch(failed).then(done);
    }
  });

  $("cx-more").addEventListener("click", toBottom);
  scroller.addEventListener("scroll", function () { if (nearBottom()) $("cx-more").hidden = true; });

  // The host's own chat box.
  $("cx-chat-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("cx-chat-input");
    var body = input.value.trim();
    if (!body) return;
    setText("cx-chat-error", "");
    remember(room.send({ type: "chat.send", body: body }), "chat");
    input.value = "";
    toBottom();
  });

  // -- moderation lists -----------------------------------------------------------------

  function renderSanctions(rows) {
    var list = $("cx-sanctions");
    list.replaceChildren();
    state.sanctioned = {};
    rows.forEach(function (row) {
      var what = row.banned ? "banned" : "muted";
      state.sanctioned[row.user.id] = what;
      var lift = el("button", {
        class: "st-btn small", type: "button", "data-lift": row.user.id,
        "data-testid": "lift-" + row.user.id, text: t("Lift"),
      });
      list.appendChild(el("li", { "data-user-id": row.user.id },
        el("span", { class: "who" }, row.user.display_name + " ", el("span", { class: "what", text: what })),
        lift));
    });
    if (!rows.length) list.appendChild(el("li", { class: "st-empty", text: t("Nobody is muted or banned.") }));
  }

  function loadSanctions() {
    return api("GET", "/shows/" + showId + "/sanctions").then(function (rows) {
      var before = Object.assign({}, state.sanctioned);
      renderSanctions(rows);
      var users = Object.keys(Object.assign({}, before, state.sanctioned));
      users.forEach(function (id) { markUser(Number(id)); });
    }).catch(failed);
  }

  $("cx-sanctions").addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-lift]");
    if (!button) return;
    button.disabled = true;
    api("PUT", "/shows/" + showId + "/sanctions/" + button.dataset.lift, { ban: false, mute_seconds: 0 })
      .then(loadSanctions)
      .catch(function (err) { button.disabled = false; failed(err); });
  });

  function renderModerators(users) {
    var list = $("cx-mods");
    list.replaceChildren();
    state.staffIds = new Set([hostId]);
    users.forEach(function (u) {
      state.staffIds.add(u.id);
      list.appendChild(el("li", { "data-user-id": u.id },
        el("span", { class: "who", text: u.display_name }),
        manage ? el("button", { class: "st-btn small ghost", type: "button", "data-remove-mod": u.id, text: t("Remove") }) : null));
    });
    if (!users.length) list.appendChild(el("li", { class: "st-empty", text: t("No moderators yet.") }));
  }

  function loadModerators() {
    return api("GET", "/shows/" + showId + "/moderators").then(renderModerators).catch(failed);
  }

  $("cx-mods").addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-remove-mod]");
    if (!button) return;
    button.disabled = true;
    api("DELETE", "/shows/" + showId + "/moderators/" + button.dataset.removeMod)
      .then(loadModerators)
      .catch(function (err) { button.disabled = false; failed(err); });
  });

  var modForm = $("cx-mod-form");
  if (modForm) {
    modForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = $("cx-mod-email");
      var email = input.value.trim();
      if (!email) return;
      api("POST", "/shows/" + showId + "/moderators", { email: email })
        .then(function (user) {
          input.value = "";
          toast(t("{name} can now moderate this show.", { name: user.display_name }), true);
          return loadModerators();
        })
        .catch(failed);
    });
  }

  // -- chat settings ----------------------------------------------------------------------

  function renderSlow(seconds) {
    $("cx-slow").querySelectorAll("button").forEach(function (b) {
      b.setAttribute("aria-pressed", Number(b.dataset.seconds) === seconds ? "true" : "false");
    });
    setText("cx-slow-note", seconds ? "slow mode " + seconds + " s" : "all messages");
  }

  $("cx-slow").addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-seconds]");
    if (!button) return;
    var seconds = Number(button.dataset.seconds);
    api("PATCH", "/shows/" + showId + "/chat-settings", { slow_mode_seconds: seconds })
      .then(function (settings) { renderSlow(settings.slow_mode_seconds); })
      .catch(failed);
  });

  $("cx-words-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var words = $("cx-words").value.split(/[\n,]/).map(function (w) { return w.trim(); })
      .filter(Boolean);
    api("PATCH", "/shows/" + showId + "/chat-settings", { banned_words: words })
      .then(function (settings) {
        $("cx-words").value = settings.banned_words.join("\n");
        var n = settings.banned_words.length;
        setText("cx-words-saved", n === 1 ? t("Saved · 1 word") : t("Saved · {n} words", { n: n }));
      })
      .catch(failed);
  });
  $("cx-words").addEventListener("input", function () { setText("cx-words-saved", ""); });

  // -- show state and the stream key ------------------------------------------------------

  var goLive = $("cx-go-live");
  if (goLive) {
    goLive.addEventListener("click", function () {
      if (!window.confirm(t("Go live now? Viewers will see the show as on air."))) return;
      goLive.disabled = true;
      api("POST", "/shows/" + showId + "/live")
        .then(function (show) { state.status = show.status; renderStatus(); })
        .catch(failed)
        .then(function () { goLive.disabled = false; });
    });
  }
  var end = $("cx-end");
  if (end) {
    end.addEventListener("click", function () {
      if (!window.confirm(t("End the show for everyone? This cannot be undone."))) return;
      end.disabled = true;
      api("POST", "/shows/" + showId + "/end")
        .then(function (show) { state.status = show.status; renderStatus(); renderShelf(); })
        .catch(failed)
        .then(function () { end.disabled = false; });
    });
  }

  var keyShown = false;
  var showKey = $("cx-key-show");
  if (showKey) {
    showKey.addEventListener("click", function () {
      if (keyShown) {
        setText("cx-key", "••••••••••••••••");
        showKey.textContent = tc("reveal", "Show");
        keyShown = false;
        return;
      }
      api("GET", "/shows/" + showId + "/stream-key").then(function (out) {
        setText("cx-key", out.stream_key);
        showKey.textContent = t("Hide");
        keyShown = true;
      }).catch(failed);
    });
    $("cx-key-rotate").addEventListener("click", function () {
      if (!window.confirm(t("Make a new stream key? The old one stops working at once."))) return;
      api("POST", "/shows/" + showId + "/stream-key").then(function (out) {
        setText("cx-key", out.stream_key);
        showKey.textContent = t("Hide");
        keyShown = true;
        toast(t("New stream key made; update your encoder."), true);
      }).catch(failed);
    });
  }


  // -- sales: figures, flash deals, coupons -----------------------------------------------

  function money(value) { return Hawker.money(value); }

  function serverNow() { return Date.now() + state.clockOffset; }

  function clock(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var m = Math.floor(s / 60);
    var sec = s % 60;
    return m + ":" + (sec < 10 ? "0" : "") + sec;
  }

  function renderSales(f) {
    if (!f) return;
    setText("cx-units", f.units);
    setText("cx-opm", f.orders_per_minute);
    setText("cx-gmv", money(f.gmv));
    setText("cx-orders", f.orders === 1 ? t("1 paid order") : t("{n} paid orders", { n: f.orders }));
    var box = root.querySelector(".cx-sales");
    if (box) {
      box.classList.remove("bump");
      void box.offsetWidth;
      box.classList.add("bump");
    }
  }

  function dealState(d) {
    if (d.status === "sold_out" || d.status === "ended") return d.status;
    var now = serverNow();
    if (now >= Date.parse(d.ends_at)) return "ended";
    if (now < Date.parse(d.starts_at)) return "scheduled";
    return d.left <= 0 ? "sold_out" : "running";
  }

  var DEAL_WORDS = { sold_out: t("sold out"), ended: t("ended") };

  function renderDeals() {
    var list = $("cx-deals");
    if (!list) return;
    list.replaceChildren();
    var deals = Object.keys(state.deals).map(function (id) { return state.deals[id]; })
      .sort(function (a, b) { return b.id - a.id; });
    var shown = 0;
    deals.forEach(function (d) {
      var st = dealState(d);
      if (st === "ended" && shown >= 1) return;
      shown += 1;
      var item = findListing(d.listing_id);
      var end = el("button", { class: "st-btn small danger", type: "button", "data-testid": "deal-end-" + d.id, text: t("End") });
      end.addEventListener("click", function () {
        end.disabled = true;
        api("POST", "/shows/" + showId + "/deals/" + d.id + "/end")
          .then(function (out) { state.deals[out.id] = out; renderDeals(); toast(t("Deal ended; unsold units are back on the shelf."), true); })
          .catch(function (err) { end.disabled = false; failed(err); });
      });
      var sold = d.quantity ? Math.round(100 * (d.quantity - d.left) / d.quantity) : 100;
      list.appendChild(el("li", { class: "cx-deal " + st, "data-deal-id": d.id, "data-testid": "deal-row-" + d.id },
        el("div", { class: "cx-deal-top" },
          el("b", { text: "#" + (d.number || (item ? item.number : "?")) + " " + (d.variant ? d.variant.name : "") }),
          el("span", { class: "cx-deal-price", text: money(d.price) }),
          d.list_price ? el("s", { text: money(d.list_price) }) : null),
        el("div", { class: "cx-deal-bar" }, el("span", { style: { width: (st === "sold_out" ? 100 : sold) + "%" } })),
        el("div", { class: "cx-deal-foot" },
          el("span", { class: "cx-deal-left", "data-testid": "deal-left-" + d.id, text: t("{left} / {quantity} left", { left: d.left, quantity: d.quantity }) }),
          el("span", { class: "cx-deal-clock", "data-deal-clock": d.id, text: dealClock(d) }),
          st === "running" || st === "scheduled" ? end : null)));
    });
    if (!shown) list.appendChild(el("li", { class: "st-empty", text: t("No deal running. Pick an item below, or ⚡ Deal on the shelf.") }));
  }

  function dealClock(d) {
    var st = dealState(d);
    if (st === "scheduled") return t("starts in {time}", { time: clock(Date.parse(d.starts_at) - serverNow()) });
    if (st === "running") return t("ends in {time}", { time: clock(Date.parse(d.ends_at) - serverNow()) });
    return DEAL_WORDS[st];
  }

  setInterval(function () {
    Object.keys(state.deals).forEach(function (id) {
      var d = state.deals[id];
      var node = root.querySelector('[data-deal-clock="' + d.id + '"]');
      if (!node) return;
      var text = dealClock(d);
      var row = node.closest(".cx-deal");
      if (row && !row.classList.contains(dealState(d))) renderDeals();
      else node.textContent = text;
    });
  }, 500);

  var dealForm = $("cx-deal-form");

  function renderDealListings() {
    if (!dealForm) return;
    var select = $("cx-deal-listing");
    var chosen = Number(select.value) || null;
    select.replaceChildren();
    state.shelf.forEach(function (item) {
      var title = item.product.title.length > 28 ? item.product.title.slice(0, 27) + "…" : item.product.title;
      select.appendChild(el("option", { value: item.id, text: "#" + item.number + " " + title }));
    });
    if (chosen && findListing(chosen)) select.value = String(chosen);
    renderDealVariants();
  }

  function renderDealVariants() {
    if (!dealForm) return;
    var item = findListing(Number($("cx-deal-listing").value));
    var select = $("cx-deal-variant");
    var chosen = Number(select.value) || null;
    select.replaceChildren();
    if (!item) return;
    item.variants.forEach(function (v) {
      select.appendChild(el("option", { value: v.id, text: v.name + " · " + t("{n} left", { n: v.stock }) }));
    });
    if (chosen && item.variants.some(function (v) { return v.id === chosen; })) select.value = String(chosen);
    setText("cx-deal-hint", t("Shelf price {price}. The deal's units come out of this variant's stock; what does not sell goes back.", { price: money(item.price) }));
  }

  function dealOn(listingId) {
    if (!dealForm) return;
    $("cx-deal-listing").value = String(listingId);
    renderDealVariants();
    dealForm.scrollIntoView({ block: "center", behavior: "smooth" });
    $("cx-deal-price").focus();
  }

  if (dealForm) {
    $("cx-deal-listing").addEventListener("change", renderDealVariants);
    dealForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = dealForm.elements;
      var body = {
        listing_id: Number(f.listing_id.value),
        variant_id: f.variant_id.value ? Number(f.variant_id.value) : null,
        price: f.price.value.trim(),
        quantity: Number(f.quantity.value),
        per_buyer_limit: Number(f.per_buyer_limit.value),
        duration_seconds: Number(f.duration_seconds.value),
        countdown_seconds: Number(f.countdown_seconds.value),
      };
      var button = dealForm.querySelector("button[type=submit]");
      button.disabled = true;
      api("POST", "/shows/" + showId + "/deals", body).then(function (deal) {
        state.deals[deal.id] = deal;
        renderDeals();
        f.price.value = "";
        toast(deal.status === "running" ? t("Deal on #{number} is live.", { number: deal.number }) : t("Deal on #{number} is counting down.", { number: deal.number }), true);
      }).catch(failed).then(function () { button.disabled = state.status !== "live"; });
    });
  }

  function couponValue(c) {
    if (c.percent_off) return t("{percent}% off", { percent: c.percent_off });
    if (c.amount_off) return t("{amount} off", { amount: money(c.amount_off) });
    return "";
  }

  function renderCoupons() {
    var list = $("cx-coupons");
    if (!list) return;
    list.replaceChildren();
    state.coupons.forEach(function (c) {
      var meta = couponValue(c);
      if (c.min_spend && Number(c.min_spend.amount) > 0) meta += t(" over {amount}", { amount: money(c.min_spend) });
      var right;
      if (c.claim_limit && c.dropped) {
        right = el("span", { class: "what", "data-testid": "coupon-claims-" + c.id, text: t("{left} / {quantity} left", { left: c.claims_left !== undefined ? c.claims_left : c.claim_limit, quantity: c.claim_limit }) });
      } else if (c.claim_limit) {
        right = el("button", { class: "st-btn small primary", type: "button", "data-testid": "coupon-drop-" + c.id, text: t("Drop"), disabled: state.status !== "live" });
        right.addEventListener("click", function () {
          right.disabled = true;
          api("POST", "/shows/" + showId + "/coupons/" + c.id + "/drop")
            .then(function (out) { replaceCoupon(out); toast(t("{code} dropped: the first {n} viewers can claim it.", { code: c.code, n: c.claim_limit }), true); })
            .catch(function (err) { right.disabled = false; failed(err); });
        });
      } else {
        right = el("span", { class: "what", text: t("code") });
      }
      list.appendChild(el("li", { "data-coupon-id": c.id, "data-testid": "coupon-row-" + c.id },
        el("span", { class: "who" }, el("b", { class: "cx-code", text: c.code }), " ", el("span", { class: "what", text: meta })),
        right));
    });
    if (!state.coupons.length) list.appendChild(el("li", { class: "st-empty", text: t("No coupons yet.") }));
  }

  function replaceCoupon(c) {
    var found = false;
    state.coupons = state.coupons.map(function (x) { if (x.id === c.id) { found = true; return c; } return x; });
    if (!found) state.coupons.push(c);
    renderCoupons();
  }

  function loadCoupons() {
    if (!$("cx-coupons")) return;
    api("GET", "/shows/" + showId + "/coupons").then(function (rows) {
      state.coupons = rows;
      renderCoupons();
    }).catch(failed);
  }

  var couponForm = $("cx-coupon-form");
  if (couponForm) {
    couponForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = couponForm.elements;
      var body = { code: f.code.value.trim().toUpperCase(), show_id: showId, uses_per_buyer: Number(f.uses_per_buyer.value) || 1 };
      var value = f.value.value.trim();
      if (f.kind.value === "percent") body.percent_off = Number(value);
      else body.amount_off = value;
      if (f.min_spend.value.trim()) body.min_spend = f.min_spend.value.trim();
      if (f.claim_limit.value) body.claim_limit = Number(f.claim_limit.value);
      api("POST", "/coupons", body).then(function (c) {
        replaceCoupon(c);
        couponForm.reset();
        toast("Coupon " + c.code + " created" + (c.claim_limit ? "; drop it when the moment is right." : "."), true);
      }).catch(failed);
    });
  }

  function stockLeft(d) {
    var pool = String(d.pool || "");
    if (d.deal_id) {
      var deal = state.deals[d.deal_id];
      if (deal) { deal.left = d.left; renderDeals(); }
    } else if (d.variant_id) {
      var touched = false;
      state.shelf.forEach(function (item) {
        item.variants.forEach(function (v) { if (v.id === d.variant_id) { v.stock = d.left; touched = true; } });
        item.in_stock = item.variants.reduce(function (n, v) { return n + v.stock; }, 0);
      });
      if (touched) renderShelf();
    } else if (pool.slice(0, 2) === "k:") {
      var id = Number(pool.slice(2));
      state.coupons.forEach(function (c) { if (c.id === id) c.claims_left = d.left; });
      renderCoupons();
    }
  }

  // -- the stream: preview, health, cover ---------------------------------------------------

  var streamBox = $("cx-stream");
  var preview = null;
  var STREAM_WORDS = {
    offline: t("Offline"), streaming: tc("stream state", "On air"), reconnecting: t("Reconnecting"), ended: t("Ended"),
  };
  var STREAM_HINTS = {
    offline: t("Waiting for your encoder: start streaming in OBS with the server and key below."),
    reconnecting: t("Your encoder dropped. Viewers see “reconnecting”; the show carries on in the same recording when it is back."),
  };
  var streamState = null;

  function duration(seconds) {
    var s = Math.max(0, Math.floor(seconds || 0));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (sec < 10 ? "0" : "") + sec;
  }

  function previewNote(text) {
    var note = $("cx-preview-note");
    note.textContent = text || "";
    note.hidden = !text;
  }

  // The preview plays exactly what viewers get (the same playlist and player).
  function startPreview() {
    if (preview || !streamBox || !window.HawkerPlayer) return;
    var video = $("cx-preview");
    preview = new HawkerPlayer(video, {
      live: true,
      now: serverNow,
      onState: function (s) {
        if (s === "playing") previewNote("");
        else if (s === "waiting") previewNote(t("No picture yet"));
        else if (s === "reconnecting") previewNote(t("Reconnecting…"));
        else if (s === "ended") previewNote(t("The stream has ended"));
        else if (s === "error") previewNote(t("This browser cannot play the preview"));
      },
    });
    preview.load(streamBox.dataset.liveUrl);
  }

  function stopPreview() {
    if (preview) preview.destroy();
    preview = null;
  }

  setInterval(function () {
    var node = $("cx-preview-behind");
    var behind = preview && preview.state === "playing" ? preview.behind() : null;
    node.hidden = behind === null;
    if (behind !== null) node.textContent = t("viewers ≈ {n} s behind", { n: behind.toFixed(1) });
  }, 1000);

  function renderStream(st) {
    var state_ = st.state || "offline";
    streamState = state_;
    var pill = $("cx-stream-state");
    pill.textContent = STREAM_WORDS[state_] || state_;
    pill.className = "cx-stream-state " + state_;
    var problem = st.problem ? capital(st.problem) + "." : STREAM_HINTS[state_] || "";
    if (!st.ingest_enabled && state_ === "offline") problem = t("Video ingest is off on this server.");
    var p = $("cx-stream-problem");
    p.textContent = problem;
    p.hidden = !problem;
    p.classList.toggle("bad", !!st.problem);
    var h = st.health || {};
    var live = state_ === "streaming";
    setText("cx-h-bitrate", live ? Math.round(h.bitrate_kbps || 0).toLocaleString() + " kbps" : "–");
    setText("cx-h-fps", live && h.fps ? h.fps + " fps" : "–");
    setText("cx-h-dropped", h.dropped_frames !== undefined ? String(h.dropped_frames) : "–");
    setText("cx-h-on-air", h.on_air_s !== undefined ? duration(h.on_air_s) : "–");
    var picture = h.width && h.height ? h.width + "×" + h.height : "";
    if (h.video_codec) picture += (picture ? " " : "") + h.video_codec;
    if (h.audio_codec) picture += " + " + h.audio_codec;
    if (h.transcoding) picture += " " + t("(re-encoded)");
    setText("cx-h-picture", picture || "–");
    setText("cx-h-keys", h.keyframe_interval_s ? t("every {n} s", { n: h.keyframe_interval_s.toFixed(1) }) : "–");
    $("cx-h-keys").classList.toggle("warn", !!h.keyframe_interval_s && h.keyframe_interval_s > 2.1);
    var warnings = (h.warnings || []).slice();
    if (h.keyframe_interval_s && h.keyframe_interval_s > 2.1) {
      warnings.push(t("Keyframes come every {n} s: set the keyframe interval to 1 s for low latency", { n: h.keyframe_interval_s.toFixed(1) }));
    }
    var list = $("cx-stream-warnings");
    list.replaceChildren();
    warnings.forEach(function (w) { list.appendChild(el("li", { text: capital(w) })); });
    list.hidden = !warnings.length;
    if (live || state_ === "reconnecting") startPreview();
    if (state_ === "offline" && !preview) previewNote(t("No picture yet"));
    if (state_ === "ended") {
      previewNote(preview ? "" : t("The show has ended"));
      $("cx-cover").disabled = true;
    }
  }

  var pollingStream = false;
  function pollStream() {
    if (pollingStream || document.hidden) return;
    pollingStream = true;
    api("GET", "/shows/" + showId + "/stream").then(renderStream).catch(function () {
      /* the next poll asks again */
    }).then(function () { pollingStream = false; });
  }

  if (streamBox) {
    if (manage) {
      pollStream();
      setInterval(pollStream, 2000);
    } else if (state.status === "live") {
      startPreview();  // moderators see the picture; the health figures are the host's
    }
  }

  var coverButton = $("cx-cover");
  if (coverButton) {
    coverButton.addEventListener("click", function () {
      coverButton.disabled = true;
      coverButton.textContent = t("Taking the frame…");
      api("POST", "/shows/" + showId + "/cover-from-stream").then(function (out) {
        var img = $("cx-cover-img");
        img.src = out.cover_url;
        img.hidden = false;
        $("cx-preview").poster = out.cover_url;
        toast(t("The current frame is now the show's cover."), true);
      }).catch(function (err) {
        toast(err.code === "no_stream" ? t("No picture yet: start streaming first.") : err.message ? capital(err.message) : t("That did not work."));
      }).then(function () {
        coverButton.disabled = state.status === "ended";
        coverButton.textContent = t("Use current frame as cover");
      });
    });
  }

  function copyText(text, what) {
    var done = function () { toast(t("{what} copied.", { what: what }), true); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  // Clipboard API needs https or localhost; a selected hidden field works everywhere.
  function fallbackCopy(text) {
    var area = el("textarea", { style: { position: "fixed", opacity: "0" } });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    area.remove();
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      copyText($(button.dataset.copy).textContent.trim(), t("Server address"));
    });
  });
  var keyCopy = $("cx-key-copy");
  if (keyCopy) {
    keyCopy.addEventListener("click", function () {
      api("GET", "/shows/" + showId + "/stream-key").then(function (out) {
        copyText(out.stream_key, t("Stream key"));
      }).catch(failed);
    });
  }

  // -- head-to-head battles (static/js/battle.js draws the score) ---------------------------

  var battle = window.HawkerBattle && $("cx-battle") ? new HawkerBattle($("cx-battle"), showId) : null;

  function applyBattle(b) {
    if (!battle) return;
    battle.apply(b);
    renderBattleControls();
  }

  function battleRunning() {
    return !!(battle && battle.battle && battle.battle.status === "running");
  }

  function renderBattleControls() {
    var start = $("cx-battle-start");
    var end = $("cx-battle-end");
    if (start) start.disabled = state.status !== "live" || battleRunning();
    if (end) end.hidden = !battleRunning();
  }

  // The other shows on air, for "Against": loaded when the list is opened, so it is fresh.
  function loadOpponents() {
    var select = $("cx-battle-opponent");
    if (!select) return;
    api("GET", "/shows?status=live&limit=200").then(function (shows) {
      var chosen = select.value;
      var options = shows.filter(function (s) { return s.id !== showId; }).map(function (s) {
        return el("option", { value: s.id, text: s.title + " · " + s.host.display_name });
      });
      select.replaceChildren.apply(select, [el("option", {
        value: "", text: options.length ? t("Another show on air…") : t("No other show is on air"),
      })].concat(options));
      if (chosen) select.value = chosen;
    }).catch(function () {});
  }

  var battleForm = $("cx-battle-form");
  if (battleForm) {
    loadOpponents();
    $("cx-battle-opponent").addEventListener("focus", loadOpponents);
    battleForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var opponent = Number($("cx-battle-opponent").value);
      if (!opponent) return toast(t("Pick the show to battle against."));
      var button = $("cx-battle-start");
      button.disabled = true;
      api("POST", "/battles", {
        show_id: showId,
        opponent_show_id: opponent,
        duration_seconds: Number(battleForm.elements.duration_seconds.value),
      }).then(function (b) {
        applyBattle(b);
        toast(t("The battle is on."), true);
      }).catch(failed).then(renderBattleControls);
    });
    $("cx-battle-end").addEventListener("click", function () {
      if (!battleRunning()) return;
      var button = $("cx-battle-end");
      button.disabled = true;
      api("POST", "/battles/" + battle.battle.id + "/end").then(applyBattle).catch(failed)
        .then(function () { button.disabled = false; renderBattleControls(); });
    });
  }

  // -- the room ---------------------------------------------------------------------------

  // Other panels (static/js/runofshow.js) follow the room through these DOM events.
  function tell(name, detail) {
    root.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function onSnapshot(snap) {
    tell("hawker:snapshot", snap);
    state.status = snap.show.status;
    state.shelf = snap.shelf || [];
    state.pinnedId = snap.pinned ? snap.pinned.id : (snap.show.pinned_listing_id || null);
    state.viewers = snap.viewers || 0;
    state.likes = snap.likes || 0;
    setText("cx-show-title", snap.show.title);
    renderStatus();
    renderShelf();
    renderSlow(snap.slow_mode_seconds || 0);
    renderChat(snap.chat || []);
    if (typeof snap.server_time === "number") state.clockOffset = snap.server_time - Date.now();
    state.deals = {};
    (snap.deals || []).forEach(function (d) { state.deals[d.id] = d; });
    renderDeals();
    if (snap.figures) renderSales(snap.figures);
    applyBattle(snap.battle || null);
  }

  function chatMessage(ev) {
    if (HawkerRoom.message) return HawkerRoom.message(ev);
    var d = ev.data || {};
    return d.message && typeof d.message === "object" ? d.message : d;
  }

  function onEvent(ev) {
    var d = ev.data || {};
    tell("hawker:event", ev);
    switch (ev.type) {
      case "show.state":
        state.status = d.status;
        if (!manage && d.status === "live") startPreview();
        if (d.title) setText("cx-show-title", d.title);
        renderStatus();
        renderShelf();
        break;
      case "shelf.updated":
        state.shelf = d.shelf || [];
        if (!findListing(state.pinnedId)) state.pinnedId = null;
        renderShelf();
        break;
      case "shelf.pinned":
        state.pinnedId = d.listing.id;
        state.shelf = state.shelf.map(function (i) { return i.id === d.listing.id ? d.listing : i; });
        renderShelf();
        break;
      case "shelf.unpinned":
        if (state.pinnedId === d.listing_id) state.pinnedId = null;
        renderShelf();
        break;
      case "viewers.count":
        state.viewers = d.count;
        renderFigures();
        break;
      case "likes.burst":
        state.likes = d.total;
        renderFigures();
        break;
      case "requests.counted":
        state.shelf.forEach(function (i) { if (i.id === d.listing_id) i.requests = d.count; });
        renderShelf();
        bump(d.listing_id);
        break;
      case "chat.message":
        addMessage(chatMessage(ev), false);
        break;
      case "chat.hidden":
        markHidden(d.id);
        break;
      case "chat.settings":
        renderSlow(d.slow_mode_seconds || 0);
        break;
      case "user.sanctioned":
        loadSanctions();
        break;
      case "ack":
        delete state.pending[d.ref];
        break;
      case "figures.updated":
        renderSales(d);
        break;
      case "deal.updated":
        if (d.deal) {
          if (d.deal.server_time) state.clockOffset = Date.parse(d.deal.server_time) - Date.now();
          state.deals[d.deal.id] = d.deal;
          renderDeals();
        }
        break;
      case "stock.left":
        stockLeft(d);
        break;
      case "battle.updated":
      case "battle.score":
        applyBattle(d.battle);
        break;
      case "coupon.dropped":
        if (d.coupon) replaceCoupon(d.coupon);
        break;
      default:
        break;
    }
  }

  function onError(err) {
    var what = err && err.ref !== undefined ? state.pending[err.ref] : null;
    if (err && err.ref !== undefined) delete state.pending[err.ref];
    var text = capital((err && err.message) || t("Something went wrong."));
    if (what === "chat" || (err && err.code === "offline")) {
      setText("cx-chat-error", text);
    } else {
      toast(text);
    }
  }

  // Until the snapshot arrives the server-rendered page stands; pins made before then
  // still work because the listing ids are in the markup.
  $("cx-shelf").addEventListener("click", function (ev) {
    var button = ev.target.closest("button.cx-pin");
    if (!button || state.shelf.length) return;
    var id = Number(button.dataset.listingId);
    var pinned = button.closest(".cx-item").classList.contains("cx-pinned");
    remember(room.send(pinned ? { type: "shelf.unpin" } : { type: "shelf.pin", listing_id: id }), "pin");
  });

  loadSanctionsMarks();
  loadCoupons();
  $("cx-shelf").addEventListener("click", function (ev) {
    var button = ev.target.closest("button.cx-deal-btn");
    if (button && !state.shelf.length) dealOn(Number(button.dataset.dealListing));
  });
  function loadSanctionsMarks() {
    $("cx-sanctions").querySelectorAll("li[data-user-id]").forEach(function (li) {
      state.sanctioned[Number(li.dataset.userId)] = li.querySelector(".what").textContent;
    });
  }

  var room = new HawkerRoom(showId, {
    onSnapshot: onSnapshot,
    onEvent: onEvent,
    onStatus: setConnection,
    onError: onError,
  });
  room.connect();
  toBottom();
})();
