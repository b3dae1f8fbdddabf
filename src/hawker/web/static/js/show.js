/*
 * The viewer's room: draws the snapshot, applies events, sends chat and likes, and sells:
 * the buy sheet (pick, address, hold, card, confirmation), the flash deal card, coupon
 * drops and the sales ticker. Everything from the server goes into the page as text
 * (Hawker.el / textContent). Money stays a string until Hawker.money formats it.
 *
 * Clocks: every countdown runs on the server's clock (snapshot server_time, deal
 * server_time), as a phone's own clock may be minutes off.
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
  var STATUS_WORDS = { live: t("Live"), scheduled: t("Scheduled"), ended: t("Ended") };

  var state = {
    shelf: [], pinnedId: null, status: stage.dataset.status, you: null, slowMode: 0,
    deals: {},      // id -> deal, as the server last told it
    coupons: {},    // id -> dropped coupon
    claimed: {},    // coupon id -> true once this viewer holds it
    spent: {},      // coupon code -> true once used on a paid order
    clockOffset: 0, // server ms - this device's ms
  };
  var pendingSends = {};  // ref -> the text sent, restored into the box if refused
  // A head-to-head battle with another show (static/js/battle.js); none on replays.
  var battle = window.HawkerBattle && $("battle") ? new HawkerBattle($("battle"), showId) : null;

  // -- shelf ---------------------------------------------------------------------------

  function renderShelf() {
    shelfList.replaceChildren();
    $("shelf-size").textContent = state.shelf.length ? "· " + t("{n} items", { n: state.shelf.length }) : "";
    var count = $("shelf-count");
    count.hidden = !state.shelf.length;
    count.textContent = String(state.shelf.length);
    if (!state.shelf.length) {
      shelfList.appendChild(el("li", { class: "empty", text: t("Nothing on the shelf yet.") }));
      return;
    }
    state.shelf.forEach(function (item) { shelfList.appendChild(shelfItem(item)); });
  }

  function shelfItem(item) {
    var pinned = item.id === state.pinnedId;
    var image = item.product.image;
    var left = listingLeft(item);
    var deal = runningDeal(item.id);
    var soon = left <= 0 && dealSoon(item);
    var buy = el("button", {
      type: "button", class: "item-buy", "data-testid": "buy-" + item.number,
      disabled: left <= 0, text: left > 0 ? t("Buy") : soon ? t("Soon") : t("Sold out"),
      "aria-label": t("Buy number {n}", { n: item.number }),
    });
    var node = el("li", {
        class: "item" + (pinned ? " is-pinned" : "") + (left > 0 ? "" : " is-out"),
        id: "item-" + item.number,
        "data-testid": "shelf-item-" + item.number,
        "data-listing-id": item.id,
      },
      el("span", { class: "n", "aria-label": "number " + item.number, text: item.number }),
      image ? el("span", { class: "pic" }, el("img", { src: image, alt: "", loading: "lazy" })) : null,
      el("div", { class: "body" },
        pinned ? el("div", { class: "now", text: t("Now showing") }) : null,
        el("div", { class: "title", text: item.product.title }),
        item.product.brand ? el("div", { class: "brandname", text: item.product.brand.name }) : null,
        el("div", { class: "meta" },
          el("span", { class: "price", text: money(deal ? deal.price : item.price) }),
          deal ? el("s", { class: "was", text: money(item.price) }) : null,
          left > 0
            ? el("span", { class: left <= 5 ? "low" : null, "data-testid": "left-" + item.number, text: t("{n} left", { n: left }) })
            : el("span", { class: soon ? "low" : "soldout", "data-testid": "left-" + item.number, text: soon ? t("Deal soon") : t("Sold out") }),
          el("span", {
            class: "asked",
            "data-testid": "requests-" + item.number,
            hidden: !item.requests,
            text: t("{n} asked", { n: item.requests }),
          })
        )
      ),
      buy
    );
    node.addEventListener("click", function (e) {
      if (e.target.closest("a") || left <= 0) return;
      closeSheet();
      openBuy(item.id, deal ? deal.variant.id : null);
    });
    return node;
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
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    if (!$("buy").hidden) closeBuy(); else closeSheet();
  });

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
    var deal = runningDeal(item.id);
    var left = listingLeft(item);
    $("pinned-label").textContent = (deal ? "⚡ " + t("Deal · #{n}", { n: item.number }) : t("Now showing #{n}", { n: item.number }));
    $("pinned-title").textContent = item.product.title;
    $("pinned-price").textContent = money(deal ? deal.price : item.price);
    $("pinned-was").textContent = deal ? money(item.price) : "";
    var soon = left <= 0 && dealSoon(item);
    $("pinned-left").textContent = left > 0 ? t("{n} left", { n: left }) : soon ? t("Deal soon") : t("Sold out");
    $("pinned-left").className = "left" + (soon ? " low" : left <= 0 ? " out" : left <= 5 ? " low" : "");
    var buy = $("pinned-buy");
    buy.disabled = left <= 0;
    buy.textContent = left > 0 ? t("Buy now") : soon ? t("Soon") : t("Sold out");
    card.setAttribute("aria-label", t("Now showing number {n}: {title}", { n: item.number, title: item.product.title }));
    if (wasHidden) {
      card.hidden = false;
      card.style.animation = "none";
      void card.offsetWidth;
      card.style.animation = "";
    }
  }

  function buyPinned() {
    var item = state.pinnedId ? listingById(state.pinnedId) : null;
    if (!item) return;
    var deal = runningDeal(item.id);
    openBuy(item.id, deal ? deal.variant.id : null);
  }

  $("pinned").addEventListener("click", buyPinned);
  $("pinned").addEventListener("keydown", function (e) {
    if (e.target !== $("pinned")) return;
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); buyPinned(); }
  });
  $("pinned-buy").addEventListener("click", function (e) { e.stopPropagation(); buyPinned(); });

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
    if (staff) badge = el("span", { class: "badge staff", text: m.user && m.user.id === hostId ? t("Host") : t("Mod") });
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
    return s === 1 ? t("1 second") : t("{n} seconds", { n: s });
  }

  function mutedText(iso) {
    var d = iso ? new Date(iso) : null;
    if (!d || isNaN(d)) return t("You are muted in this show.");
    return t("You are muted in this show until {time}.", {
      time: d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }),
    });
  }

  function explain(err) {
    switch (err.code) {
      case "rate_limited": return t("You're sending fast. Try again in {time}.", { time: seconds(err.retry_after) });
      case "slow_mode": return t("Slow mode is on. You can send again in {time}.", { time: seconds(err.retry_after) });
      case "muted": return mutedText(state.you && state.you.muted_until);
      case "message_too_long": return err.message ? capital(err.message) : t("That message is too long.");
      case "message_blocked": return t("That message was not sent: it has a word this show blocks.");
      case "not_signed_in": return t("Sign in to chat and like.");
      case "banned": return t("You are banned from this show.");
      case "offline": return t("Not connected. Reconnecting…");
      default: return err.message ? capital(err.message) : t("That did not work.");
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
      showChatError(t("Sign in to like and chat."));
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

  // -- selling: clocks, stock, deals --------------------------------------------------------

  var api = HawkerRoom.api;
  var signedIn = $("buy").dataset.signedIn === "true";

  function setClock(serverMs) {
    if (typeof serverMs === "number" && isFinite(serverMs)) state.clockOffset = serverMs - Date.now();
  }

  function serverNow() { return Date.now() + state.clockOffset; }

  function clock(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    var mm = (h && m < 10 ? "0" : "") + m;
    return (h ? h + ":" : "") + mm + ":" + (sec < 10 ? "0" : "") + sec;
  }

  // What the deal is now: the server's word, moved on by the server's clock in between.
  function dealStatus(deal) {
    if (deal.status === "sold_out" || deal.status === "ended") return deal.status;
    var now = serverNow();
    if (now >= Date.parse(deal.ends_at)) return "ended";
    if (deal.left <= 0 && now >= Date.parse(deal.starts_at)) return "sold_out";
    if (now < Date.parse(deal.starts_at)) return "scheduled";
    return "running";
  }

  function dealOn(listingId, variantId) {
    var best = null;
    Object.keys(state.deals).forEach(function (id) {
      var d = state.deals[id];
      if (d.listing_id !== listingId || (variantId && d.variant.id !== variantId)) return;
      if (dealStatus(d) === "ended") return;
      if (!best || d.id > best.id) best = d;
    });
    return best;
  }

  function runningDeal(listingId) {
    var d = dealOn(listingId, null);
    return d && dealStatus(d) === "running" ? d : null;
  }

  // Units a viewer can buy of one variant: a deal on it sells from its own pool.
  function variantLeft(listing, variant) {
    var d = dealOn(listing.id, variant.id);
    if (d) return dealStatus(d) === "running" ? d.left : 0;
    return variant.stock;
  }

  function listingLeft(listing) {
    var n = 0;
    (listing.variants || []).forEach(function (v) { n += Math.max(0, variantLeft(listing, v)); });
    return n;
  }

  // Nothing to buy now, but a deal on it is counting down.
  function dealSoon(listing) {
    var d = dealOn(listing.id, null);
    return !!d && dealStatus(d) === "scheduled";
  }

  function stockLeft(d) {
    var pool = String(d.pool || "");
    if (d.deal_id && state.deals[d.deal_id]) {
      state.deals[d.deal_id].left = d.left;
    } else if (d.variant_id) {
      state.shelf.forEach(function (item) {
        var touched = false;
        (item.variants || []).forEach(function (v) {
          if (v.id === d.variant_id) { v.stock = d.left; touched = true; }
        });
        if (touched) item.in_stock = item.variants.reduce(function (n, v) { return n + v.stock; }, 0);
      });
    } else if (pool.slice(0, 2) === "k:") {
      var coupon = state.coupons[Number(pool.slice(2))];
      if (coupon) coupon.claims_left = d.left;
      renderCoupons();
      return;
    } else {
      return;
    }
    salesChanged();
  }

  function salesChanged() {
    renderShelf();
    renderPinned();
    renderDeal();
    refreshBuy();
  }

  // -- the flash deal card --------------------------------------------------------------------

  var shownDealId = null;
  var endedAt = {};  // deal id -> when this page saw it end, to show "Ended" for a moment

  function currentDeal() {
    var order = { running: 0, scheduled: 1, sold_out: 2, ended: 3 };
    var best = null;
    Object.keys(state.deals).forEach(function (id) {
      var d = state.deals[id];
      var st = dealStatus(d);
      if (st === "ended" || st === "sold_out") {
        endedAt[d.id] = endedAt[d.id] || Date.now();
        if (Date.now() - endedAt[d.id] > 8000) return;
      }
      if (!best || order[st] < order[dealStatus(best)] || (order[st] === order[dealStatus(best)] && d.id > best.id)) best = d;
    });
    return best;
  }

  function renderDeal() {
    var card = $("deal");
    var d = currentDeal();
    if (!d) {
      card.hidden = true;
      shownDealId = null;
      return;
    }
    var st = dealStatus(d);
    var listing = listingById(d.listing_id);
    if (shownDealId !== d.id) {
      shownDealId = d.id;
      card.style.animation = "none";
      void card.offsetWidth;
      card.style.animation = "";
    }
    card.hidden = false;
    card.className = "deal-card " + st;
    var title = listing ? listing.product.title : "";
    $("deal-title").textContent = (d.number ? "#" + d.number + " " : "") + title + (d.variant && d.variant.name ? " · " + d.variant.name : "");
    $("deal-price").textContent = money(d.price);
    $("deal-list").textContent = d.list_price ? money(d.list_price) : "";
    var sold = d.quantity ? Math.min(1, Math.max(0, (d.quantity - d.left) / d.quantity)) : 1;
    $("deal-progress").style.width = (st === "sold_out" ? 100 : Math.round(sold * 100)) + "%";
    var left = $("deal-left");
    var buy = $("deal-buy");
    if (st === "sold_out") {
      left.textContent = t("Sold out");
      buy.hidden = true;
    } else if (st === "ended") {
      left.textContent = t("Ended");
      buy.hidden = true;
    } else {
      left.textContent = t("{n} left", { n: d.left });
      buy.hidden = false;
      buy.disabled = st !== "running" || d.left <= 0;
      buy.textContent = st === "running" ? t("Buy") : t("Soon");
    }
    tickDeal();
  }

  function tickDeal() {
    var d = shownDealId !== null ? state.deals[shownDealId] : null;
    if (!d) return;
    var st = dealStatus(d);
    var text = "";
    if (st === "scheduled") text = "in " + clock(Date.parse(d.starts_at) - serverNow());
    else if (st === "running") text = clock(Date.parse(d.ends_at) - serverNow());
    else if (st === "sold_out") text = t("Sold out");
    else text = t("Ended");
    $("deal-clock").textContent = text;
    if ($("deal").className.indexOf(" " + st) < 0) salesChanged();
  }

  $("deal-buy").addEventListener("click", function () {
    var d = shownDealId !== null ? state.deals[shownDealId] : null;
    if (d) openBuy(d.listing_id, d.variant.id);
  });

  setInterval(function () {
    tickDeal();
    tickHold();
    if (shownDealId !== null && !currentDeal()) renderDeal();
  }, 250);

  // -- coupon drops ---------------------------------------------------------------------------

  function couponValue(c) {
    if (c.percent_off) return c.percent_off + "% off";
    if (c.amount_off) return t("{amount} off", { amount: money(c.amount_off) });
    return t("Coupon");
  }

  function renderCoupons() {
    var box = $("coupons");
    box.replaceChildren();
    var list = Object.keys(state.coupons).map(function (id) { return state.coupons[id]; })
      .filter(function (c) { return c.dropped; })
      .sort(function (a, b) { return b.id - a.id; }).slice(0, 2);
    list.forEach(function (c) {
      var mine = !!state.claimed[c.id];
      var left = typeof c.claims_left === "number" ? c.claims_left : null;
      var gone = !mine && left !== null && left <= 0;
      var button = el("button", {
        type: "button", class: "coupon-claim", "data-testid": "coupon-claim-" + c.id,
        disabled: mine || gone, text: mine ? t("Yours") : gone ? t("All claimed") : t("Claim"),
      });
      button.addEventListener("click", function () { claim(c, button); });
      var min = c.min_spend && Number(c.min_spend.amount) > 0 ? "over " + money(c.min_spend) : "";
      box.appendChild(el("div", { class: "coupon-card" + (mine ? " mine" : "") + (gone ? " gone" : ""), "data-testid": "coupon-" + c.id },
        el("div", { class: "coupon-value", text: couponValue(c) }),
        el("div", { class: "coupon-meta" },
          el("span", { class: "coupon-code", text: c.code }),
          min ? el("span", { text: min }) : null),
        el("div", { class: "coupon-foot" },
          el("span", { class: "coupon-left", "data-testid": "coupon-left-" + c.id, text: mine ? t("At checkout") : left !== null ? t("{n} left", { n: left }) : "" }),
          button)));
    });
  }

  function claim(c, button) {
    if (!signedIn) {
      toast(t("Sign in to claim coupons."), false);
      return;
    }
    button.disabled = true;
    api("POST", "/coupons/" + c.id + "/claim").then(function (out) {
      state.claimed[c.id] = true;
      if (out && typeof out.claims_left === "number") c.claims_left = out.claims_left;
      renderCoupons();
      toast(t("{code} is yours: {value}, applied at checkout.", { code: c.code, value: couponValue(c) }), true);
      if (!$("buy").hidden && !buy.coupon) {
        buy.coupon = c.code;
        newAttempt();
        requote();
      }
    }).catch(function (err) {
      button.disabled = false;
      toast(err.code === "coupon_all_claimed" ? t("Too late: every {code} has been claimed.", { code: c.code }) : capital(err.message), false);
      if (err.code === "coupon_all_claimed") { c.claims_left = 0; renderCoupons(); }
    });
  }

  // The newest claimed coupon not yet spent on a paid order: applied to the next buy.
  function claimedCode() {
    var ids = Object.keys(state.claimed).map(Number).sort(function (a, b) { return b - a; });
    for (var i = 0; i < ids.length; i++) {
      var c = state.coupons[ids[i]];
      if (c && !state.spent[c.code]) return c.code;
    }
    return null;
  }

  // -- ticker, toast, confetti ----------------------------------------------------------------

  var tickerTimer = null;
  function ticker(text) {
    if (!text) return;
    var node = $("ticker");
    node.replaceChildren(el("span", { class: "ticker-icon", "aria-hidden": "true" }, icon("i-bag")), el("span", { text: text }));
    node.hidden = false;
    node.classList.remove("show");
    void node.offsetWidth;
    node.classList.add("show");
    clearTimeout(tickerTimer);
    tickerTimer = setTimeout(function () { node.hidden = true; }, 4200);
  }

  var toastTimer = null;
  function toast(text, good, ordersLink) {
    var node = $("toast");
    $("toast-text").textContent = text;
    $("toast-link").hidden = !ordersLink;
    // Over an open sheet the toast moves up, clear of what the buyer is reading.
    node.className = "toast " + (good ? "good" : "bad") + ($("buy").hidden ? "" : " high");
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { node.hidden = true; }, ordersLink ? 9000 : 6000);
  }

  var CONFETTI = ["#ff2d55", "#ffc93c", "#2ecc8f", "#4da3ff", "#ff7a45", "#b388ff"];
  function confetti() {
    var box = $("confetti");
    box.replaceChildren();
    for (var i = 0; i < 36; i++) {
      var bit = el("i");
      bit.style.left = (Math.random() * 100).toFixed(1) + "%";
      bit.style.background = CONFETTI[i % CONFETTI.length];
      bit.style.animationDelay = (Math.random() * 0.5).toFixed(2) + "s";
      bit.style.setProperty("--spin", (Math.random() * 720 - 360).toFixed(0) + "deg");
      bit.style.setProperty("--drift", (Math.random() * 120 - 60).toFixed(0) + "px");
      box.appendChild(bit);
    }
    setTimeout(function () { box.replaceChildren(); }, 3200);
  }

  // -- the buy sheet --------------------------------------------------------------------------

  var buy = {
    listingId: null, variantId: null, qty: 1, coupon: null,
    quote: null, quoteSeq: 0,
    key: null,      // one idempotency key per purchase attempt, kept across retries
    order: null,    // the held order being paid
    step: null, busy: false, address: undefined, pollTimer: null,
  };

  function buyListing() { return buy.listingId !== null ? listingById(buy.listingId) : null; }

  function newAttempt() { buy.key = null; }

  function step(name) {
    buy.step = name;
    document.querySelectorAll("#buy .buy-step").forEach(function (node) {
      node.hidden = node.dataset.step !== name;
    });
    if (name !== "processing") stopPolling();
  }

  function alertBuy(text) {
    var node = $("buy-alert");
    node.textContent = text || "";
    node.hidden = !text;
  }

  function openBuy(listingId, variantId) {
    var item = listingById(listingId);
    if (!item) return;
    closeSheet();
    var resume = buy.order && buy.order.status === "pending" && buy.order.listing_id === listingId;
    if (!resume) {
      buy.order = null;
      buy.listingId = listingId;
      buy.qty = 1;
      buy.quote = null;
      buy.coupon = buy.coupon || claimedCode();
      buy.variantId = pickVariant(item, variantId);
      newAttempt();
    }
    $("buy").hidden = false;
    $("buy-scrim").hidden = false;
    requestAnimationFrame(function () { $("buy").classList.add("open"); });
    alertBuy("");
    renderBuyHead();
    if (!signedIn) return step("signin");
    if (resume) return step("pay");
    renderPick();
    withAddress(function () { step("pick"); requote(); });
  }

  function closeBuy() {
    // What the toast said over the sheet, the sheet said too: they go together.
    if ($("toast").classList.contains("high")) $("toast").hidden = true;
    $("buy").classList.remove("open");
    $("buy-scrim").hidden = true;
    setTimeout(function () { if (!$("buy").classList.contains("open")) $("buy").hidden = true; }, 260);
    if (buy.step === "done") { buy.order = null; newAttempt(); }
  }

  $("buy-close").addEventListener("click", closeBuy);
  $("buy-scrim").addEventListener("click", closeBuy);
  $("done-close").addEventListener("click", closeBuy);
  $("done-again").addEventListener("click", function () {
    buy.order = null;
    newAttempt();
    alertBuy("");
    var item = buyListing();
    if (item) buy.variantId = pickVariant(item, buy.variantId);
    renderPick();
    step("pick");
    requote();
  });

  function pickVariant(item, wanted) {
    var variants = item.variants || [];
    var chosen = null;
    variants.forEach(function (v) { if (v.id === wanted) chosen = v; });
    if (chosen) return chosen.id;
    for (var i = 0; i < variants.length; i++) if (variantLeft(item, variants[i]) > 0) return variants[i].id;
    return variants.length ? variants[0].id : null;
  }

  function renderBuyHead() {
    var item = buyListing();
    if (!item) return;
    var thumb = $("buy-thumb");
    thumb.replaceChildren(el("span", { text: "#" + item.number }));
    if (item.product.image) thumb.appendChild(el("img", { src: item.product.image, alt: "" }));
    $("buy-num").textContent = "#" + item.number + (item.product.brand ? " · " + item.product.brand.name : "");
    $("buy-title").textContent = item.product.title;
    var line = buy.quote && buy.quote.lines && buy.quote.lines[0];
    var deal = dealOn(item.id, buy.variantId);
    var running = deal && dealStatus(deal) === "running";
    var unit = line ? line.unit_price : running ? deal.price : variantPrice(item);
    var onDeal = line ? line.on_deal : running;
    $("buy-price").textContent = money(unit);
    $("buy-was").textContent = onDeal ? money(line ? line.list_price : item.price) : "";
    $("buy-deal").hidden = !onDeal;
  }

  function variantPrice(item) {
    return item.price;
  }

  function renderPick() {
    var item = buyListing();
    if (!item) return;
    var box = $("variants");
    box.replaceChildren();
    var variants = item.variants || [];
    variants.forEach(function (v) {
      var left = variantLeft(item, v);
      var deal = dealOn(item.id, v.id);
      var note = left > 0 ? t("{n} left", { n: left }) : deal && dealStatus(deal) === "scheduled" ? t("deal soon") : t("sold out");
      var chip = el("button", {
        type: "button", role: "radio", class: "chip" + (v.id === buy.variantId ? " on" : "") + (left > 0 ? "" : " out"),
        "aria-checked": v.id === buy.variantId ? "true" : "false",
        disabled: left <= 0, "data-testid": "variant-" + v.id,
      },
        el("span", { class: "swatch", style: { background: swatch(v.name) }, "aria-hidden": "true" }),
        el("span", { class: "chip-name", text: v.name }),
        el("span", { class: "chip-left" + (left > 0 && left <= 5 ? " low" : ""), text: note }));
      chip.addEventListener("click", function () {
        if (buy.variantId === v.id) return;
        buy.variantId = v.id;
        buy.qty = 1;
        newAttempt();
        renderPick();
        renderBuyHead();
        requote();
      });
      box.appendChild(chip);
    });
    var max = maxQty();
    $("qty").textContent = String(buy.qty);
    $("qty-minus").disabled = buy.qty <= 1;
    $("qty-plus").disabled = buy.qty >= max;
    $("coupon-row").hidden = !!buy.coupon;
    $("coupon-on").hidden = !buy.coupon;
    $("coupon-on-code").textContent = buy.coupon || "";
    renderShip();
    renderSum();
  }

  // A colour for a shade's swatch, stable per name: the name is all a variant says.
  function swatch(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 360;
    return "hsl(" + h + ", 62%, 52%)";
  }

  function maxQty() {
    var item = buyListing();
    if (!item) return 1;
    var v = null;
    (item.variants || []).forEach(function (x) { if (x.id === buy.variantId) v = x; });
    var left = v ? variantLeft(item, v) : 0;
    var deal = dealOn(item.id, buy.variantId);
    var cap = deal ? deal.per_buyer_limit : 10;
    return Math.max(1, Math.min(left, cap, 10));
  }

  $("qty-minus").addEventListener("click", function () { setQty(buy.qty - 1); });
  $("qty-plus").addEventListener("click", function () { setQty(buy.qty + 1); });
  function setQty(n) {
    n = Math.max(1, Math.min(maxQty(), n));
    if (n === buy.qty) return;
    buy.qty = n;
    newAttempt();
    renderPick();
    requote();
  }

  $("coupon-apply").addEventListener("click", applyCoupon);
  $("coupon-code").addEventListener("keydown", function (e) {
    if (e.key === "Enter") { e.preventDefault(); applyCoupon(); }
  });
  function applyCoupon() {
    var code = $("coupon-code").value.trim();
    if (!code) return;
    buy.coupon = code;
    newAttempt();
    renderPick();
    requote();
  }
  $("coupon-off").addEventListener("click", function () {
    buy.coupon = null;
    $("coupon-code").value = "";
    newAttempt();
    renderPick();
    requote();
  });

  function renderSum() {
    var q = buy.quote;
    $("sum-subtotal").textContent = q ? money(q.subtotal) : "…";
    var off = q && Number(q.discount.amount) > 0;
    $("sum-discount-row").hidden = !off;
    $("sum-discount").textContent = off ? "−" + money(q.discount) : "";
    $("sum-total").textContent = q ? money(q.total) : "…";
    var go = $("buy-go");
    var item = buyListing();
    var v = null;
    if (item) (item.variants || []).forEach(function (x) { if (x.id === buy.variantId) v = x; });
    var left = item && v ? variantLeft(item, v) : 0;
    if (buy.busy) return;
    go.disabled = !q || left <= 0;
    go.textContent = left <= 0 ? t("Sold out") : q ? t("Buy now · {total}", { total: money(q.total) }) : t("Buy now");
  }

  function requote() {
    var item = buyListing();
    if (!item || !signedIn || buy.variantId === null) return;
    var seq = ++buy.quoteSeq;
    buy.quote = null;
    renderSum();
    var body = { listing_id: item.id, variant_id: buy.variantId, quantity: buy.qty };
    if (buy.coupon) body.coupon_code = buy.coupon;
    return api("POST", "/shows/" + showId + "/quote", body).then(function (q) {
      if (seq !== buy.quoteSeq) return;
      buy.quote = q;
      renderBuyHead();
      renderSum();
    }).catch(function (err) {
      if (seq !== buy.quoteSeq) return;
      if (buy.coupon && /coupon/.test(err.code || "")) {
        alertBuy(couponProblem(err));
        buy.coupon = null;
        renderPick();
        return requote();
      }
      alertBuy(explainBuy(err));
    });
  }

  // Stock or a deal moved while the sheet is open: redraw it, and re-price if the price may have changed.
  var lastOnDeal = null;
  function refreshBuy() {
    if ($("buy").hidden || !buyListing()) return;
    renderBuyHead();
    if (buy.step === "pick") {
      renderPick();
      var deal = dealOn(buy.listingId, buy.variantId);
      var onDeal = !!(deal && dealStatus(deal) === "running");
      if (lastOnDeal !== null && onDeal !== lastOnDeal) requote();
      lastOnDeal = onDeal;
    }
  }

  function couponProblem(err) {
    var text = capital(err.message || "that coupon does not apply");
    return t("Coupon not applied: {reason}", { reason: text.charAt(0).toLowerCase() + text.slice(1) });
  }

  // -- the address, asked once ---------------------------------------------------------------

  function withAddress(then) {
    if (buy.address === undefined) {
      step("pick");
      api("GET", "/me/address").then(function (a) {
        buy.address = a;
        if (!a) return showAddressForm();
        renderShip();
        then();
      }).catch(function (err) { alertBuy(explainBuy(err)); });
      return;
    }
    if (!buy.address) return showAddressForm();
    then();
  }

  function showAddressForm() {
    var form = $("address-form");
    var a = buy.address || {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (input.name) input.value = a[input.name] || "";
    });
    step("address");
    focusLater(form, form.querySelector("input[name=name]"));
  }

  function renderShip() {
    var a = buy.address;
    $("ship").hidden = !a;
    if (!a) return;
    var parts = [a.line1, a.line2, a.city, a.postal_code, a.country].filter(Boolean);
    $("ship-line").textContent = a.name + " · " + parts.join(", ");
  }

  $("ship-change").addEventListener("click", showAddressForm);

  $("address-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target;
    var body = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (input.name) body[input.name] = input.value.trim();
    });
    body.country = (body.country || "").toUpperCase();
    var save = form.querySelector("button[type=submit]");
    save.disabled = true;
    alertBuy("");
    api("PUT", "/me/address", body).then(function (a) {
      buy.address = a;
      renderPick();
      step("pick");
      if (!buy.quote) requote();
    }).catch(function (err) {
      alertBuy(explainBuy(err));
    }).then(function () { save.disabled = false; });
  });

  // -- buying: hold the units, then pay -----------------------------------------------------

  $("buy-go").addEventListener("click", function () {
    var item = buyListing();
    if (!item || buy.busy || !buy.quote) return;
    // The same key for a double tap or a retry after a lost connection: one order at most.
    if (!buy.key) buy.key = Hawker.uuid();
    var body = {
      listing_id: item.id, variant_id: buy.variantId, quantity: buy.qty,
      idempotency_key: buy.key, quote_fingerprint: buy.quote.fingerprint,
    };
    if (buy.coupon) body.coupon_code = buy.coupon;
    busy(true, t("Holding it for you…"));
    alertBuy("");
    api("POST", "/shows/" + showId + "/orders", body).then(function (order) {
      buy.order = order;
      busy(false);
      if (order.status !== "pending") return orderUpdated(order);
      startPay();
    }).catch(function (err) {
      busy(false);
      buyFailed(err);
    });
  });

  function busy(on, text) {
    buy.busy = on;
    var go = $("buy-go");
    go.disabled = on;
    go.classList.toggle("working", on);
    if (on) go.textContent = text;
    else renderSum();
  }

  function lostConnection(err) {
    return !err.status || err.status >= 500;
  }

  function buyFailed(err) {
    if (lostConnection(err)) {
      // Keep the key: trying again returns the order if the first request made one.
      alertBuy(t("The connection dropped. Tap Buy again: you will not get two orders."));
      return;
    }
    newAttempt();
    var info = err.info || {};
    switch (err.code) {
      case "address_required":
        buy.address = null;
        showAddressForm();
        alertBuy(t("Add where to send it first."));
        return;
      case "price_changed":
        if (info.quote) {
          buy.quote = info.quote;
          renderBuyHead();
          renderSum();
          alertBuy(t("The price changed: it is now {total}. Tap Buy to confirm at the new price.", { total: money(info.quote.total) }));
        } else {
          alertBuy(t("The price changed. Check it and tap Buy again."));
          requote();
        }
        return;
      case "not_signed_in":
      case "http_401":
        step("signin");
        return;
    }
    if (/coupon/.test(err.code || "")) {
      alertBuy(couponProblem(err));
      buy.coupon = null;
      renderPick();
      requote();
      return;
    }
    alertBuy(explainBuy(err));
  }

  function explainBuy(err) {
    var info = err.info || {};
    switch (err.code) {
      case "sold_out":
        return typeof info.left === "number" && info.left > 0
          ? t("Only {n} left: choose fewer.", { n: info.left })
          : t("Sold out: every unit has gone. Keep watching for the next drop!");
      case "limit_reached":
        return info.limit
          ? t("You have reached the limit of {n} per buyer for this deal.", { n: info.limit })
          : t("You have reached the limit for this deal.");
      case "deal_not_running":
        return t("This deal is not running right now. It may not have started yet, or it just ended.");
      case "show_not_live":
        return t("Buying opens when the show is on air.");
      case "hold_expired":
        return t("The time to pay ran out and the item went back on sale. Try again.");
      case "variant_required":
        return t("Choose a shade or size first.");
      case "rate_limited":
        return t("Too many tries at once. Wait a moment and tap again.");
      default:
        return capital(err.message || t("That did not work. Try again."));
    }
  }

  function startPay() {
    var o = buy.order;
    $("pay-go").textContent = t("Pay {total}", { total: money(o.total) });
    alertBuy("");
    step("pay");
    tickHold();
    focusLater($("pay-form"), $("pay-form").querySelector("input[name=number]"));
  }

  // Once the sheet has slid in; never away from a field the buyer (or autofill) is already in.
  function focusLater(form, input) {
    if (!input || input.value) return;
    setTimeout(function () {
      if (form.contains(document.activeElement) || form.hidden) return;
      input.focus();
    }, 280);
  }

  function tickHold() {
    if (!buy.order || buy.order.status !== "pending" || buy.step !== "pay") return;
    var ms = Date.parse(buy.order.hold_expires_at) - serverNow();
    $("hold-clock").textContent = clock(ms);
    $("hold").classList.toggle("urgent", ms < 60000);
    if (ms <= 0) {
      $("hold").textContent = t("Time is up: the item goes back on sale.");
      pollOrder();
    }
  }

  // Card fields: keep the digits readable as people type them.
  var payForm = $("pay-form");
  payForm.elements.number.addEventListener("input", function (e) {
    var digits = e.target.value.replace(/\D/g, "").slice(0, 19);
    e.target.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
  });
  payForm.elements.expiry.addEventListener("input", function (e) {
    var digits = e.target.value.replace(/\D/g, "").slice(0, 4);
    e.target.value = digits.length > 2 ? digits.slice(0, 2) + "/" + digits.slice(2) : digits;
  });
  payForm.elements.cvc.addEventListener("input", function (e) {
    e.target.value = e.target.value.replace(/\D/g, "").slice(0, 4);
  });

  payForm.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!buy.order || buy.busy) return;
    var card = {
      number: payForm.elements.number.value.replace(/\s/g, ""),
      expiry: payForm.elements.expiry.value.trim(),
      cvc: payForm.elements.cvc.value.trim(),
    };
    if (!/^\d{12,19}$/.test(card.number)) return alertBuy(t("Check the card number."));
    if (!/^(0[1-9]|1[0-2])\/\d{2}$/.test(card.expiry)) return alertBuy(t("The expiry date is MM/YY, e.g. 12/34."));
    if (!/^\d{3,4}$/.test(card.cvc)) return alertBuy(t("The CVC is the 3 digits on the back of the card."));
    var order = buy.order;
    var go = $("pay-go");
    buy.busy = true;
    go.disabled = true;
    go.textContent = t("Paying…");
    alertBuy("");
    api("POST", "/orders/" + order.id + "/pay", { card: card }).then(function (out) {
      if (buy.order !== order || buy.step !== "pay") return;  // the answer came over the socket first
      if (out && out.status && out.status !== "pending") return orderUpdated(out);
      step("processing");
      startPolling();
    }).catch(function (err) {
      if (buy.order !== order) return;
      if (err.status === 402) {
        alertBuy(t("Your card was refused: {reason} Nothing was charged.", { reason: lower(err.message || t("check the number, expiry and CVC")) }));
      } else if (lostConnection(err)) {
        alertBuy(t("The connection dropped. Tap Pay again: you will not be charged twice."));
      } else if (err.code === "hold_expired" || err.code === "order_not_pending") {
        pollOrder();
        alertBuy(explainBuy(err));
      } else {
        alertBuy(explainBuy(err));
      }
    }).then(function () {
      buy.busy = false;
      go.disabled = false;
      if (buy.order) go.textContent = t("Pay {total}", { total: money(buy.order.total) });
    });
  });

  $("pay-cancel").addEventListener("click", function () {
    var order = buy.order;
    if (!order) return;
    api("POST", "/orders/" + order.id + "/cancel").then(orderUpdated).catch(function (err) {
      alertBuy(explainBuy(err));
    });
  });

  function lower(text) {
    text = capital(text);
    return text.charAt(0).toLowerCase() + text.slice(1);
  }

  // The socket brings the result; asking now and then covers a socket that is down.
  function startPolling() {
    stopPolling();
    buy.pollTimer = setInterval(pollOrder, 3000);
  }

  function stopPolling() {
    if (buy.pollTimer) clearInterval(buy.pollTimer);
    buy.pollTimer = null;
  }

  function pollOrder() {
    var order = buy.order;
    if (!order) return;
    api("GET", "/orders/" + order.id).then(function (o) {
      if (o.status !== "pending") orderUpdated(o);
    }).catch(function () { /* the next tick asks again */ });
  }

  function orderUpdated(o) {
    var mine = buy.order && buy.order.id === o.id;
    var title = "#" + o.number + " " + o.title;
    if (o.status === "pending") return;
    if (!mine) {
      if (o.status === "refunded") toast(t("Order #{id} ({title}) was refunded.", { id: o.id, title: title }), true, true);
      else if (o.status === "cancelled") toast(t("Order #{id} ({title}) was cancelled.", { id: o.id, title: title }), false, true);
      return;
    }
    if (buy.order.status !== "pending") return;  // already told
    buy.order = o;
    newAttempt();
    buy.busy = false;
    $("done-again").hidden = true;
    if (o.status === "paid" || o.status === "fulfilled") {
      if (buy.coupon && Number(o.discount.amount) > 0) {
        state.spent[buy.coupon.toUpperCase()] = true;
        buy.coupon = null;
      }
      doneIcon("i-check", "good");
      $("done-title").textContent = t("Paid! {title} is yours", { title: title });
      var city = o.shipping && o.shipping.city ? t(" It ships to {city}.", { city: o.shipping.city }) : "";
      $("done-text").textContent = t("Order #{id} · {total}.", { id: o.id, total: money(o.total) }) + city;
      step("done");
      alertBuy("");
      toast(t("Paid! {title} is yours", { title: title }), true, true);
      confetti();
    } else if (o.status === "cancelled" && o.decline_reason) {
      doneIcon("i-card", "bad");
      $("done-title").textContent = t("Your card was declined");
      $("done-text").textContent = declineText(o.decline_reason) + t(" The item went back on sale.");
      $("done-again").hidden = false;
      step("done");
      alertBuy("");
      toast(t("Card declined: {reason}.", { reason: lower(declineText(o.decline_reason)).replace(/\.$/, "") }), false);
    } else {
      doneIcon(o.status === "expired" ? "i-clock" : "i-x", "meh");
      $("done-title").textContent = o.status === "expired" ? t("Time ran out") : o.status === "refunded" ? t("Refunded") : t("Order cancelled");
      $("done-text").textContent = o.status === "refunded"
        ? t("Your money is on its way back.")
        : t("Nothing was charged. The item went back on sale.");
      $("done-again").hidden = false;
      step("done");
      alertBuy("");
    }
  }

  var SVG = "http://www.w3.org/2000/svg";
  function icon(id) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    var use = document.createElementNS(SVG, "use");
    use.setAttribute("href", "#" + id);
    svg.appendChild(use);
    return svg;
  }

  function doneIcon(id, mood) {
    var box = $("done-icon");
    box.className = "done-icon " + mood;
    box.replaceChildren(icon(id));
  }

  function declineText(reason) {
    var text = capital(reason);
    // "Your card has insufficient funds." reads as is; a bare code reads better spaced out.
    return /\s/.test(reason) ? text : capital(reason.replace(/_/g, " "));
  }


  // -- video: the live picture, how far behind it is, and commerce held until it is seen --------

  var video = $("player");
  var liveUrl = stage.dataset.liveUrl;
  var replayUrl = stage.dataset.replayUrl || null;
  var player = null;
  var mode = null;  // "live" | "replay" | null (nothing to play)
  var videoState = null;

  // Pins, price changes and deal starts carry the stream time (stream_at) at which the host
  // made them; a viewer whose picture lags by two seconds sees them two seconds later, when
  // the host is seen holding the item up. Held at most HOLD_MAX_MS, in case the picture
  // never gets there. Chat is never held, and neither is what only concerns this viewer.
  var HELD = { "shelf.pinned": true, "shelf.updated": true, "deal.updated": true };
  var NEVER_HELD = {
    "chat.message": true, "likes.burst": true, "sales.ticker": true, "order.updated": true,
    "ack": true, "error": true, "pong": true,
  };
  var HOLD_MAX_MS = 10000;
  var holding = [];   // state events in seq order, the first one waiting for the picture
  var released = [];  // the last few held events and why they went out (read by tests)
  var holdTimer = null;

  function startPlayer(kind) {
    if (player) player.destroy();
    mode = kind;
    stage.classList.toggle("is-replay", kind === "replay");
    video.hidden = false;
    video.controls = false;
    player = new HawkerPlayer(video, {
      live: kind === "live",
      now: serverNow,
      onState: videoStateChanged,
    });
    player.load(kind === "live" ? liveUrl : replayUrl);
    window.hawkerVideo.player = player;
    $("unmute").hidden = !video.muted;
  }

  function stopPlayer() {
    if (player) player.destroy();
    player = null;
    mode = null;
    video.hidden = true;
    $("latency").hidden = true;
    $("unmute").hidden = true;
  }

  function idle(big, small, action) {
    var box = $("video-idle");
    box.replaceChildren();
    if (big) box.appendChild(el("span", { class: "big", text: big }));
    if (small) box.appendChild(el("span", { class: "small", text: small }));
    if (action) box.appendChild(action);
  }

  function videoStateChanged(s) {
    videoState = s;
    stage.dataset.video = s;
    if (mode === "replay") {
      idle(s === "waiting" || s === "error" ? t("The replay is not ready yet") : null);
      return;
    }
    if (s === "playing") idle(null);
    else if (s === "waiting") idle(t("Starting soon"), t("The host is getting the camera ready."));
    else if (s === "reconnecting") idle(t("Reconnecting…"), t("The host's video dropped; it carries on when they are back."));
    else if (s === "buffering") idle(null, t("Loading…"));
    else if (s === "ended") showEnded();
    else if (s === "error") idle(t("This browser cannot play the video"), t("Try another browser; the shelf and chat still work."));
    if (s !== "playing") $("latency").hidden = true;
  }

  function showEnded() {
    if (mode === "live" && player) player.destroy();
    if (mode === "live") { player = null; mode = null; }
    $("latency").hidden = true;
    if (replayUrl) {
      idle(t("This show has ended"), null, el("button", {
        type: "button", class: "button primary", "data-testid": "watch-replay",
        text: t("Watch the replay"), onclick: function () { enterReplay(); },
      }));
    } else {
      idle(t("This show has ended"));
      video.hidden = true;
    }
  }

  // What the video should be doing for the show's status (called on every status change).
  function syncVideo() {
    if (state.status === "live") {
      if (mode !== "live") startPlayer("live");
    } else if (state.status === "ended") {
      if (mode === "replay") return;
      if (replayUrl && mode === null && !stage.dataset.watchedLive) return enterReplay();
      if (mode === "live") {
        // The live playlist ends a moment after the show: let the last seconds play out, then
        // offer the replay (which exists once something was streamed).
        findReplay(function () { if (videoState !== "playing") showEnded(); });
        return;
      }
      findReplay(showEnded);
    } else {
      stopPlayer();
    }
  }

  function findReplay(then) {
    if (replayUrl) return then();
    var url = "/hls/" + showId + "/replay.m3u8";
    fetch(url, { cache: "no-store" }).then(function (r) {
      if (r.ok) replayUrl = url;
      then();
    }).catch(then);
  }

  $("unmute").addEventListener("click", function () {
    video.muted = false;
    if (video.paused && player) player.play();
    $("unmute").hidden = true;
  });
  video.addEventListener("volumechange", function () { $("unmute").hidden = !video.muted || !mode; });

  $("latency").addEventListener("click", function () { if (player) player.jumpToLive(); });

  function tickLatency() {
    var node = $("latency");
    if (mode !== "live" || !player || videoState !== "playing") {
      node.hidden = true;
      return;
    }
    var behind = player.behind();
    if (behind === null) {
      node.hidden = true;
      return;
    }
    node.hidden = false;
    node.dataset.seconds = behind.toFixed(2);
    node.textContent = t("{n} s behind live", { n: behind < 10 ? behind.toFixed(1) : Math.round(behind) });
    node.classList.toggle("far", behind > 4);
  }
  setInterval(tickLatency, 500);

  // -- holding commerce until the picture reaches it --

  function onRoomEvent(event) {
    var type = event.type;
    if (NEVER_HELD[type]) return applyEvent(event);
    var d = event.data || {};
    var at = HELD[type] && typeof d.stream_at === "string" ? Date.parse(d.stream_at) : NaN;
    if (!holding.length && isNaN(at)) return applyEvent(event);
    // Once one event waits, every state event after it waits too: applied out of order, an
    // unpin could land before the pin it undoes.
    holding.push({ event: event, at: Date.now(), streamAt: isNaN(at) ? null : at });
    releaseHeld();
  }

  function holdReason(h) {
    if (h.streamAt === null) return "untimed";
    if (mode !== "live" || !player || !player.isPlaying()) return "not_playing";
    var shown = player.programTime();
    if (shown !== null && shown >= h.streamAt) return "picture";
    if (Date.now() - h.at >= HOLD_MAX_MS) return "bound";
    return null;
  }

  function releaseHeld() {
    clearTimeout(holdTimer);
    while (holding.length) {
      var h = holding[0];
      var why = holdReason(h);
      if (!why) break;
      holding.shift();
      if (h.streamAt !== null) {
        released.push({ type: h.event.type, seq: h.event.seq, reason: why, held_ms: Date.now() - h.at,
                        stream_at: h.streamAt, shown: player ? player.programTime() : null });
        if (released.length > 20) released.shift();
      }
      applyEvent(h.event);
    }
    if (holding.length) holdTimer = setTimeout(releaseHeld, 100);
  }

  // -- the replay: chapters, its own controls, the chat as it went by --

  var chapters = [];
  var replayChat = { on: false, messages: null, shown: 0, loading: false };

  function enterReplay() {
    if (!replayUrl) return;
    holding = [];
    state.deals = {};  // flash deals do not run on replays: everything sells at its listing price
    if (battle) battle.apply(null);  // nor do battles
    startPlayer("replay");
    $("replay").hidden = false;
    $("replay-chat-toggle").hidden = false;
    if (chatForm) chatForm.hidden = true;
    var signin = document.querySelector(".signin-to-chat");
    if (signin) signin.hidden = true;
    $("like").hidden = true;
    $("status-badge").className = "badge replay";
    $("status-badge").textContent = t("Replay");
    setReplayChat(false);
    salesChanged();
    loadChapters();
    if (linkedSecond > 0) seekWhenReady(linkedSecond);
    linkedSecond = 0;
  }

  // A link to a moment of the replay (/shows/7?t=95, as the show's report gives) starts there.
  var linkedSecond = Number(new URLSearchParams(location.search).get("t")) || 0;

  function seekWhenReady(seconds) {
    if (video.readyState >= 1) return seekReplay(seconds);
    video.addEventListener("loadedmetadata", function () { seekReplay(seconds); }, { once: true });
  }

  function loadChapters() {
    api("GET", "/shows/" + showId + "/chapters").then(function (list) {
      chapters = (list || []).filter(function (c) { return typeof c.replay_offset_s === "number"; });
      renderChapters();
      replayPosition();
    }).catch(function () { /* the replay plays without chapters */ });
  }

  function renderChapters() {
    var box = $("chapters");
    box.replaceChildren();
    chapters.forEach(function (c, i) {
      var chip = el("button", {
        type: "button", class: "chapter", "data-testid": "chapter", "data-number": c.number,
        "data-offset": c.replay_offset_s,
        onclick: function () { seekReplay(c.replay_offset_s); },
      },
        el("b", { text: "#" + c.number }),
        el("span", { class: "chapter-title", text: c.title }),
        el("span", { class: "chapter-time", text: "— " + clock(c.replay_offset_s * 1000) }));
      chip.dataset.index = String(i);
      box.appendChild(el("li", null, chip));
    });
    $("chapters").hidden = !chapters.length;
  }

  function seekReplay(seconds) {
    if (mode !== "replay") return;
    video.currentTime = Math.max(0, seconds);
    if (video.paused && player) player.play();
    replayPosition();
  }

  // The chapter playing now: its item is the pinned card, as it was for viewers live.
  function currentChapter() {
    var at = video.currentTime;
    var found = null;
    chapters.forEach(function (c) { if (c.replay_offset_s <= at + 0.05) found = c; });
    return found;
  }

  function replayPosition() {
    if (mode !== "replay") return;
    var at = video.currentTime || 0;
    var total = isFinite(video.duration) ? video.duration : 0;
    var seek = $("scrub");
    seek.max = String(total);
    if (!seek.dragging) seek.value = String(at);
    $("scrub-time").textContent = clock(at * 1000) + " / " + clock(total * 1000);
    $("scrub-play").textContent = video.paused ? "▶" : "❚❚";
    $("scrub-play").setAttribute("aria-label", video.paused ? t("Play") : t("Pause"));
    var c = currentChapter();
    var pinned = c && listingById(c.listing_id) ? c.listing_id : null;
    $("chapters").querySelectorAll(".chapter").forEach(function (chip) {
      chip.classList.toggle("on", !!c && chip.dataset.index === String(chapters.indexOf(c)));
    });
    if (pinned !== state.pinnedId) {
      state.pinnedId = pinned;
      renderShelf();
      renderPinned();
    }
    if (replayChat.on) showReplayChat();
  }

  video.addEventListener("timeupdate", function () {
    if (mode === "replay") replayPosition();
    else if (holding.length) releaseHeld();
  });
  video.addEventListener("seeked", function () { if (mode === "replay") replayPosition(); });
  video.addEventListener("play", replayPosition);
  video.addEventListener("pause", replayPosition);
  video.addEventListener("durationchange", replayPosition);

  $("scrub-play").addEventListener("click", function () {
    if (video.paused) { if (player) player.play(); } else video.pause();
  });
  $("scrub").addEventListener("input", function (e) { e.target.dragging = true; });
  $("scrub").addEventListener("change", function (e) {
    e.target.dragging = false;
    seekReplay(Number(e.target.value));
  });

  function setReplayChat(on) {
    replayChat.on = on;
    var toggle = $("replay-chat-toggle");
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.classList.toggle("on", on);
    chatBox.querySelectorAll(".msg").forEach(function (n) { n.remove(); });
    replayChat.shown = 0;
    chatBox.hidden = !on;
    if (on && replayChat.messages === null) loadReplayChat(0, []);
    else if (on) showReplayChat();
  }

  function loadReplayChat(after, got) {
    if (replayChat.loading) return;
    replayChat.loading = true;
    fetch("/shows/" + showId + "/replay-chat?after_id=" + after, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("replay chat " + r.status); return r.json(); })
      .then(function (page) {
        replayChat.loading = false;
        got = got.concat(page.messages.filter(function (m) { return typeof m.replay_offset_s === "number"; }));
        // A long show's chat comes in pages; what has arrived is shown meanwhile.
        replayChat.messages = got.slice().sort(function (a, b) { return a.replay_offset_s - b.replay_offset_s; });
        if (replayChat.on) showReplayChat(true);
        if (page.next_after_id && got.length < 20000) loadReplayChat(page.next_after_id, got);
      })
      .catch(function () { replayChat.loading = false; });
  }

  // Messages up to the picture's second; redrawn after a seek back, appended going forward.
  function showReplayChat(redraw) {
    var list = replayChat.messages;
    if (!list) return;
    var at = video.currentTime || 0;
    var upto = 0;
    while (upto < list.length && list[upto].replay_offset_s <= at) upto++;
    if (redraw || upto < replayChat.shown) {
      chatBox.querySelectorAll(".msg").forEach(function (n) { n.remove(); });
      replayChat.shown = Math.max(0, upto - MAX_MESSAGES);
    }
    if (upto > replayChat.shown) {
      addMessages(list.slice(Math.max(replayChat.shown, upto - MAX_MESSAGES), upto), true);
      replayChat.shown = upto;
    }
  }

  $("replay-chat-toggle").addEventListener("click", function () { setReplayChat(!replayChat.on); });

  window.hawkerVideo = { player: null, released: released, holding: function () { return holding.length; } };


  // -- show state ----------------------------------------------------------------------

  function setStatus(status) {
    if (state.status === "live" && status === "ended" && mode === "live") stage.dataset.watchedLive = "1";
    state.status = status;
    stage.dataset.status = status;
    if (mode !== "replay") {
      var badge = $("status-badge");
      badge.className = "badge " + status;
      badge.textContent = STATUS_WORDS[status] || status;
    }
    if (status === "ended" && !replayUrl && mode === null) idle(t("This show has ended"));
    syncVideo();
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
    setClock(snap.server_time);
    holding = [];  // the snapshot is the state now: nothing older is still to be shown
    state.deals = {};
    if (mode !== "replay") (snap.deals || []).forEach(function (d) { state.deals[d.id] = d; });
    state.coupons = {};
    (snap.coupons || []).forEach(function (c) { state.coupons[c.id] = c; });
    renderShelf();
    renderPinned();
    renderDeal();
    renderCoupons();
    if (battle) battle.apply(mode === "replay" ? null : snap.battle);
    refreshBuy();
    if (mode === "replay") {
      setReplayChat(replayChat.on);  // the replay shows the chat as it went by, or none
      replayPosition();
    } else {
      chatBox.querySelectorAll(".msg").forEach(function (n) { n.remove(); });
      addMessages(snap.chat || [], true);
    }
    setPlaceholder();
    if (snap.you && snap.you.muted_until && new Date(snap.you.muted_until) > new Date()) {
      showChatError(mutedText(snap.you.muted_until), true);
    }
  }

  function setPlaceholder() {
    if (!chatInput) return;
    chatInput.placeholder = state.slowMode
      ? t("Slow mode: one message every {time}", { time: seconds(state.slowMode) })
      : t("Say something… ask for “#3”");
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
        if (d.status === "ended") systemMessage(t("The host has ended the show. Thanks for watching!"));
        break;
      case "shelf.updated":
        state.shelf = d.shelf || [];
        renderShelf();
        renderPinned();
        refreshBuy();
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
            asked.textContent = t("{n} asked", { n: d.count });
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
        systemMessage(state.slowMode ? t("Slow mode is on: one message every {time}.", { time: seconds(state.slowMode) }) : t("Slow mode is off."));
        break;
      case "user.sanctioned":
        if (myId !== null && d.user_id === myId) {
          if (d.banned) {
            notice("⛔", t("You are banned"), t("The hosts of this show have banned you. You can't watch or chat here."));
          } else if (d.muted_until && new Date(d.muted_until) > new Date()) {
            if (state.you) state.you.muted_until = d.muted_until;
            showChatError(mutedText(d.muted_until), true);
          } else {
            if (state.you) state.you.muted_until = null;
            chatError.hidden = true;
          }
        }
        break;
      case "ack":
        if (d.ref in pendingSends) delete pendingSends[d.ref];
        break;
      case "deal.updated":
        if (d.deal && mode !== "replay") {
          if (d.deal.server_time) setClock(Date.parse(d.deal.server_time));
          state.deals[d.deal.id] = d.deal;
          salesChanged();
        }
        break;
      case "stock.left":
        stockLeft(d);
        break;
      case "battle.updated":
      case "battle.score":
        if (battle && mode !== "replay") battle.apply(d.battle);
        break;
      case "coupon.dropped":
        if (d.coupon) {
          state.coupons[d.coupon.id] = d.coupon;
          renderCoupons();
        }
        break;
      case "sales.ticker":
        ticker(d.text);
        break;
      case "order.updated":
        if (d.order && (myId === null || d.buyer_id === myId)) orderUpdated(d.order);
        break;
    }
  }

  function onError(err) {
    if (err.code === "banned" && !err.ref) {
      notice("⛔", t("You are banned"), err.message || t("You can't watch or chat in this show."));
      return;
    }
    if (err.code === "not_found" || err.code === "show_not_found") {
      notice("🔍", t("No such show"), err.message || t("This show does not exist."));
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
    onEvent: onRoomEvent,
    onError: onError,
    onStatus: function (s) { $("conn").textContent = STATUS_TEXT[s] || ""; },
  });
  room.connect();
  window.hawkerRoom = room;
  syncVideo();  // the picture starts without waiting for the socket

  document.querySelectorAll("time[data-local]").forEach(function (node) {
    var d = new Date(node.getAttribute("datetime"));
    if (!isNaN(d)) node.textContent = d.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  });
})();
